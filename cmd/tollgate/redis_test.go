package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"tollgate/radius/radiustest"
)

// TestRedisURL reads REDIS_URL's two forms: one Redis, or Sentinels with the master's
// name and password.
func TestRedisURL(t *testing.T) {
	one, err := parseRedisURL("redis://:pw@10.0.0.5:6380/2")
	if err != nil || one.single == nil || one.single.Addr != "10.0.0.5:6380" || one.single.DB != 2 || one.single.Password != "pw" {
		t.Fatalf("single: %+v %v", one.single, err)
	}
	s, err := parseRedisURL("redis+sentinel://:sentinel-pw@10.0.0.1:26379/3?master_name=tg&addr=10.0.0.2:26379&addr=10.0.0.3:26379&password=master-pw")
	if err != nil || s.failover == nil {
		t.Fatalf("sentinel: %v", err)
	}
	fo := s.failover
	if fo.MasterName != "tg" || fo.DB != 3 || fo.Password != "master-pw" || fo.SentinelPassword != "sentinel-pw" ||
		!slices.Equal(fo.SentinelAddrs, []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"}) || fo.TLSConfig != nil {
		t.Fatalf("failover options %+v", fo)
	}
	if tls, err := parseRedisURL("rediss+sentinel://10.0.0.1:26379?master_name=tg"); err != nil || tls.failover.TLSConfig == nil {
		t.Fatalf("TLS sentinel: %v", err)
	}
	for _, bad := range []string{"redis+sentinel://10.0.0.1:26379/0", "http://nope", "redis+sentinel://10.0.0.1/0?master_name=x&bogus=1"} {
		if _, err := parseRedisURL(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
	if got := redactURL("redis+sentinel://:sentinel-pw@10.0.0.1:26379/3?master_name=tg&password=master-pw"); strings.Contains(got, "pw") && !strings.Contains(got, "xxxxx") {
		t.Errorf("redacted %s", got)
	}
}

// TestRedisSentinel finds the test Redis through a real Sentinel (redis-server
// --sentinel, started here and stopped by its PID) with a redis+sentinel:// URL.
func TestRedisSentinel(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	rd, prefix := radiustest.MustRedis(t)
	master := rd.Options().Addr
	host, port, _ := net.SplitHostPort(master)
	sport := freePort(t, "tcp")
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor tgtest %s %s 1\n", sport, dir, host, port), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the sentinel this test started, by its PID
		_ = cmd.Wait()
	})
	target, err := parseRedisURL(fmt.Sprintf("redis+sentinel://127.0.0.1:%d/%d?master_name=tgtest", sport, rd.Options().DB))
	if err != nil {
		t.Fatal(err)
	}
	c := target.client()
	defer c.Close()
	ctx := context.Background()
	key := prefix + "sentinel-check"
	deadline := time.Now().Add(10 * time.Second)
	for {
		err = c.Set(ctx, key, "via sentinel", time.Minute).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("set through the sentinel: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, err := rd.Get(ctx, key).Result(); err != nil || got != "via sentinel" {
		t.Fatalf("the master holds %q, %v", got, err)
	}
	var _ goredis.UniversalClient = c
}
