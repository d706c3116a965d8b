package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/radius/radiustest"
)

// freeradiusSchema is FreeRADIUS's own PostgreSQL schema, from the Debian package
// freeradius-postgresql (scripts/install-deps.sh installs it).
const freeradiusSchema = "/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql"

// freeradiusRows fill the stock schema as an operator's FreeRADIUS would hold them: a
// PPPoE group and a hotspot group, users with clear-text and hashed passwords, per-user
// replies, a user in two groups, a router with a short secret, one with a host name,
// and accounting.
var freeradiusRows = []string{
	`INSERT INTO radgroupcheck (groupname, attribute, op, value) VALUES
		('home 10M', 'Simultaneous-Use', ':=', '1'),
		('hotspot-1h', 'Service-Type', '==', 'Login-User'),
		('hotspot-1h', 'Simultaneous-Use', ':=', '2')`,
	`INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES
		('home 10M', 'Mikrotik-Rate-Limit', ':=', '10M/10M'),
		('home 10M', 'Acct-Interim-Interval', ':=', '300'),
		('home 10M', 'Framed-Pool', ':=', 'pppoe-pool'),
		('home 10M', 'Mikrotik-Address-List', ':=', 'customers'),
		('home 10M', 'Session-Timeout', ':=', '86400'),
		('hotspot-1h', 'Mikrotik-Rate-Limit', ':=', '2M/2M'),
		('hotspot-1h', 'Session-Timeout', ':=', '3600'),
		('hotspot-1h', 'Idle-Timeout', ':=', '300')`,
	`INSERT INTO radcheck (username, attribute, op, value) VALUES
		('alice', 'Cleartext-Password', ':=', 'alice-pw-1'),
		('bob', 'Cleartext-Password', ':=', 'bob-pw-2'),
		('bob', 'Expiration', ':=', 'Jan 01 2099 00:00:00'),
		('dan', 'Cleartext-Password', ':=', 'dan-pw-3'),
		('dan', 'Expiration', ':=', 'Jan 01 2020 00:00:00'),
		('carol', 'MD5-Password', ':=', '5f4dcc3b5aa765d61d8327deb882cf99'),
		('guest7', 'Cleartext-Password', ':=', 'guest7-pw'),
		('mallory', 'Cleartext-Password', ':=', 'mallory-pw'),
		('mallory', 'Auth-Type', ':=', 'Reject')`,
	`INSERT INTO radreply (username, attribute, op, value) VALUES
		('bob', 'Framed-IP-Address', ':=', '10.20.0.5'),
		('alice', 'Mikrotik-Rate-Limit', ':=', '20M/20M')`,
	`INSERT INTO radusergroup (username, groupname, priority) VALUES
		('alice', 'home 10M', 1), ('alice', 'hotspot-1h', 2), ('bob', 'home 10M', 1),
		('carol', 'home 10M', 1), ('dan', 'home 10M', 1), ('guest7', 'hotspot-1h', 1), ('mallory', 'home 10M', 1)`,
	`INSERT INTO nas (nasname, shortname, type, secret) VALUES
		('127.0.0.1', 'core', 'other', 'testing123'),
		('router.example.net', 'branch', 'other', 'a-long-branch-secret')`,
	`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
			acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause, framedipaddress, callingstationid)
		VALUES ('81000001', 'u1', 'alice', '127.0.0.1', now() - interval '2 days', now() - interval '1 day',
			now() - interval '1 day', 86400, 1000000, 5000000, 'User-Request', '10.20.0.9', 'AA:BB:CC:00:00:01'),
		('81000002', 'u2', 'bob', '127.0.0.1', now() - interval '1 hour', now() - interval '5 minutes', NULL, 3300, 10, 20, NULL, NULL, NULL),
		('81000003', 'u3', 'bob', '192.0.2.99', now() - interval '1 hour', NULL, NULL, 0, 0, 0, NULL, NULL, NULL)`,
}

// mustFreeRADIUS makes a database with FreeRADIUS's own schema and freeradiusRows.
func mustFreeRADIUS(t *testing.T) string {
	t.Helper()
	schema, err := os.ReadFile(freeradiusSchema)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("FreeRADIUS schema missing (scripts/install-deps.sh installs freeradius-postgresql): %v", err)
		}
		t.Skipf("FreeRADIUS schema missing (apt-get install freeradius-postgresql): %v", err)
	}
	u := radiustest.MustEmptyDBURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, string(schema)); err != nil {
		t.Fatalf("load %s: %v", freeradiusSchema, err)
	}
	for _, q := range freeradiusRows {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return u
}

// TestImportFreeRADIUS: FreeRADIUS's own schema filled as an operator's would be; the
// dry run reports what it would make and what it cannot map and changes nothing; the
// import makes it all, and the users log in with radclient, PAP and CHAP, with the
// replies they had.
func TestImportFreeRADIUS(t *testing.T) {
	src := mustFreeRADIUS(t)
	s := MustStack(t, true)

	out := s.MustRun("import", "freeradius", "--from-database-url", src, "--dry-run", "--with-accounting", "--json")
	var rep importReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var users []string
	for _, u := range rep.Subscribers {
		users = append(users, u.Username+"@"+u.Plan)
	}
	if !rep.DryRun || len(rep.Plans) != 2 || strings.Join(users, " ") != "alice@home 10M bob@home 10M dan@home 10M guest7@hotspot-1h mallory@home 10M" ||
		len(rep.NAS) != 1 || !rep.NAS[0].WeakSecret || rep.Sessions != 2 || rep.Skipped != 1 {
		t.Fatalf("dry run: %s", out)
	}
	// Per-user check and reply items kept: bob's Expiration and static address.
	for _, u := range rep.Subscribers {
		if u.Username == "bob" && (u.ValidUntil == nil || !u.ValidUntil.Equal(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) || u.StaticIP != "10.20.0.5") {
			t.Fatalf("bob in the dry run: %+v", u)
		}
	}
	plans := map[string]planJSON{}
	for _, p := range rep.Plans {
		plans[p.Name] = p
	}
	if p := plans["home 10M"]; p.Kind != "pppoe" || p.RateLimit != "10M/10M" || p.SharedUsers != 1 || p.InterimSeconds != 300 ||
		p.Pool != "pppoe-pool" || p.AddressList != "customers" || p.UptimeLimitSeconds != 0 {
		t.Fatalf("home plan %+v", p)
	}
	if p := plans["hotspot-1h"]; p.Kind != "hotspot" || p.RateLimit != "2M/2M" || p.SharedUsers != 2 || p.UptimeLimitSeconds != 3600 {
		t.Fatalf("hotspot plan %+v", p)
	}
	problems := strings.Join(rep.Problems, "\n")
	for _, want := range []string{
		`user "carol": skipped: only a hashed password (MD5-Password)`,
		`user "alice": reply item Mikrotik-Rate-Limit "20M/20M" not imported`,
		`user "alice": also in group "hotspot-1h" (priority 2)`,
		`user "mallory": Auth-Type := Reject: imported disabled`,
		`group "home 10M": Session-Timeout 86400 not imported`,
		`group "hotspot-1h": reply item Idle-Timeout "300" not imported`,
		`nas "router.example.net": skipped`,
		`nas "core": WARNING: its secret has 10 characters`,
		"radacct: 1 sessions left out",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("the dry run does not report %q:\n%s", want, problems)
		}
	}
	if strings.Contains(out, "alice-pw-1") || strings.Contains(out, "testing123") {
		t.Fatal("the report shows a password or a secret")
	}
	if got := s.MustRun("plan", "list", "--json"); strings.TrimSpace(got) != "[]" {
		t.Fatalf("the dry run changed something: plans %s", got)
	}
	text := s.MustRun("import", "freeradius", "--from-database-url", src, "--dry-run")
	if !strings.Contains(text, "would import (dry run: nothing was changed) 2 plans, 5 subscribers, 1 routers, 0 sessions") || !strings.Contains(text, "not imported (") {
		t.Fatalf("text dry run: %s", text)
	}

	// All or nothing: a router of tollgate's already at core's address fails the import
	// after its plans and users were written in its transaction; none of them stays.
	s.MustRun("nas", "add", "--name", "other", "--address", "127.0.0.1", "--secret", "other-secret-123")
	if code, _, errs := s.run("import", "freeradius", "--from-database-url", src, "--with-accounting"); code != 1 || !strings.Contains(errs, `nas "core": `) {
		t.Fatalf("import with core's address taken: exit %d: %s", code, errs)
	}
	if got := s.MustRun("plan", "list", "--json"); strings.TrimSpace(got) != "[]" {
		t.Fatalf("a failed import left plans: %s", got)
	}
	if code, _, _ := s.run("subscriber", "set", "--username", "alice", "--status", "active"); code != 1 {
		t.Fatal("a failed import left alice")
	}
	s.MustRun("nas", "set", "--name", "other", "--address", "127.0.0.3")

	// The import, then the users log in as they did against FreeRADIUS.
	s.MustRun("import", "freeradius", "--from-database-url", src, "--with-accounting")
	s.serve()
	const secret = "testing123"
	var reply string
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ok bool
		if reply, ok = s.radclient(secret, "User-Name=alice,User-Password=alice-pw-1,Service-Type=Framed-User,Framed-Protocol=PPP,Message-Authenticator=0x00"); ok || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{"Received Access-Accept", `Mikrotik-Rate-Limit = "10M/10M"`, "Acct-Interim-Interval = 300", `Framed-Pool = "pppoe-pool"`, `Mikrotik-Address-List = "customers"`} {
		if !strings.Contains(reply, want) {
			t.Fatalf("alice PAP lacks %q:\n%s", want, reply)
		}
	}
	for _, tc := range []struct{ name, attrs, want string }{
		{"alice chap", "User-Name=alice,CHAP-Password=alice-pw-1,Message-Authenticator=0x00", "Received Access-Accept"},
		{"alice wrong", "User-Name=alice,User-Password=nope,Message-Authenticator=0x00", "Received Access-Reject"},
		{"bob pap static ip", "User-Name=bob,User-Password=bob-pw-2,Message-Authenticator=0x00", "Framed-IP-Address = 10.20.0.5"},
		{"bob chap", "User-Name=bob,CHAP-Password=bob-pw-2,Message-Authenticator=0x00", "Received Access-Accept"},
		{"hotspot guest", "User-Name=guest7,User-Password=guest7-pw,Message-Authenticator=0x00", `Mikrotik-Rate-Limit = "2M/2M"`},
		{"carol not imported", "User-Name=carol,User-Password=password,Message-Authenticator=0x00", "Received Access-Reject"},
		{"dan expired", "User-Name=dan,User-Password=dan-pw-3,Message-Authenticator=0x00", `Reply-Message = "Account expired"`},
		{"mallory disabled", "User-Name=mallory,User-Password=mallory-pw,Message-Authenticator=0x00", "Received Access-Reject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := s.radclient(secret, tc.attrs)
			if !strings.Contains(out, tc.want) {
				t.Fatalf("want %q:\n%s", tc.want, out)
			}
		})
	}
	list := s.MustRun("session", "list", "--user", "alice", "--json")
	var sessions []sessionJSON
	if err := json.Unmarshal([]byte(list), &sessions); err != nil || len(sessions) < 1 || sessions[len(sessions)-1].InputOctets != 1000000 {
		t.Fatalf("alice's imported session: %s", list)
	}
	bobs := s.MustRun("session", "list", "--user", "bob", "--json")
	if err := json.Unmarshal([]byte(bobs), &sessions); err != nil || len(sessions) == 0 || sessions[len(sessions)-1].Online || sessions[len(sessions)-1].TerminateCause != "Imported" {
		t.Fatalf("bob's open FreeRADIUS session is not closed: %s", bobs)
	}
	// All or nothing: a second import finds the plans taken and changes nothing.
	code, _, errs := s.run("import", "freeradius", "--from-database-url", src)
	if code != 1 || !strings.Contains(errs, `plan "home 10M": name: a plan named "home 10M" exists`) {
		t.Fatalf("second import: exit %d: %s", code, errs)
	}
}
