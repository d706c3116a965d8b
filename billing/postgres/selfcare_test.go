package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// TestPolicyStore: versions are numbered in order; a material one announces itself in
// the same statement to every subscriber who consented to email and has an address,
// a minor one to nobody; acceptances keep the first record and the newest version.
func TestPolicyStore(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	e.mustPlan(t, "Home", 0)
	var ids []int64
	for _, u := range []struct {
		name, email string
		notify      bool
	}{{"amy", "amy@example.net", true}, {"ben", "ben@example.net", false}, {"cat", "", true}} {
		s, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: u.name, Password: "pw", Plan: "Home"})
		if err != nil {
			t.Fatal(err)
		}
		var email any
		if u.email != "" {
			email = u.email
		}
		if _, err := e.pool.Exec(ctx, `UPDATE subscribers SET email = $2, notify_email = $3 WHERE id = $1`, s.ID, email, u.notify); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	pol := &billing.Policies{Store: e.store, Now: func() time.Time { return e.now }, Loc: time.UTC}
	minor, err := pol.Publish(ctx, "v1", "2026-03-01", true, "https://wifi.example.com/privacy")
	if err != nil || minor.Version != 1 || minor.Announced != 0 {
		t.Fatalf("minor = %+v, %v", minor, err)
	}
	material, err := pol.Publish(ctx, "v2", "2026-03-31", false, "https://wifi.example.com/privacy")
	if err != nil || material.Version != 2 || material.Announced != 1 {
		t.Fatalf("material = %+v, %v", material, err)
	}
	evs, err := e.store.FindEvents(ctx, ids[0], 10)
	if err != nil || len(evs) != 1 || evs[0].Kind != billing.EventPolicyPublished || evs[0].Data["version"] != "2" ||
		evs[0].Data["effective"] != "2026-03-31" || evs[0].Data["link"] != "https://wifi.example.com/privacy" {
		t.Fatalf("amy's events %+v, %v", evs, err)
	}
	for _, id := range ids[1:] {
		if evs, _ := e.store.FindEvents(ctx, id, 10); len(evs) != 0 {
			t.Fatalf("subscriber %d was announced to: %+v", id, evs)
		}
	}
	if _, err := pol.Publish(ctx, "v3", "2026-03-30", false, ""); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("29 days ahead = %v", err)
	}
	// The schema holds the floor too, whatever a caller sends.
	v := &billing.PolicyVersion{Body: "x", PublishedAt: e.now, EffectiveAt: e.now.AddDate(0, 0, 5)}
	if _, err := e.store.PublishPolicy(ctx, v, "", ""); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("store publish 5 days ahead = %v", err)
	}
	list, err := e.store.ListPolicies(ctx)
	if err != nil || len(list) != 2 || list[0].Body != "v1" || !list[0].Minor || list[1].Minor {
		t.Fatalf("ListPolicies = %+v, %v", list, err)
	}
	if err := e.store.AcceptPolicy(ctx, ids[0], 1, e.now, "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AcceptPolicy(ctx, ids[0], 1, e.now.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AcceptPolicy(ctx, ids[0], 9, e.now, ""); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("accept version 9 = %v", err)
	}
	var at time.Time
	var ip string
	if err := e.pool.QueryRow(ctx, `SELECT at, host(ip) FROM policy_acceptances WHERE subscriber_id = $1`, ids[0]).Scan(&at, &ip); err != nil || !at.Equal(e.now.Truncate(time.Microsecond)) || ip != "192.0.2.9" {
		t.Fatalf("acceptance %v %q %v; want the first one kept", at, ip, err)
	}
	if n, err := e.store.AcceptedPolicy(ctx, ids[0]); err != nil || n != 1 {
		t.Fatalf("AcceptedPolicy = %d, %v", n, err)
	}
	if n, err := e.store.AcceptedPolicy(ctx, ids[1]); err != nil || n != 0 {
		t.Fatalf("AcceptedPolicy of none = %d, %v", n, err)
	}
}

// TestRetention: a pass drops exactly the monthly partitions whose month ended before
// the cutoff (now's month, RetentionMonths back), of sessions, the auth log and the
// notification log alike; it keeps the default partitions and deletes their rows
// before the cutoff, and the CoA log's; a second pass finds nothing.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	for _, table := range []string{"auth_log", "sessions", "notification_log"} {
		for _, m := range []string{"2024-01", "2025-10", "2025-11", "2025-12", "2026-01"} {
			from, _ := time.Parse("2006-01", m)
			name := table + "_" + from.Format("200601")
			if _, err := e.pool.Exec(ctx, `CREATE TABLE `+name+` PARTITION OF `+table+` FOR VALUES FROM ('`+from.Format("2006-01-02")+`') TO ('`+from.AddDate(0, 1, 0).Format("2006-01-02")+`')`); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows := []string{"2024-01-10", "2025-11-30T23:59:00Z", "2025-12-01", "2026-01-20",
		"2023-05-05", "2025-06-01", "2026-06-15"} // the last three in the default partitions
	for i, d := range rows {
		at, err := time.Parse(time.RFC3339, d)
		if err != nil {
			at, _ = time.Parse("2006-01-02", d)
		}
		if _, err := e.pool.Exec(ctx, `INSERT INTO auth_log (at, username, method, reason) VALUES ($1, 'u', 'pap', 'ok')`, at); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pool.Exec(ctx, `INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update) VALUES (1, $1, $2, 'u', $2)`, "s"+string(rune('a'+i)), at); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pool.Exec(ctx, `INSERT INTO session_keys (nas_id, acct_session_id, started_at) VALUES (1, $1, $2)`, "s"+string(rune('a'+i)), at); err != nil {
			t.Fatal(err)
		}
	}
	// The CoA log is not partitioned: its rows before the cutoff are deleted.
	for i, at := range []string{"2025-11-30", "2025-12-01"} {
		if _, err := e.pool.Exec(ctx, `INSERT INTO coa_log (at, nas_id, acct_session_id, username, kind, result) VALUES ($1::date, 1, $2, 'u', 'disconnect', 'ack')`, at, "c"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	r := &billing.Retention{Store: e.store, Months: 12, Loc: time.UTC}
	rep, err := r.Run(ctx, time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var dropped []string
	for _, p := range rep.Dropped {
		dropped = append(dropped, p.Name)
	}
	slices.Sort(dropped)
	want := []string{"auth_log_202401", "auth_log_202510", "auth_log_202511", "notification_log_202401", "notification_log_202510", "notification_log_202511",
		"sessions_202401", "sessions_202510", "sessions_202511"}
	if !slices.Equal(dropped, want) || !rep.Cutoff.Equal(time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("dropped %v, cutoff %s; want %v", dropped, rep.Cutoff, want)
	}
	if rep.Deleted["auth_log"] != 2 || rep.Deleted["sessions"] != 2 || rep.Deleted["coa_log"] != 1 {
		t.Fatalf("deleted from the default partitions: %v; want 2 each, and November's CoA log row", rep.Deleted)
	}
	var coa string
	if err := e.pool.QueryRow(ctx, `SELECT string_agg(acct_session_id, ',') FROM coa_log`).Scan(&coa); err != nil || coa != "cb" {
		t.Fatalf("coa_log keeps %q, %v; want December's row", coa, err)
	}
	for _, table := range []string{"auth_log", "sessions"} {
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 3 {
			t.Fatalf("%s keeps %d rows, %v; want 3 (December, January, June)", table, n, err)
		}
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass($1)`, table+"_default").Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s_default is gone", table)
		}
	}
	var keys int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM session_keys`).Scan(&keys); err != nil || keys != 3 {
		t.Fatalf("session_keys keeps %d, %v; want 3", keys, err)
	}
	again, err := r.Run(ctx, time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	if err != nil || len(again.Dropped) != 0 || again.Deleted["auth_log"] != 0 {
		t.Fatalf("second pass %+v, %v", again, err)
	}
	if _, err := (&billing.Retention{Store: e.store}).Run(ctx, time.Now()); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("months 0 = %v", err)
	}
}

// TestPrivacyStore: consents and restriction change with one history row per change,
// none for a repeat, and ENOTFOUND for a subscriber that does not exist.
func TestPrivacyStore(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	e.mustPlan(t, "Home", 0)
	s, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "amy", Password: "pw", Plan: "Home"})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := e.store.FindProfile(ctx, s.ID)
	if err != nil || pr.Consents != (billing.Consents{RemindersEmail: true, RemindersSMS: true}) || pr.Restricted || pr.PlanName != "Home" {
		t.Fatalf("profile %+v, %v; marketing must start off", pr, err)
	}
	priv := &billing.Privacy{Store: e.store, Now: func() time.Time { return e.now }}
	for i, c := range []billing.Consents{{Marketing: true}, {Marketing: true}, {}} {
		changed, err := priv.SetConsents(ctx, s.ID, c, billing.SourceCLI)
		if err != nil || changed != (i != 1) {
			t.Fatalf("change %d: %v, %v", i, changed, err)
		}
	}
	if _, err := priv.SetConsents(ctx, s.ID, billing.Consents{}, billing.Source("phone")); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("unknown source = %v", err)
	}
	if _, err := priv.SetConsents(ctx, 999999, billing.Consents{}, billing.SourceCLI); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("unknown subscriber = %v", err)
	}
	hist, err := e.store.FindConsentHistory(ctx, s.ID)
	if err != nil || len(hist) != 2 || !hist[0].At.Equal(e.now.Truncate(time.Microsecond)) || hist[0].Source != billing.SourceCLI || !hist[0].Marketing || hist[1].Marketing {
		t.Fatalf("history %+v, %v", hist, err)
	}
	for i, r := range []bool{true, true, false} {
		changed, err := priv.SetRestricted(ctx, s.ID, r, billing.SourceAdmin)
		if err != nil || changed != (i != 1) {
			t.Fatalf("restriction %d: %v, %v", i, changed, err)
		}
	}
	rh, err := e.store.FindRestrictionHistory(ctx, s.ID)
	if err != nil || len(rh) != 2 || !rh[0].Restricted || rh[1].Restricted || rh[0].Source != billing.SourceAdmin {
		t.Fatalf("restriction history %+v, %v", rh, err)
	}
	if _, err := e.store.FindProfileByUsername(ctx, "nobody"); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("unknown username = %v", err)
	}
}
