package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestGrafanaDashboard: every metric scripts/grafana-dashboard.json queries is one a
// running tollgate serves at /metrics (after a NAS has talked to it), so the dashboard
// never shows a panel of nothing.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../../scripts/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	metricRE := regexp.MustCompile(`\b((?:tollgate|go|process)_[a-z_]+)\b`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricRE.FindAllStringSubmatch(tg.Expr, -1) {
				used[m[1]] = true
			}
		}
	}
	if len(used) < 10 {
		t.Fatalf("the dashboard uses %d metrics", len(used))
	}

	s := MustStack(t, true)
	const secret = "grafana-secret-1"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.serve()
	eventually(t, "a NAS's request counted", func() string {
		if out, ok := s.radclient(secret, "User-Name=nobody,User-Password=x,Message-Authenticator=0x00"); !ok {
			return "no answer: " + out
		}
		return ""
	})
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	served := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			served[strings.Fields(name)[0]] = true
		}
	}
	var missing []string
	for m := range used {
		if !served[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the dashboard queries metrics tollgate does not serve: %v", missing)
	}
	if !strings.Contains(string(body), `tollgate_radius_nas_requests_total{nas="r1"}`) {
		t.Fatal("no per-NAS series for r1")
	}
}

// TestSystemdUnit: the shipped unit runs serve after migrating, as an unprivileged user
// whose only writable place is its state directory (the spool).
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../scripts/tollgate.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"ExecStartPre=/usr/local/bin/tollgate migrate", "ExecStart=/usr/local/bin/tollgate serve",
		"User=tollgate", "StateDirectory=tollgate", "TOLLGATE_SPOOL_DIR=/var/lib/tollgate/spool", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "Restart=on-failure", "WantedBy=multi-user.target"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

// TestNASPageCounters: on a running serve, the admin's NAS page shows what this
// process's RADIUS server counted from the NAS (serve wires its server into the
// portal's pages): an accept, a reject and the last request.
func TestNASPageCounters(t *testing.T) {
	s := MustStack(t, true)
	const secret, pw = "counter-secret-1", "correct-horse-battery"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice", "--plan", "home")
	if code, _, errs := s.runWithStdin(pw+"\n", "admin", "add", "--email", "admin@example.com"); code != 0 {
		t.Fatal(errs)
	}
	s.serve()
	eventually(t, "alice accepted", func() string {
		if out, _ := s.radclient(secret, "User-Name=alice,User-Password=pw-alice,Message-Authenticator=0x00"); !strings.Contains(out, "Access-Accept") {
			return out
		}
		return ""
	})
	if out, _ := s.radclient(secret, "User-Name=alice,User-Password=wrong,Message-Authenticator=0x00"); !strings.Contains(out, "Access-Reject") {
		t.Fatalf("wrong password: %s", out)
	}
	w := newWebClient(t, "http://"+s.httpAddr)
	if code, loc := w.login("admin@example.com", pw); code != http.StatusSeeOther || loc != "/admin" {
		t.Fatalf("sign-in = %d %q", code, loc)
	}
	_, page := w.get("/admin/nas/r1")
	field := func(id string) string {
		m := regexp.MustCompile(`id="` + id + `">([^<]*)<`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no #%s on the NAS page: %.2000s", id, page)
		}
		return strings.TrimSpace(m[1])
	}
	accepts, _ := strconv.Atoi(field("nas-accepts"))
	rejects, _ := strconv.Atoi(field("nas-rejects"))
	requests, _ := strconv.Atoi(field("nas-requests"))
	if accepts < 1 || rejects != 1 || requests < accepts+rejects || !strings.HasSuffix(field("last-request"), "ago") && field("last-request") != "just now" {
		t.Fatalf("NAS page: requests %d, accepts %d, rejects %d, last %q", requests, accepts, rejects, field("last-request"))
	}
}
