package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestTokenCLI: token add prints the token once (JSON field token), list never shows
// it, the token works on a running server's API with its scope, and revoke ends it.
func TestTokenCLI(t *testing.T) {
	s := MustStack(t, true)
	var made tokenJSON
	out := s.MustRun("token", "add", "--name", "erp", "--scope", "read", "--expires", "90d", "--json")
	if err := json.Unmarshal([]byte(out), &made); err != nil || !strings.HasPrefix(made.Token, "tg_") || made.ExpiresAt == nil || made.Scope != "read" {
		t.Fatalf("token add: %v %s", err, out)
	}
	text := s.MustRun("token", "add", "--name", "sync", "--scope", "write")
	if !strings.Contains(text, "shown only now") || !strings.Contains(text, "tg_") {
		t.Fatalf("token add text: %s", text)
	}
	for _, args := range [][]string{
		{"token", "add", "--name", "erp", "--scope", "read"},
		{"token", "add", "--name", "x", "--scope", "admin"},
		{"token", "add", "--name", "x", "--scope", "read", "--expires", "soon"},
	} {
		if code, _, errs := s.run(args...); code != 1 || errs == "" {
			t.Errorf("%v: exit %d %s", args, code, errs)
		}
	}
	list := s.MustRun("token", "list", "--json")
	if strings.Contains(list, made.Token) || strings.Contains(list, made.Token[20:]) || !strings.Contains(list, `"name": "sync"`) {
		t.Fatalf("token list: %s", list)
	}
	if table := s.MustRun("token", "list"); !strings.Contains(table, "LAST USED") || !strings.Contains(table, "never") {
		t.Fatalf("token list table: %s", table)
	}

	s.serve()
	get := func(path string) int {
		req, _ := http.NewRequest("GET", "http://"+s.httpAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+made.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/api/v1/subscribers"); code != 200 {
		t.Fatalf("GET with the token = %d", code)
	}
	var listed []tokenJSON
	if err := json.Unmarshal([]byte(s.MustRun("token", "list", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	for _, l := range listed {
		if (l.Name == "erp") != (l.LastUsedAt != nil) {
			t.Fatalf("last use of %s: %v", l.Name, l.LastUsedAt)
		}
	}
	s.MustRun("token", "revoke", "--name", "erp")
	if code := get("/api/v1/subscribers"); code != 401 {
		t.Fatalf("GET with the revoked token = %d", code)
	}
	if code, _, _ := s.run("token", "revoke", "--name", "erp"); code != 1 {
		t.Fatalf("second revoke exit %d", code)
	}
}
