package postgres

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/migrations"
)

// pgServer is a Postgres of the test's own, in a temporary directory, that the test
// can stop and start: the shared server must not go down under other tests.
type pgServer struct {
	tb        testing.TB
	bin, dir  string
	port      int
	runAs     string // the user to run as when the test runs as root ("" otherwise)
	connected bool
}

// pgServerUser is who runs a private Postgres when the tests run as root, which
// Postgres refuses.
const pgServerUser = "tollgate-pg"

// MustPrivatePostgres initializes and starts a Postgres under tb.TempDir(), with every
// migration applied, and stops it when the test ends. Without Postgres binaries the
// test is skipped, or fails under CI.
func MustPrivatePostgres(tb testing.TB) *pgServer {
	tb.Helper()
	unavailable := func(format string, args ...any) {
		tb.Helper()
		if os.Getenv("CI") == "true" {
			tb.Fatalf(format, args...)
		}
		tb.Skipf(format, args...)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		bins = append(bins, filepath.Join(string(out[:len(out)-1]), "initdb"))
	}
	bins = slices.DeleteFunc(bins, func(p string) bool { _, err := os.Stat(p); return err != nil })
	if len(bins) == 0 {
		unavailable("no Postgres binaries (initdb) found")
	}
	slices.Sort(bins)
	s := &pgServer{tb: tb, bin: filepath.Dir(bins[len(bins)-1]), dir: tb.TempDir()}

	if os.Geteuid() == 0 {
		u, err := user.Lookup(pgServerUser)
		if err != nil {
			unavailable("running as root, and there is no user %s to run Postgres as: %v", pgServerUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.runAs = pgServerUser
		if err := os.Chown(s.dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		// The test's temporary directories are 0700; the server must reach its own.
		for d := filepath.Dir(s.dir); d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o711); err != nil {
				tb.Fatal(err)
			}
		}
	}
	s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()

	s.Start()
	tb.Cleanup(func() {
		if s.connected {
			_ = s.cmd("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop").Run()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := migrations.Apply(ctx, conn); err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s *pgServer) data() string { return filepath.Join(s.dir, "data") }

// URL returns the server's URL.
func (s *pgServer) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", s.port)
}

func (s *pgServer) cmd(name string, args ...string) *exec.Cmd {
	name = filepath.Join(s.bin, name)
	if s.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", s.runAs, "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (s *pgServer) run(name string, args ...string) {
	s.tb.Helper()
	if out, err := s.cmd(name, args...).CombinedOutput(); err != nil {
		s.tb.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
}

// Start starts the server and waits until it accepts connections.
func (s *pgServer) Start() {
	s.tb.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", s.port, s.dir)
	s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts, "-w", "start")
	s.connected = true
}

// Crash stops the server the way a power cut would: no checkpoint, every connection cut.
func (s *pgServer) Crash() {
	s.tb.Helper()
	s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
	s.connected = false
}

func TestAcctWriterPostgresRestart(t *testing.T) {
	srv := MustPrivatePostgres(t)
	pool, err := pgxpool.New(context.Background(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	w := MustAcctWriter(t, pool, AcctWriterOptions{RetryEvery: 50 * time.Millisecond, WriteTimeout: time.Second})

	// Records keep coming, for a second at least, while Postgres crashes twice.
	const goroutines, records = 64, 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		MustGoroutineSessions(t, w, goroutines, records, 5*time.Millisecond)
	}()
	for range 2 {
		time.Sleep(150 * time.Millisecond)
		srv.Crash()
		time.Sleep(300 * time.Millisecond)
		srv.Start()
	}
	<-done
	MustWaitFor(t, "the spool to replay", 30*time.Second, func() bool { return w.Backlog() == 0 })
	t.Logf("committed %d, spooled %d, replayed %d", w.Committed(), w.Spooled(), w.Replayed())
	MustGoroutineRows(t, pool, goroutines, records)
	if w.Spooled() == 0 {
		t.Fatal("nothing was spooled: the outages did not happen while records came")
	}
	if w.Replayed() != w.Spooled() || w.Dropped() != 0 {
		t.Fatalf("spooled %d, replayed %d, dropped %d", w.Spooled(), w.Replayed(), w.Dropped())
	}
}
