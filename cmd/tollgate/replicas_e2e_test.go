package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// replica is one `tollgate serve` process of the built binary, with its own ports and
// spool, on the stack's database and Redis.
type replica struct {
	name                 string
	auth, acct, httpAddr string
	cmd                  *exec.Cmd
	logPath              string
	exited               chan struct{}
}

// startReplica starts a replica and waits for its /healthz.
func startReplica(t *testing.T, bin, name string) *replica {
	t.Helper()
	r := &replica{name: name,
		auth:     fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp")),
		acct:     fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp")),
		httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")),
		exited:   make(chan struct{}),
	}
	dir := t.TempDir()
	r.logPath = filepath.Join(dir, "serve.log")
	logf, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "serve")
	r.cmd.Env = append(os.Environ(),
		"TOLLGATE_RADIUS_AUTH_ADDR="+r.auth, "TOLLGATE_RADIUS_ACCT_ADDR="+r.acct, "TOLLGATE_HTTP_ADDR="+r.httpAddr,
		"TOLLGATE_SPOOL_DIR="+filepath.Join(dir, "spool"), "LOG_LEVEL=info")
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); logf.Close(); close(r.exited) }()
	t.Cleanup(func() { r.kill(syscall.SIGTERM) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get("http://" + r.httpAddr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case <-r.exited:
			b, _ := os.ReadFile(r.logPath)
			t.Fatalf("replica %s exited:\n%s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not healthy", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill signals the replica this test started (by its PID) and waits for it.
func (r *replica) kill(sig syscall.Signal) {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// login sends an Access-Request for user to the replica with radclient.
func (r *replica) login(t *testing.T, secret, user, password string) string {
	t.Helper()
	cmd := exec.Command(mustRadclient(t), "-x", "-r", "1", "-t", "2", r.auth, "auth", secret)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("User-Name=%s,User-Password=%s,Service-Type=Framed-User,Framed-Protocol=PPP,Message-Authenticator=0x00", user, password))
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// accounting sends one Accounting-Request to the replica with radclient and requires
// its answer.
func (r *replica) accounting(t *testing.T, secret, attrs string) {
	t.Helper()
	cmd := exec.Command(mustRadclient(t), "-x", "-r", "2", "-t", "2", r.acct, "acct", secret)
	cmd.Stdin = strings.NewReader(attrs)
	if out, _ := cmd.CombinedOutput(); !strings.Contains(string(out), "Received Accounting-Response") {
		t.Fatalf("replica %s did not answer %s:\n%s", r.name, attrs, out)
	}
}

// TestTwoReplicas runs two `tollgate serve` processes of the built binary on one
// Postgres and one Redis, as a router with two /radius entries sees them: simultaneous
// use holds across them, a change made through one (A's API) reaches the other within a
// second, killing one with SIGKILL under accounting load loses no acknowledged record,
// and the other keeps serving logins and accounting alone.
func TestTwoReplicas(t *testing.T) {
	s := MustStack(t, true)
	const secret = "replica-secret-1"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe", "--rate-limit", "5M/10M", "--shared-users", "1")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.MustRun("subscriber", "add", "--username", u, "--password", "pw-"+u, "--plan", "home")
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(s.MustRun("token", "add", "--name", "replicas", "--scope", "write", "--json")), &tok); err != nil {
		t.Fatal(err)
	}
	bin := mustBinary(t)
	a := startReplica(t, bin, "A")
	b := startReplica(t, bin, "B")

	// Shared users across replicas: alice's one seat, taken through A, is taken on B.
	if out := a.login(t, secret, "alice", "pw-alice"); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("alice on A:\n%s", out)
	}
	a.accounting(t, secret, "Acct-Status-Type=Start,Acct-Session-Id=R1,User-Name=alice,Framed-IP-Address=10.0.0.2,NAS-Identifier=r1")
	if out := b.login(t, secret, "alice", "pw-alice"); !strings.Contains(out, "Too many sessions") {
		t.Fatalf("alice's second session on B not refused:\n%s", out)
	}

	// A change through A's API reaches B within a second: bob, accepted (and cached)
	// by B, is suspended through A; B refuses him at once.
	if out := b.login(t, secret, "bob", "pw-bob"); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("bob on B:\n%s", out)
	}
	var subs struct {
		Data []struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
		} `json:"data"`
	}
	mustAPICall(t, a.httpAddr, tok.Token, "GET", "/api/v1/subscribers?search=bob", "", &subs)
	if len(subs.Data) != 1 {
		t.Fatalf("bob via the API: %+v", subs)
	}
	mustAPICall(t, a.httpAddr, tok.Token, "PATCH", fmt.Sprintf("/api/v1/subscribers/%d", subs.Data[0].ID), `{"status":"suspended"}`, nil)
	changed := time.Now()
	for {
		out := b.login(t, secret, "bob", "pw-bob")
		if strings.Contains(out, "Account suspended") {
			break
		}
		if time.Since(changed) > time.Second {
			t.Fatalf("B still lets bob in a second after A suspended him:\n%s", out)
		}
	}
	t.Logf("B refused bob %v after A's change", time.Since(changed).Round(time.Millisecond))

	// SIGKILL A under accounting load: every record it acknowledged is in Postgres.
	load := &acctSender{addr: a.acct, secret: secret, acked: map[string][3]bool{}}
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for step := 0; step < 3; step++ {
				if !load.send(ctx, fmt.Sprintf("K%05d", i), step) {
					return
				}
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	a.kill(syscall.SIGKILL)
	close(stop)
	<-done
	if len(load.acked) == 0 {
		t.Fatal("A acknowledged nothing before it was killed")
	}
	eventually(t, "acknowledged records in Postgres", func() string {
		if n := len(s.sessions("--user", "bulk", "--limit", "10000")); n < len(load.acked) {
			return fmt.Sprintf("%d of %d sessions", n, len(load.acked))
		}
		return ""
	})
	load.check(t, s)
	t.Logf("A acknowledged %d sessions before SIGKILL; all are in Postgres", len(load.acked))

	// The router's second /radius entry: B alone serves logins and accounting.
	if out := b.login(t, secret, "carol", "pw-carol"); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("carol on B while A is dead:\n%s", out)
	}
	b.accounting(t, secret, "Acct-Status-Type=Start,Acct-Session-Id=C1,User-Name=carol,NAS-Identifier=r1")
	if on := s.sessions("--user", "carol", "--online"); len(on) != 1 {
		t.Fatalf("carol's session through B: %+v", on)
	}
}

// mustAPICall sends one /api/v1 request with a bearer token and decodes its JSON into
// out (nil: ignored), failing on a status of 400 or more.
func mustAPICall(t *testing.T, addr, token, method, path, body string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("%s %s = %d %v", method, path, resp.StatusCode, e)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}
