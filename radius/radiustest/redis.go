package radiustest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// PrivateRedis is a Redis server of the test's own (the system's redis-server, on a free
// loopback port, keeping nothing on disk) that the test may stop, freeze and start again:
// a Redis outage. Only the process it started is ever signalled.
type PrivateRedis struct {
	tb   testing.TB
	port int
	cmd  *exec.Cmd
	done chan struct{}
	URL  string
}

// MustPrivateRedis starts a Redis server; it is stopped when the test ends.
func MustPrivateRedis(tb testing.TB) *PrivateRedis {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unavailable(tb, "radiustest: redis-server not found")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &PrivateRedis{tb: tb, port: l.Addr().(*net.TCPAddr).Port}
	l.Close()
	r.URL = fmt.Sprintf("redis://127.0.0.1:%d/0", r.port)
	r.Start()
	tb.Cleanup(r.Stop)
	return r
}

// Start starts the server (again) and waits until it answers PING.
func (r *PrivateRedis) Start() {
	r.tb.Helper()
	if r.cmd != nil {
		return
	}
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		r.tb.Fatalf("radiustest: redis-server: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(r.done)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("radiustest: redis-server on %d never answered: %v", r.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL to the process Start began) and waits for it to exit:
// clients get "connection refused" until Start. Calling it twice is safe.
func (r *PrivateRedis) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a frozen server must be able to die
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// Freeze stops the server's process (SIGSTOP) without closing its socket: connections
// are accepted by the kernel but nothing answers, the worst kind of outage for a client.
// Thaw resumes it.
func (r *PrivateRedis) Freeze() {
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Thaw resumes a frozen server (SIGCONT).
func (r *PrivateRedis) Thaw() {
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
	}
}
