package portal

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoAdapter keeps the portal on domain types: neither it nor portal/auth may
// pull in a database driver or an adapter; cmd/tollgate wires those in.
func TestImportsNoAdapter(t *testing.T) {
	for _, pkg := range []string{"tollgate/portal", "tollgate/portal/auth"} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", pkg, err)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 2 {
				t.Fatalf("go list -deps %s listed %q", pkg, deps)
			}
			for _, d := range deps {
				switch {
				case strings.HasPrefix(d, "github.com/jackc/pgx"),
					strings.HasPrefix(d, "github.com/redis/go-redis"),
					strings.HasPrefix(d, "tollgate/") && (strings.HasSuffix(d, "/postgres") || strings.HasSuffix(d, "/redis") || strings.HasSuffix(d, "/pg")):
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
		})
	}
}
