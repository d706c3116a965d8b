package postgres

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestPseudonymiseLogs: FindUserTraces finds the MACs and sessions of a user in the
// sessions and the auth log; PseudonymiseLogs puts the pseudonym in the user's rows
// of the sessions, the auth log and the CoA log, blanks their MACs and those of any row
// with one of the MACs, closes the open session (so a late Stop changes nothing), and
// leaves another user's names alone.
func TestPseudonymiseLogs(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	core := MustCreateNAS(t, s, "core", "10.0.0.0/24")
	w := MustAcctWriter(t, pool, AcctWriterOptions{})
	other := asUser(with(start(3*time.Hour), core.ID, "b1"), "bob")
	other.MAC = "11:22:33:44:55:66"
	shared := asUser(with(start(4*time.Hour), core.ID, "b2"), "bob")
	MustRecord(t, w, with(start(0), core.ID, "a1"), with(stop(time.Hour, 10, 20, "User-Request"), core.ID, "a1"),
		with(start(2*time.Hour), core.ID, "a2"), other, shared) // bob's b2 comes from alice's device
	for _, q := range []string{
		`INSERT INTO auth_log (at, username, mac, method, reason) VALUES (now(), 'alice', 'AA:BB:CC:DD:EE:FF', 'pap', 'ok')`,
		`INSERT INTO auth_log (at, username, mac, method, reason) VALUES (now(), 'AA:BB:CC:DD:EE:FF', 'AA:BB:CC:DD:EE:FF', 'mac', 'unknown_user')`,
		`INSERT INTO auth_log (at, username, mac, method, reason) VALUES (now(), 'bob', '11:22:33:44:55:66', 'pap', 'ok')`,
		`INSERT INTO coa_log (nas_id, acct_session_id, username, kind, result, reason) VALUES ((SELECT id FROM nas), 'a2', 'alice', 'disconnect', 'ack', 'alice asked')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	macs, keys, err := s.FindUserTraces(ctx, "alice")
	if err != nil || !slices.Equal(macs, []string{"AA:BB:CC:DD:EE:FF"}) || len(keys) != 2 || keys[0].SessionID != "a1" || keys[1].SessionID != "a2" {
		t.Fatalf("traces %v %v, %v", macs, keys, err)
	}
	at := t0.Add(5 * time.Hour)
	if err := s.PseudonymiseLogs(ctx, "alice", "erased-abcdefghij", macs, []string{"alice", "AA:BB:CC:DD:EE:FF"}, at); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT acct_session_id, username, mac, stopped_at IS NOT NULL, terminate_cause FROM sessions ORDER BY acct_session_id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, user, mac, cause string
		var stopped bool
		if err := rows.Scan(&id, &user, &mac, &stopped, &cause); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+" "+user+" "+mac+" "+map[bool]string{true: "stopped", false: "open"}[stopped]+" "+cause)
	}
	want := []string{
		"a1 erased-abcdefghij  stopped User-Request",
		"a2 erased-abcdefghij  stopped " + CauseErased,
		"b1 bob 11:22:33:44:55:66 open ",
		"b2 bob  open ",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sessions\n%q\nwant\n%q", got, want)
	}
	var authlog, coa string
	if err := pool.QueryRow(ctx, `SELECT string_agg(username || '/' || mac, ' ' ORDER BY username) FROM auth_log`).Scan(&authlog); err != nil ||
		authlog != "bob/11:22:33:44:55:66 erased-abcdefghij/ erased-abcdefghij/" {
		t.Fatalf("auth log %q, %v", authlog, err)
	}
	if err := pool.QueryRow(ctx, `SELECT username || '/' || reason FROM coa_log`).Scan(&coa); err != nil || coa != "erased-abcdefghij/erased-abcdefghij asked" {
		t.Fatalf("coa log %q, %v", coa, err)
	}
	// A late Stop of the erased session finds it closed: the name does not come back.
	late := with(stop(6*time.Hour, 99, 99, "User-Request"), core.ID, "a2")
	MustRecord(t, w, late)
	var user string
	if err := pool.QueryRow(ctx, `SELECT username FROM sessions WHERE acct_session_id = 'a2'`).Scan(&user); err != nil || user != "erased-abcdefghij" {
		t.Fatalf("after a late Stop: %q, %v", user, err)
	}
}
