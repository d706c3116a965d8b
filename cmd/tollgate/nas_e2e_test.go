package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// otherKey is a second TOLLGATE_SECRET_KEY: what a second clone of the repository, with
// its own ./var/secret.key, seals with.
const otherKey = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

// syncBuffer is a bytes.Buffer safe to write from one goroutine and read from another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// runIn runs one command line in process with stdin.
func (s *stack) runIn(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// mustRunWithKey runs one command line sealing and opening with key instead of the
// stack's.
func (s *stack) mustRunWithKey(t *testing.T, key string, args ...string) string {
	t.Helper()
	t.Setenv("TOLLGATE_SECRET_KEY", key)
	defer t.Setenv("TOLLGATE_SECRET_KEY", testKey)
	return s.MustRun(args...)
}

// nasSecret returns the secret stored for the NAS called name, opened with the stack's key.
func (s *stack) nasSecret(t *testing.T, name string) string {
	t.Helper()
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	defer e.close()
	d, err := e.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, err := d.radius.FindNASByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openNASSecret(d, n)
	if err != nil {
		t.Fatalf("open the secret of NAS %s: %v", name, err)
	}
	return string(b)
}

// metric returns the value of one unlabelled metric on the running serve's /metrics.
func (s *stack) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	return string(m[1])
}

// accessFrom sends a PAP Access-Request with Message-Authenticator from the local address
// from (any of 127/8 on Linux) and returns the reply's code, or 0 when none came within
// a second.
func (s *stack) accessFrom(t *testing.T, from, secret, user, password string) radius.Code {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	_ = rfc2865.UserName_SetString(p, user)
	_ = rfc2865.UserPassword_SetString(p, password)
	p.Attributes = append(radius.Attributes{{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 16)}}, p.Attributes...)
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(md5.New, []byte(secret))
	m.Write(b)
	copy(b[22:38], m.Sum(nil))
	to, err := netip.ParseAddrPort(s.authAddr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)), net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return 0
	}
	reply, err := radius.Parse(buf[:n], []byte(secret))
	if err != nil || !radius.IsAuthenticResponse(buf[:n], b, []byte(secret)) {
		t.Fatalf("reply from the server does not verify: %v", err)
	}
	return reply.Code
}

// TestE2EUnusableNAS: a NAS whose secret was sealed with another key is logged by name
// and counted at /metrics, and refused alone (its packets dropped and counted like an
// unknown source); serve starts and the other NAS is answered over UDP. A reload (the
// NOTIFY of a later nas add or nas set) does the same, and takes a fixed NAS back.
func TestE2EUnusableNAS(t *testing.T) {
	s := MustStack(t, true)
	s.MustRun("nas", "add", "--name", "good", "--address", "127.0.0.1", "--secret", "good-secret-12")
	s.mustRunWithKey(t, otherKey, "nas", "add", "--name", "bad", "--address", "127.0.0.2", "--secret", "bad-secret-123")
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice", "--plan", "home")
	s.serve()

	if got := s.accessFrom(t, "127.0.0.1", "good-secret-12", "alice", "pw-alice"); got != radius.CodeAccessAccept {
		t.Fatalf("the good NAS got %v, want Access-Accept", got)
	}
	unknown := s.metric(t, "tollgate_radius_packets_unknown_nas_total")
	if got := s.accessFrom(t, "127.0.0.2", "bad-secret-123", "alice", "pw-alice"); got != 0 {
		t.Fatalf("the unusable NAS was answered: %v", got)
	}
	if after := s.metric(t, "tollgate_radius_packets_unknown_nas_total"); after == unknown {
		t.Fatalf("the unusable NAS's packet was not counted as from an unknown NAS (%s)", after)
	}
	if got := s.metric(t, "tollgate_radius_nas_unusable"); got != "1" {
		t.Fatalf("nas_unusable = %s, want 1", got)
	}
	if log := s.serveLog.String(); !strings.Contains(log, "NAS refused: its secret cannot be opened") || !strings.Contains(log, "nas=bad") {
		t.Fatalf("the unusable NAS is not logged by name:\n%s", log)
	}

	// A reload meets a second bad row: that one is refused too, the good NAS still served.
	s.mustRunWithKey(t, otherKey, "nas", "add", "--name", "bad2", "--address", "127.0.0.3", "--secret", "bad-secret-456")
	eventually(t, "the reload counts two unusable NASes", func() string {
		if got := s.metric(t, "tollgate_radius_nas_unusable"); got != "2" {
			return "nas_unusable = " + got
		}
		return ""
	})
	if log := s.serveLog.String(); !strings.Contains(log, "nas=bad2") {
		t.Fatalf("the reload did not log bad2:\n%s", log)
	}
	if got := s.accessFrom(t, "127.0.0.1", "good-secret-12", "alice", "pw-alice"); got != radius.CodeAccessAccept {
		t.Fatalf("after the reload the good NAS got %v", got)
	}
	// The operator seals the secret again with this key: the NAS is answered again.
	s.MustRun("nas", "set", "--name", "bad", "--secret", "bad-secret-123")
	eventually(t, "the fixed NAS answered", func() string {
		if got := s.accessFrom(t, "127.0.0.2", "bad-secret-123", "alice", "pw-alice"); got != radius.CodeAccessAccept {
			return fmt.Sprintf("got %v", got)
		}
		return ""
	})
	if got := s.metric(t, "tollgate_radius_nas_unusable"); got != "1" {
		t.Fatalf("nas_unusable = %s after the fix, want 1", got)
	}
}

// TestE2EDemoReseal: demo run with key A, then with key B (a second clone on the same
// Postgres), then serve with key B answers the radclient line demo printed.
func TestE2EDemoReseal(t *testing.T) {
	s := MustStack(t, true)
	s.MustRun("demo")
	t.Setenv("TOLLGATE_SECRET_KEY", otherKey)
	var out map[string]string
	if err := json.Unmarshal([]byte(s.MustRun("demo", "--json")), &out); err != nil {
		t.Fatal(err)
	}
	line := out["radclient"]
	if !strings.Contains(line, "radclient -x "+s.authAddr+" auth "+demoSecret) || len(demoSecret) < 12 {
		t.Fatalf("demo printed %q", line)
	}
	mustRadclient(t)
	s.serve()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, _ := exec.CommandContext(ctx, "bash", "-c", line).CombinedOutput()
	if !strings.Contains(string(got), "Received Access-Accept") {
		t.Fatalf("the demo login, after demo ran with another key:\n%s", got)
	}
	if n := s.metric(t, "tollgate_radius_nas_unusable"); n != "0" {
		t.Fatalf("nas_unusable = %s", n)
	}
}

// TestNASCommands: nas add and nas set refuse ranges wider than a /24 or /56, a range
// without Message-Authenticator, and secrets under 12 characters unless
// --allow-weak-secret (which warns); they read secrets from --secret-file and from stdin
// (--secret -), and take --login-host.
func TestNASCommands(t *testing.T) {
	s := MustStack(t, true)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		args     []string
		stdin    string
		code     int
		want     string // in stderr
		nas, got string // on success: the NAS's stored secret
	}{
		{"ipv4 /23", []string{"--name", "a", "--address", "10.0.0.0/23", "--secret", "long-enough-12"}, "", 1, "address: 10.0.0.0/23 is wider than a /24", "", ""},
		{"ipv4 /24", []string{"--name", "a", "--address", "10.0.0.0/24", "--secret", "long-enough-12"}, "", 0, "", "a", "long-enough-12"},
		{"ipv6 /55", []string{"--name", "b", "--address", "2001:db8::/55", "--secret", "long-enough-12"}, "", 1, "address: 2001:db8::/55 is wider than a /56", "", ""},
		{"ipv6 /56", []string{"--name", "b", "--address", "2001:db8::/56", "--secret", "long-enough-12"}, "", 0, "", "b", "long-enough-12"},
		{"range without MA", []string{"--name", "c", "--address", "10.0.1.0/24", "--secret", "long-enough-12", "--require-message-authenticator=false"}, "", 1, "require_message_authenticator: the range 10.0.1.0/24 always requires", "", ""},
		{"host without MA", []string{"--name", "c", "--address", "10.0.1.1", "--secret", "long-enough-12", "--require-message-authenticator=false"}, "", 0, "", "c", "long-enough-12"},
		{"weak secret", []string{"--name", "d", "--address", "10.0.2.1", "--secret", "short-sec"}, "", 1, "secret: must be at least 12 characters (it is 9)", "", ""},
		{"weak secret allowed", []string{"--name", "d", "--address", "10.0.2.1", "--secret", "short-sec", "--allow-weak-secret"}, "", 0, "warning: the secret is 9 characters", "d", "short-sec"},
		{"secret file", []string{"--name", "e", "--address", "10.0.3.1", "--secret-file", file("e", "file-secret-123\n")}, "", 0, "", "e", "file-secret-123"},
		{"secret file, CRLF", []string{"--name", "f", "--address", "10.0.3.2", "--secret-file", file("f", "file-secret-456\r\n")}, "", 0, "", "f", "file-secret-456"},
		{"secret on stdin", []string{"--name", "g", "--address", "10.0.3.3", "--secret", "-"}, "stdin-secret-12\nignored\n", 0, "", "g", "stdin-secret-12"},
		{"weak secret file", []string{"--name", "h", "--address", "10.0.3.4", "--secret-file", file("h", "short\n")}, "", 1, "secret: must be at least 12", "", ""},
		{"empty secret file", []string{"--name", "h", "--address", "10.0.3.4", "--secret-file", file("h0", "\n")}, "", 1, "secret-file: ", "", ""},
		{"two-line secret file", []string{"--name", "h", "--address", "10.0.3.4", "--secret-file", file("h2", "one-line-secret\ntwo\n")}, "", 1, "more than one line", "", ""},
		{"missing secret file", []string{"--name", "h", "--address", "10.0.3.4", "--secret-file", filepath.Join(dir, "nope")}, "", 1, "secret-file: ", "", ""},
		{"nothing on stdin", []string{"--name", "h", "--address", "10.0.3.4", "--secret", "-"}, "", 1, "secret: none on stdin", "", ""},
		{"both secret flags", []string{"--name", "h", "--address", "10.0.3.4", "--secret", "long-enough-12", "--secret-file", file("h3", "x")}, "", 2, "not both", "", ""},
		{"no secret", []string{"--name", "h", "--address", "10.0.3.4"}, "", 2, "--secret or --secret-file is required", "", ""},
		{"bad login host", []string{"--name", "h", "--address", "10.0.3.4", "--secret", "long-enough-12", "--login-host", "http://10.5.50.1/login"}, "", 1, "login_host: ", "", ""},
		{"login hosts", []string{"--name", "h", "--address", "10.0.3.4", "--secret", "long-enough-12", "--login-host", "Hotspot.Example.NET", "--login-host", "10.5.50.1,hotspot.example.net"}, "", 0, "", "h", "long-enough-12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := s.runIn(tc.stdin, append([]string{"nas", "add"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want exit %d, stderr with %q", code, errs, out, tc.code, tc.want)
			}
			if tc.nas != "" {
				if got := s.nasSecret(t, tc.nas); got != tc.got {
					t.Fatalf("stored secret %q, want %q", got, tc.got)
				}
			}
		})
	}
	list := s.MustRun("nas", "list")
	if !strings.Contains(list, "LOGIN HOSTS") || !strings.Contains(list, "hotspot.example.net,10.5.50.1") {
		t.Fatalf("nas list:\n%s", list)
	}

	// nas set changes what it is given and leaves the rest.
	var h nasJSON
	if err := json.Unmarshal([]byte(s.MustRun("nas", "set", "--name", "h", "--address", "10.0.4.1", "--coa-port", "1700", "--login-host", "wifi.example.org", "--json")), &h); err != nil {
		t.Fatal(err)
	}
	if h.Address != "10.0.4.1/32" || h.CoAPort != 1700 || strings.Join(h.LoginHosts, ",") != "wifi.example.org" || !h.RequireMessageAuthenticator || s.nasSecret(t, "h") != "long-enough-12" {
		t.Fatalf("nas set = %+v", h)
	}
	if code, _, errs := s.runIn("new-stdin-secret\n", "nas", "set", "--name", "h", "--secret", "-"); code != 0 || s.nasSecret(t, "h") != "new-stdin-secret" {
		t.Fatalf("nas set --secret -: exit %d %s", code, errs)
	}
	s.MustRun("nas", "set", "--name", "h", "--secret-file", file("h4", "new-file-secret\n"))
	if got := s.nasSecret(t, "h"); got != "new-file-secret" {
		t.Fatalf("nas set --secret-file: stored %q", got)
	}
	if err := json.Unmarshal([]byte(s.MustRun("nas", "set", "--name", "h", "--login-host", "", "--json")), &h); err != nil || len(h.LoginHosts) != 0 {
		t.Fatalf("nas set --login-host '' = %+v, %v", h, err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"nothing to change", []string{"--name", "h"}, 2, "nothing to change"},
		{"unknown NAS", []string{"--name", "nope", "--coa-port", "1812"}, 1, `NAS "nope" not found`},
		{"too wide", []string{"--name", "h", "--address", "10.0.0.0/16"}, 1, "address: 10.0.0.0/16 is wider than a /24"},
		{"overlap", []string{"--name", "h", "--address", "10.0.0.7"}, 1, `address: 10.0.0.7/32 overlaps NAS "a" (10.0.0.0/24)`},
		{"range turns MA off", []string{"--name", "a", "--require-message-authenticator=false"}, 1, "require_message_authenticator: "},
		{"host becomes a range without MA", []string{"--name", "c", "--address", "10.0.5.0/24"}, 1, "require_message_authenticator: "},
		{"weak secret", []string{"--name", "h", "--secret", "short"}, 1, "--allow-weak-secret"},
		{"bad coa port", []string{"--name", "h", "--coa-port", "65536"}, 1, "coa-port"},
	} {
		t.Run("set "+tc.name, func(t *testing.T) {
			code, out, errs := s.run(append([]string{"nas", "set"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want exit %d, stderr with %q", code, errs, out, tc.code, tc.want)
			}
		})
	}
}

// TestE2ESecretsFromFiles: a NAS secret and a subscriber's password given in files, and
// a new password on stdin, are the ones the server checks (radclient logs in with them).
func TestE2ESecretsFromFiles(t *testing.T) {
	s := MustStack(t, true)
	dir := t.TempDir()
	secretFile, pwFile := filepath.Join(dir, "secret"), filepath.Join(dir, "pw")
	if err := os.WriteFile(secretFile, []byte("file-nas-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("pw-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret-file", secretFile)
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe")
	s.MustRun("subscriber", "add", "--username", "alice", "--password-file", pwFile, "--plan", "home")
	if code, _, errs := s.runIn("pw-from-stdin\n", "subscriber", "add", "--username", "bob", "--password", "-", "--plan", "home"); code != 0 {
		t.Fatalf("subscriber add --password -: exit %d %s", code, errs)
	}
	if code, _, errs := s.run("subscriber", "add", "--username", "carl", "--plan", "home"); code != 2 || !strings.Contains(errs, "--password or --password-file is required") {
		t.Fatalf("subscriber add without a password: exit %d %s", code, errs)
	}
	if code, _, errs := s.run("subscriber", "set", "--username", "alice", "--password", "x", "--password-file", pwFile); code != 2 || !strings.Contains(errs, "not both") {
		t.Fatalf("subscriber set with both: exit %d %s", code, errs)
	}
	s.serve()
	login := func(user, pw string) string {
		out, _ := s.radclient("file-nas-secret", fmt.Sprintf("User-Name=%s,User-Password=%s,Message-Authenticator=0x00", user, pw))
		return out
	}
	if out := login("alice", "pw-from-file"); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("password from a file:\n%s", out)
	}
	if out := login("bob", "pw-from-stdin"); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("password from stdin:\n%s", out)
	}
	if code, _, errs := s.runIn("new-pw-stdin\n", "subscriber", "set", "--username", "alice", "--password", "-"); code != 0 {
		t.Fatalf("subscriber set --password -: exit %d %s", code, errs)
	}
	if out := login("alice", "new-pw-stdin"); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("new password from stdin:\n%s", out)
	}
	if err := os.WriteFile(pwFile, []byte("newer-pw-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.MustRun("subscriber", "set", "--username", "alice", "--password-file", pwFile)
	if out := login("alice", "newer-pw-file"); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("new password from a file:\n%s", out)
	}
	if out := login("alice", "new-pw-stdin"); !strings.Contains(out, "Received Access-Reject") {
		t.Fatalf("the old password still logs in:\n%s", out)
	}
}
