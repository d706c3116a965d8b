package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate/hotspot"
	"tollgate/radius"
	"tollgate/radius/radiustest"
)

// generate makes a batch through the CLI and returns it.
func (s *stack) generate(args ...string) batchJSON {
	s.t.Helper()
	var b batchJSON
	out := s.MustRun(append([]string{"voucher", "generate", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		s.t.Fatalf("voucher generate: %v\n%s", err, out)
	}
	return b
}

// show returns `voucher show CODE --json`.
func (s *stack) show(code string) statusJSON {
	s.t.Helper()
	var st statusJSON
	if err := json.Unmarshal([]byte(s.MustRun("voucher", "show", code, "--json")), &st); err != nil {
		s.t.Fatal(err)
	}
	return st
}

// hotspotLogin sends a hotspot Access-Request from mac on server hotspot1 with cred
// (e.g. "User-Password=X" or "CHAP-Password=X", or "" for none) and returns radclient's
// output.
func (s *stack) hotspotLogin(secret, user, cred, mac string) string {
	s.t.Helper()
	attrs := fmt.Sprintf("User-Name=%s,Service-Type=Login-User,NAS-Identifier=r1,Calling-Station-Id=%s,Called-Station-Id=hotspot1,Message-Authenticator=0x00", user, mac)
	if cred != "" {
		attrs += "," + cred
	}
	out, _ := s.radclient(secret, attrs)
	return out
}

func mustContain(tb testing.TB, out string, want ...string) {
	tb.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			tb.Fatalf("want %q in:\n%s", w, out)
		}
	}
}

var codeRE = regexp.MustCompile(`^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{8}$`)

func TestE2EVouchers(t *testing.T) {
	s := MustStack(t, true)
	t.Setenv("TOLLGATE_CRON_INTERVAL", "1s")
	secret := "voucher-secret"
	nas := radiustest.MustCoANAS(t, secret)
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret, "--coa-port", fmt.Sprint(nas.Port()))
	s.MustRun("plan", "add", "--name", "day", "--kind", "hotspot", "--rate-limit", "1M/2M", "--validity", "1d",
		"--uptime-limit", "1h", "--data-limit", "5G", "--shared-users", "1", "--price", "2.00", "--reseller-price", "1.50")
	s.MustRun("plan", "add", "--name", "locked", "--kind", "hotspot", "--validity", "10m", "--uptime-limit", "1h",
		"--shared-users", "0", "--lock-mac")
	s.MustRun("plan", "add", "--name", "short", "--kind", "hotspot", "--validity", "3s", "--shared-users", "1")
	s.MustRun("plan", "add", "--name", "tiny", "--kind", "hotspot", "--data-limit", "1M", "--shared-users", "1")
	s.MustRun("plan", "add", "--name", "lobby", "--kind", "hotspot", "--nas", "r1,r2", "--hotspot-server", "lobby")
	s.MustRun("plan", "add", "--name", "router2", "--kind", "hotspot", "--nas", "r2")
	s.MustRun("plan", "add", "--name", "sale", "--kind", "hotspot", "--validity", "7d", "--validity-from", "sale")
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe")
	var plans []planJSON
	if err := json.Unmarshal([]byte(s.MustRun("plan", "list", "--json")), &plans); err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		switch p.Name {
		case "day":
			if p.ResellerPriceCents != 150 || p.ValidityFrom != "first_login" || p.LockMAC || len(p.NAS) != 0 {
				t.Fatalf("plan day: %+v", p)
			}
		case "lobby":
			if strings.Join(p.NAS, ",") != "r1,r2" || strings.Join(p.HotspotServers, ",") != "lobby" {
				t.Fatalf("plan lobby: %+v", p)
			}
		case "locked":
			if !p.LockMAC {
				t.Fatalf("plan locked: %+v", p)
			}
		}
	}
	s.serve()

	day := s.generate("--plan", "day", "--count", "10", "--reseller", "kiosk-1")
	if day.ID == 0 || day.Plan != "day" || day.Count != 10 || len(day.Vouchers) != 10 || day.Reseller != "kiosk-1" || day.CreatedAt.IsZero() {
		t.Fatalf("batch: %+v", day)
	}
	for _, v := range day.Vouchers {
		if !codeRE.MatchString(v.Code) || v.Username != "" || v.Password != "" {
			t.Fatalf("code-mode voucher %+v", v)
		}
	}
	code := func(i int) string { return day.Vouchers[i].Code }

	t.Run("chap login activates once", func(t *testing.T) {
		if st := s.show(code(0)); st.State != "new" || st.ActivatedAt != nil || st.ValidUntil != nil {
			t.Fatalf("before login: %+v", st)
		}
		out := s.hotspotLogin(secret, code(0), "CHAP-Password="+code(0), "AA:BB:CC:00:00:01")
		// Session-Timeout: the uptime left (1h) is less than the validity (1d); data left
		// 5G = 5e9 bytes = 1 gigaword + 705032704.
		mustContain(t, out, "Received Access-Accept", "Session-Timeout = 3600", `Mikrotik-Rate-Limit = "1M/2M"`,
			"Mikrotik-Total-Limit = 705032704", "Mikrotik-Total-Limit-Gigawords = 1", "Class = 0x74673a63", // "tg:c": logs in by its code
			`User-Name = "voucher-`) // accounted under its account name, never the code
		st := s.show(code(0))
		if st.State != "active" || st.ActivatedAt == nil || st.ValidUntil == nil || st.ValidUntil.Sub(*st.ActivatedAt) != 24*time.Hour || st.MAC != "" {
			t.Fatalf("after login: %+v", st)
		}
		// A second login does not move the activation.
		mustContain(t, s.hotspotLogin(secret, code(0), "CHAP-Password="+code(0), "AA:BB:CC:00:00:01"), "Received Access-Accept")
		if again := s.show(code(0)); !again.ActivatedAt.Equal(*st.ActivatedAt) || !again.ValidUntil.Equal(*st.ValidUntil) {
			t.Fatalf("second login moved the activation: %+v then %+v", st, again)
		}
		mustContain(t, s.hotspotLogin(secret, code(0), "CHAP-Password=WRONG", "AA:BB:CC:00:00:01"), "Received Access-Reject")
	})

	t.Run("pap login", func(t *testing.T) {
		mustContain(t, s.hotspotLogin(secret, code(1), "User-Password="+code(1), "AA:BB:CC:00:00:02"), "Received Access-Accept", "Session-Timeout = 3600")
		mustContain(t, s.hotspotLogin(secret, code(2), "User-Password=nope", "AA:BB:CC:00:00:02"), "Received Access-Reject", "Invalid username or password")
		if st := s.show(code(2)); st.State != "new" {
			t.Fatalf("a rejected login activated the voucher: %+v", st)
		}
		// Vouchers are hotspot only.
		out, _ := s.radclient(secret, fmt.Sprintf("User-Name=%s,User-Password=%s,Service-Type=Framed-User,Framed-Protocol=PPP,Message-Authenticator=0x00", code(2), code(2)))
		mustContain(t, out, "Service not allowed")
	})

	t.Run("userpass mode", func(t *testing.T) {
		b := s.generate("--plan", "day", "--count", "2", "--mode", "userpass", "--length", "8", "--prefix", "G-")
		v := b.Vouchers[0]
		if b.Mode != "userpass" || !strings.HasPrefix(v.Username, "G-") || len(v.Username) != 10 || len(v.Password) != 8 || v.Username == v.Code {
			t.Fatalf("userpass batch %+v", b)
		}
		mustContain(t, s.hotspotLogin(secret, v.Username, "CHAP-Password="+v.Password, "AA:BB:CC:00:00:03"), "Received Access-Accept")
		mustContain(t, s.hotspotLogin(secret, v.Code, "User-Password="+v.Code, "AA:BB:CC:00:00:03"), "Received Access-Reject")
		// show finds it by code and by username.
		if st := s.show(v.Username); st.CodeHint != radius.MaskCode(v.Code) || st.State != "active" {
			t.Fatalf("show by username: %+v", st)
		}
	})

	t.Run("second device refused with shared users 1", func(t *testing.T) {
		c := code(3)
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:04"), "Received Access-Accept")
		s.mustAcct(secret, fmt.Sprintf("Acct-Status-Type=Start,Acct-Session-Id=V3,User-Name=%s,Framed-IP-Address=10.5.50.4,Calling-Station-Id=AA:BB:CC:00:00:04,Called-Station-Id=hotspot1,NAS-Identifier=r1", c))
		out := s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:05")
		mustContain(t, out, "Received Access-Reject", "Too many sessions")
		s.mustAcct(secret, fmt.Sprintf("Acct-Status-Type=Stop,Acct-Session-Id=V3,User-Name=%s,Acct-Session-Time=30,Calling-Station-Id=AA:BB:CC:00:00:04,NAS-Identifier=r1", c))
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:05"), "Received Access-Accept")
	})

	t.Run("mac lock and mac-cookie re-login", func(t *testing.T) {
		c := s.generate("--plan", "locked", "--count", "1").Vouchers[0].Code
		const a, b = "AA:BB:CC:00:00:0A", "AA:BB:CC:00:00:0B"
		mustContain(t, s.hotspotLogin(secret, c, "CHAP-Password="+c, "aa-bb-cc-00-00-0a"), "Received Access-Accept", "Session-Timeout = 600")
		if st := s.show(c); st.MAC != a {
			t.Fatalf("bound MAC = %q, want %s", st.MAC, a)
		}
		// RouterOS's MAC-cookie re-login: the code and the same device, no password.
		mustContain(t, s.hotspotLogin(secret, c, "", a), "Received Access-Accept")
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, a), "Received Access-Accept")
		// Another device is refused, with or without the code.
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, b), "Received Access-Reject", "Device not allowed")
		mustContain(t, s.hotspotLogin(secret, c, "", b), "Received Access-Reject")
	})

	t.Run("activation races: one device wins a locked voucher", func(t *testing.T) {
		c := s.generate("--plan", "locked", "--count", "1").Vouchers[0].Code
		const routers = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		outs := make([]string, routers)
		for i := 0; i < routers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				attrs := fmt.Sprintf("User-Name=%s,User-Password=%s,Service-Type=Login-User,Calling-Station-Id=AA:BB:CC:00:01:%02X,Called-Station-Id=hotspot1,Message-Authenticator=0x00", c, c, i)
				cmd := exec.Command(mustRadclient(t), "-x", "-r", "1", "-t", "2", s.authAddr, "auth", secret)
				cmd.Stdin = strings.NewReader(attrs)
				<-start
				b, _ := cmd.CombinedOutput()
				outs[i] = string(b)
			}(i)
		}
		close(start)
		wg.Wait()
		won := -1
		for i, out := range outs {
			switch {
			case strings.Contains(out, "Received Access-Accept"):
				if won >= 0 {
					t.Fatalf("devices %d and %d both got in:\n%s\n%s", won, i, outs[won], out)
				}
				won = i
			case !strings.Contains(out, "Device not allowed"):
				t.Fatalf("device %d: neither accepted nor refused for the device:\n%s", i, out)
			}
		}
		if won < 0 {
			t.Fatalf("no device got in:\n%s", strings.Join(outs, "\n"))
		}
		st := s.show(c)
		if st.MAC != fmt.Sprintf("AA:BB:CC:00:01:%02X", won) || st.ValidUntil.Sub(*st.ActivatedAt) != 10*time.Minute {
			t.Fatalf("device %d won, voucher %+v", won, st)
		}
		t.Logf("device %d of %d won the activation", won, routers)
	})

	t.Run("not valid here", func(t *testing.T) {
		c := s.generate("--plan", "lobby", "--count", "1").Vouchers[0].Code
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:0C"), "Received Access-Reject", "Not valid at this location")
		out, _ := s.radclient(secret, fmt.Sprintf("User-Name=%s,User-Password=%s,Service-Type=Login-User,Calling-Station-Id=AA:BB:CC:00:00:0C,Called-Station-Id=lobby,Message-Authenticator=0x00", c, c))
		mustContain(t, out, "Received Access-Accept")
		c = s.generate("--plan", "router2", "--count", "1").Vouchers[0].Code
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:0C"), "Not valid at this location")
		if st := s.show(c); st.State != "new" {
			t.Fatalf("a refused login activated the voucher: %+v", st)
		}
	})

	t.Run("validity from the sale", func(t *testing.T) {
		b := s.generate("--plan", "sale", "--count", "1")
		st := s.show(b.Vouchers[0].Code)
		if st.State != "new" || st.ValidUntil == nil || st.ValidUntil.Sub(b.CreatedAt) != 7*24*time.Hour {
			t.Fatalf("sale voucher %+v, batch created %v", st, b.CreatedAt)
		}
		mustContain(t, s.hotspotLogin(secret, b.Vouchers[0].Code, "User-Password="+b.Vouchers[0].Code, "AA:BB:CC:00:00:0D"), "Received Access-Accept")
		if after := s.show(b.Vouchers[0].Code); !after.ValidUntil.Equal(*st.ValidUntil) {
			t.Fatalf("the first login moved a sale voucher's end: %v -> %v", st.ValidUntil, after.ValidUntil)
		}
	})

	t.Run("expired voucher rejected, online one disconnected", func(t *testing.T) {
		c := s.generate("--plan", "short", "--count", "1").Vouchers[0].Code
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:0E"), "Received Access-Accept", "Session-Timeout = 3")
		s.mustAcct(secret, fmt.Sprintf("Acct-Status-Type=Start,Acct-Session-Id=E1,User-Name=%s,Framed-IP-Address=10.5.50.14,Calling-Station-Id=AA:BB:CC:00:00:0E,NAS-Identifier=r1", c))
		r := waitCoA(t, nas, codeDisconnect, "E1")
		if r.Username != s.show(c).Username || !strings.HasPrefix(r.Username, "voucher-") || r.FramedIP != netip.MustParseAddr("10.5.50.14") {
			t.Fatalf("disconnect: %+v", r)
		}
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:0E"), "Received Access-Reject", "Account expired")
		eventually(t, "expiry job", func() string {
			if st := s.show(c); st.StoredState != "expired" || st.State != "expired" {
				return fmt.Sprintf("%+v", st)
			}
			return ""
		})
	})

	t.Run("exhausted voucher disconnected and rejected", func(t *testing.T) {
		c := s.generate("--plan", "tiny", "--count", "1").Vouchers[0].Code
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:0F"), "Received Access-Accept", "Mikrotik-Total-Limit = 1000000")
		common := fmt.Sprintf("User-Name=%s,Framed-IP-Address=10.5.50.15,Calling-Station-Id=AA:BB:CC:00:00:0F,NAS-Identifier=r1", c)
		s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=X1,"+common)
		s.mustAcct(secret, "Acct-Status-Type=Interim-Update,Acct-Session-Id=X1,Acct-Session-Time=60,Acct-Input-Octets=600000,Acct-Output-Octets=600000,"+common)
		waitCoA(t, nas, codeDisconnect, "X1")
		// The router ends the session as told.
		s.mustAcct(secret, "Acct-Status-Type=Stop,Acct-Session-Id=X1,Acct-Session-Time=61,Acct-Input-Octets=600000,Acct-Output-Octets=600000,Acct-Terminate-Cause=Admin-Reset,"+common)
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:0F"), "Received Access-Reject", "Data limit reached")
		eventually(t, "expiry job", func() string {
			if st := s.show(c); st.StoredState != "exhausted" || st.BytesUsed != 1200000 {
				return fmt.Sprintf("%+v", st)
			}
			return ""
		})
		// The persisted state still names the limit.
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:0F"), "Data limit reached")
	})

	t.Run("revoke disconnects and rejects", func(t *testing.T) {
		c := code(4)
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:10"), "Received Access-Accept")
		s.mustAcct(secret, fmt.Sprintf("Acct-Status-Type=Start,Acct-Session-Id=R1,User-Name=%s,Framed-IP-Address=10.5.50.16,Calling-Station-Id=AA:BB:CC:00:00:10,NAS-Identifier=r1", c))
		var res struct {
			Voucher      voucherJSON `json:"voucher"`
			Disconnected []coaJSON   `json:"disconnected"`
		}
		if err := json.Unmarshal([]byte(s.MustRun("voucher", "revoke", c, "--json")), &res); err != nil {
			t.Fatal(err)
		}
		if res.Voucher.State != "revoked" || res.Voucher.RevokedAt == nil || len(res.Disconnected) != 1 || res.Disconnected[0].Result != "ack" {
			t.Fatalf("revoke: %+v", res)
		}
		if r := waitCoA(t, nas, codeDisconnect, "R1"); r.Username != res.Voucher.Username {
			t.Fatalf("disconnect: %+v", r)
		}
		mustContain(t, s.hotspotLogin(secret, c, "User-Password="+c, "AA:BB:CC:00:00:10"), "Received Access-Reject", "Voucher revoked")
		// Revoking a voucher that was never used works too, and twice is harmless.
		s.MustRun("voucher", "revoke", code(5))
		s.MustRun("voucher", "revoke", code(5))
		mustContain(t, s.hotspotLogin(secret, code(5), "User-Password="+code(5), "AA:BB:CC:00:00:11"), "Voucher revoked")
		var list []voucherJSON
		if err := json.Unmarshal([]byte(s.MustRun("voucher", "list", "--state", "revoked", "--json")), &list); err != nil || len(list) != 2 {
			t.Fatalf("list revoked: %+v %v", list, err)
		}
	})

	t.Run("captive status page", func(t *testing.T) {
		get := func(code string) (int, string) {
			t.Helper()
			resp, err := http.Get("http://" + s.httpAddr + "/hotspot/status?code=" + url.QueryEscape(code))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		words := map[string]string{"new": "Ready to use", "active": "In use", "revoked": "No longer valid"}
		for _, c := range []string{code(0), code(9)} {
			want := `<dd id="state">` + words[s.show(c).State] + "</dd>"
			if st, body := get(c); st != http.StatusOK || !strings.Contains(body, want) || !strings.Contains(body, c) {
				t.Fatalf("status of %s: %d, want 200 with %q:\n%s", c, st, want, body)
			}
		}
		if st, _ := get("NOPE2345"); st != http.StatusNotFound {
			t.Fatalf("status of an unknown code: %d, want 404", st)
		}
	})

	t.Run("list and show", func(t *testing.T) {
		var list []voucherJSON
		if err := json.Unmarshal([]byte(s.MustRun("voucher", "list", "--batch", fmt.Sprint(day.ID), "--limit", "100", "--json")), &list); err != nil || len(list) != 10 {
			t.Fatalf("list batch: %d %v", len(list), err)
		}
		states := map[string]int{}
		for _, v := range list {
			states[v.State]++
			if v.BatchID != day.ID || v.Plan != "day" || v.Reseller != "kiosk-1" {
				t.Fatalf("listed %+v", v)
			}
		}
		if states["active"] != 3 || states["revoked"] != 2 || states["new"] != 5 {
			t.Fatalf("states %v", states)
		}
		text := s.MustRun("voucher", "show", code(0))
		mustContain(t, text, "state:", "active", "uptime used:", "of 1h0m0s", "bytes used:", "of 5000000000", "valid until:")
		text = s.MustRun("voucher", "list", "--batch", fmt.Sprint(day.ID))
		mustContain(t, text, "CODE", radius.MaskCode(code(9)))
	})

	// The auth log carries the voucher reasons.
	eventually(t, "auth log", func() string {
		var rows []authLogJSON
		if err := json.Unmarshal([]byte(s.MustRun("authlog", "--json")), &rows); err != nil {
			return err.Error()
		}
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r.Reason] = true
		}
		for _, want := range []string{"revoked", "wrong_location", "too_many_sessions", "mac_mismatch", "expired", "data_exhausted"} {
			if !seen[want] {
				return "no " + want
			}
		}
		return ""
	})
}

func TestE2EVoucherOutputAndErrors(t *testing.T) {
	s := MustStack(t, true)
	s.MustRun("plan", "add", "--name", "hs", "--kind", "hotspot")
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe")

	// --csv: one voucher a line, code first.
	out := s.MustRun("voucher", "generate", "--plan", "hs", "--count", "5", "--csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 5 {
		t.Fatalf("csv: %d records, %v:\n%s", len(recs), err, out)
	}
	for _, r := range recs {
		if len(r) != 1 || !codeRE.MatchString(r[0]) {
			t.Fatalf("csv record %q", r)
		}
	}
	out = s.MustRun("voucher", "generate", "--plan", "hs", "--count", "3", "--csv", "--mode", "userpass", "--prefix", "HS", "--charset", "0123456789", "--length", "13")
	recs, err = csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("userpass csv: %v:\n%s", err, out)
	}
	for _, r := range recs {
		if len(r) != 3 || !regexp.MustCompile(`^HS[0-9]{13}$`).MatchString(r[0]) || !regexp.MustCompile(`^HS[0-9]{13}$`).MatchString(r[1]) || !regexp.MustCompile(`^[0-9]{13}$`).MatchString(r[2]) {
			t.Fatalf("userpass csv record %q", r)
		}
	}
	// --json: the batch with its vouchers, exactly these keys.
	var raw map[string]any
	if err := json.Unmarshal([]byte(s.MustRun("voucher", "generate", "--plan", "hs", "--count", "2", "--json")), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "plan", "count", "created_at", "vouchers"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("batch JSON lacks %q: %v", k, raw)
		}
	}
	vs := raw["vouchers"].([]any)
	if len(vs) != 2 || len(vs[0].(map[string]any)) != 1 || vs[0].(map[string]any)["code"] == nil {
		t.Fatalf("code-mode vouchers JSON: %v", vs)
	}
	if err := json.Unmarshal([]byte(s.MustRun("voucher", "generate", "--plan", "hs", "--count", "1", "--json", "--mode", "userpass")), &raw); err != nil {
		t.Fatal(err)
	}
	if v := raw["vouchers"].([]any)[0].(map[string]any); len(v) != 3 || v["code"] == nil || v["username"] == nil || v["password"] == nil {
		t.Fatalf("userpass voucher JSON: %v", v)
	}
	// Text output lists the codes too.
	mustContain(t, s.MustRun("voucher", "generate", "--plan", "hs", "--count", "1"), "1 vouchers on plan \"hs\"")

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing plan", []string{"voucher", "generate", "--count", "1"}, 2, "--plan"},
		{"missing count", []string{"voucher", "generate", "--plan", "hs"}, 2, "--count"},
		{"json and csv", []string{"voucher", "generate", "--plan", "hs", "--count", "1", "--json", "--csv"}, 2, "--csv"},
		{"count too big", []string{"voucher", "generate", "--plan", "hs", "--count", "100001"}, 1, "count"},
		{"bad charset", []string{"voucher", "generate", "--plan", "hs", "--count", "1", "--charset", "abc"}, 1, "charset"},
		{"bad prefix", []string{"voucher", "generate", "--plan", "hs", "--count", "1", "--prefix", "a b"}, 1, "prefix"},
		{"bad mode", []string{"voucher", "generate", "--plan", "hs", "--count", "1", "--mode", "pin"}, 1, "mode"},
		{"too short", []string{"voucher", "generate", "--plan", "hs", "--count", "1", "--length", "3"}, 1, "length"},
		{"below 2^40", []string{"voucher", "generate", "--plan", "hs", "--count", "1", "--length", "7"}, 1, "length: 7 characters"},
		{"unknown plan", []string{"voucher", "generate", "--plan", "gold", "--count", "1"}, 1, "plan"},
		{"pppoe plan", []string{"voucher", "generate", "--plan", "home", "--count", "1"}, 1, "plan"},
		{"show unknown", []string{"voucher", "show", "NOPE"}, 1, "code"},
		{"show without code", []string{"voucher", "show"}, 2, "CODE"},
		{"revoke unknown", []string{"voucher", "revoke", "NOPE"}, 1, "code"},
		{"list bad state", []string{"voucher", "list", "--state", "used"}, 1, "state"},
		{"list bad limit", []string{"voucher", "list", "--limit", "0"}, 2, "--limit"},
		{"plan bad validity-from", []string{"plan", "add", "--name", "x", "--kind", "hotspot", "--validity-from", "soon"}, 1, "validity-from"},
		{"plan bad reseller price", []string{"plan", "add", "--name", "x", "--kind", "hotspot", "--reseller-price", "-1"}, 1, "reseller-price"},
		{"plan lock-mac on pppoe", []string{"plan", "add", "--name", "x", "--kind", "pppoe", "--lock-mac"}, 1, "lock-mac"},
		{"plan bad nas", []string{"plan", "add", "--name", "x", "--kind", "hotspot", "--nas", "r 1"}, 1, "nas"},
		{"plan nas twice", []string{"plan", "add", "--name", "x", "--kind", "hotspot", "--nas", "r1", "--nas", "r1"}, 1, "nas"},
		{"plan bad hotspot server", []string{"plan", "add", "--name", "x", "--kind", "hotspot", "--hotspot-server", "a\tb"}, 1, "hotspot-server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := s.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want exit %d naming %q", code, errs, out, tc.code, tc.want)
			}
		})
	}
}

// TestE2EVoucher100k generates a batch of 100,000 through the command line, as CSV.
func TestE2EVoucher100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 vouchers: not in -short")
	}
	s := MustStack(t, true)
	s.MustRun("plan", "add", "--name", "hs", "--kind", "hotspot")
	start := time.Now()
	out := s.MustRun("voucher", "generate", "--plan", "hs", "--count", fmt.Sprint(hotspot.MaxBatch), "--csv")
	took := time.Since(start)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	seen := make(map[string]bool, len(lines))
	for _, l := range lines {
		if !codeRE.MatchString(l) || seen[l] {
			t.Fatalf("bad or repeated code %q", l)
		}
		seen[l] = true
	}
	if len(seen) != hotspot.MaxBatch {
		t.Fatalf("%d codes, want %d", len(seen), hotspot.MaxBatch)
	}
	var list []voucherJSON
	if err := json.Unmarshal([]byte(s.MustRun("voucher", "list", "--limit", "100000", "--json")), &list); err != nil || len(list) != hotspot.MaxBatch {
		t.Fatalf("stored %d, %v", len(list), err)
	}
	t.Logf("generated and stored %d vouchers in %v (command line, CSV out)", hotspot.MaxBatch, took)
}
