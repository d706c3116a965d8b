package pg

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// known are the Postgres adapters there were when this test was written; MustAdapters
// finds every one there is now (a package named postgres), these included.
var known = []string{
	"tollgate/radius/postgres",
	"tollgate/billing/postgres",
	"tollgate/hotspot/postgres",
	"tollgate/portal/auth/postgres",
	"tollgate/webhook/postgres",
}

// MustAdapters returns the module's Postgres adapters: its packages whose path ends in
// /postgres, so that a new adapter is held to the rule without editing this test.
func MustAdapters(tb testing.TB) []string {
	tb.Helper()
	out, err := exec.Command("go", "list", "tollgate/...").Output()
	if err != nil {
		tb.Fatalf("go list tollgate/...: %v", err)
	}
	var found []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasSuffix(p, "/postgres") {
			found = append(found, p)
		}
	}
	for _, k := range known {
		if !slices.Contains(found, k) {
			tb.Fatalf("go list found %q, not the adapter %s", found, k)
		}
	}
	return found
}

// MustDeps returns the packages pkg depends on, itself included (go list -deps).
func MustDeps(tb testing.TB, pkg string) map[string]bool {
	tb.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		tb.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	return deps
}

// TestAdaptersShareThisPackage: every Postgres adapter imports this package, and none
// imports another adapter or go-redis.
func TestAdaptersShareThisPackage(t *testing.T) {
	adapters := MustAdapters(t)
	for _, a := range adapters {
		t.Run(a, func(t *testing.T) {
			deps := MustDeps(t, a)
			if !deps["tollgate/radius/pg"] {
				t.Errorf("%s does not use tollgate/radius/pg", a)
			}
			for _, other := range adapters {
				if other != a && deps[other] {
					t.Errorf("%s imports the sibling adapter %s", a, other)
				}
			}
			if deps["github.com/redis/go-redis/v9"] {
				t.Errorf("%s imports go-redis", a)
			}
		})
	}
}
