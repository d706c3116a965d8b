package pg

import (
	"os/exec"
	"strings"
	"testing"
)

// adapters are the Postgres adapters; each imports this package, never another adapter.
var adapters = []string{
	"tollgate/radius/postgres",
	"tollgate/billing/postgres",
	"tollgate/hotspot/postgres",
	"tollgate/portal/auth/postgres",
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

func TestAdaptersShareThisPackage(t *testing.T) {
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
