package radiustest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/migrations"
)

// PrivatePostgres is a Postgres server of the test's own, started from the system's
// binaries, that the test may stop, crash and start again (an outage): the shared
// server must not go down under other tests.
type PrivatePostgres struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	as   string // user to run as when the test runs as root
	URL  string
}

// pgBinDir finds the directory holding pg_ctl and initdb.
func pgBinDir() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Strings(matches)
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1])
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
	}
	return ""
}

// MustPrivatePostgres initializes and starts a Postgres cluster in a temporary directory
// on a free loopback port, with an empty database "tollgate" (MustMigrate applies the
// migrations); it is stopped when the test ends. Without Postgres binaries the test is
// skipped, or fails under CI.
// Postgres refuses to run as root, so as root it runs as the system user tollgate-pg
// (created if missing, as scripts/services.sh does).
func MustPrivatePostgres(tb testing.TB) *PrivatePostgres {
	tb.Helper()
	bin := pgBinDir()
	if bin == "" {
		unavailable(tb, "radiustest: Postgres server binaries (initdb, pg_ctl) not found")
	}
	p := &PrivatePostgres{tb: tb, bin: bin}
	if os.Geteuid() == 0 {
		p.as = "tollgate-pg"
		if _, err := user.Lookup(p.as); err != nil {
			if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", p.as).CombinedOutput(); err != nil {
				tb.Fatalf("radiustest: useradd %s: %v: %s", p.as, err, out)
			}
		}
	}
	base, err := os.MkdirTemp("", "tollgate-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(base) })
	p.dir = filepath.Join(base, "data")
	if p.as != "" {
		if out, err := exec.Command("chown", p.as, base).CombinedOutput(); err != nil {
			tb.Fatalf("radiustest: chown: %v: %s", err, out)
		}
		os.Chmod(base, 0o755)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	p.must("initdb", "-A", "trust", "-U", "postgres", "-D", p.dir, "--no-sync")
	p.Start()
	tb.Cleanup(func() { p.run("pg_ctl", "-D", p.dir, "-m", "immediate", "-w", "stop") })
	p.must("psql", "-h", "127.0.0.1", "-p", fmt.Sprint(p.port), "-U", "postgres", "-d", "postgres", "-qc", "CREATE DATABASE tollgate")
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/tollgate?sslmode=disable", p.port)
	return p
}

func (p *PrivatePostgres) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if _, err := os.Stat(path); err != nil {
		path = name
	}
	if p.as != "" {
		return exec.Command("runuser", append([]string{"-u", p.as, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (p *PrivatePostgres) run(name string, args ...string) (string, error) {
	cmd := p.command(name, args...)
	cmd.Dir = os.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *PrivatePostgres) must(name string, args ...string) {
	p.tb.Helper()
	if out, err := p.run(name, args...); err != nil {
		p.tb.Fatalf("radiustest: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// Start starts the server and waits until it accepts connections.
func (p *PrivatePostgres) Start() {
	p.tb.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=on", p.port, filepath.Dir(p.dir))
	p.must("pg_ctl", "-D", p.dir, "-o", opts, "-l", filepath.Join(filepath.Dir(p.dir), "pg.log"), "-w", "start")
}

// Stop shuts the server down cleanly (pg_ctl -m fast): open connections are cut, and
// it checkpoints first.
func (p *PrivatePostgres) Stop() {
	p.tb.Helper()
	p.must("pg_ctl", "-D", p.dir, "-m", "fast", "-w", "stop")
}

// Crash stops the server the way a power cut would (pg_ctl -m immediate): no
// checkpoint, every connection cut; the next Start recovers from the WAL.
func (p *PrivatePostgres) Crash() {
	p.tb.Helper()
	p.must("pg_ctl", "-D", p.dir, "-m", "immediate", "-w", "stop")
}

// MustMigrate applies every migration to the database.
func (p *PrivatePostgres) MustMigrate() {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		p.tb.Fatalf("radiustest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := migrations.Apply(ctx, conn); err != nil {
		p.tb.Fatalf("radiustest: migrate: %v", err)
	}
}
