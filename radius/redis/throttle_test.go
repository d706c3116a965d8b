package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"tollgate/radius/radiustest"
)

// TestThrottle: failures block a device at its limit and every device on a NAS at the
// NAS's limit, in Redis (so every replica sees them), until the window ends; keys hold
// no MAC in clear.
func TestThrottle(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := radiustest.MustRedis(t)
	th := NewThrottle(rdb, prefix, nil, ThrottleOptions{PerMAC: 3, PerNAS: 5, Window: 2 * time.Second})
	other := NewThrottle(rdb, prefix, nil, ThrottleOptions{PerMAC: 3, PerNAS: 5, Window: 2 * time.Second})
	other.names = th.names // a second replica with the same server key
	const mac, mac2 = "AA:BB:CC:DD:EE:01", "AA:BB:CC:DD:EE:02"
	mustBlocked := func(th *Throttle, mac string, nas int64, want bool) {
		t.Helper()
		got, err := th.Blocked(ctx, mac, nas)
		if err != nil || got != want {
			t.Fatalf("Blocked(%s, %d) = %v, %v; want %v", mac, nas, got, err, want)
		}
	}
	for i := 0; i < 3; i++ {
		mustBlocked(th, mac, 1, false)
		if err := th.Fail(ctx, mac, 1); err != nil {
			t.Fatal(err)
		}
	}
	mustBlocked(th, mac, 1, true)
	mustBlocked(other, mac, 1, true) // shared across replicas
	mustBlocked(th, mac2, 1, false)  // another device is not
	// Two more failures from new devices reach the NAS's limit: a guesser changing MAC
	// at every try is stopped too.
	for _, m := range []string{"AA:BB:CC:DD:EE:03", "AA:BB:CC:DD:EE:04"} {
		if err := th.Fail(ctx, m, 1); err != nil {
			t.Fatal(err)
		}
	}
	mustBlocked(th, mac2, 1, true)
	mustBlocked(th, mac2, 2, false) // another NAS is not
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, "AA:BB") {
			t.Fatalf("key %q holds a MAC", k)
		}
	}
	// The window ends: the counts are gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := th.Blocked(ctx, mac, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still blocked 10s after a 2s window")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
