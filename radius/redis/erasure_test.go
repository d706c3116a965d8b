package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

// TestLiveForget: Forget removes an erased user's usage hash, online zset and every
// session hash, open or stopped (the stopped one found from the keys the caller gives),
// with their members in the NAS zsets; another user's keys stay, and a second call
// finds nothing to do.
func TestLiveForget(t *testing.T) {
	ctx := context.Background()
	c, l, rdb := MustStores(t, false)
	now := time.Now().Truncate(time.Second)
	// finn's usage is cached; erin's is not, so her records count a usage generation
	// (a key naming her too).
	if err := c.SetUsage(ctx, "finn", radius.Usage{Uptime: time.Minute, Bytes: 10}, 0); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*radius.AcctRecord{
		record("erin", "e1", radius.AcctStart, now, 0, 0, 0),
		record("erin", "e0", radius.AcctStart, now.Add(-time.Hour), 0, 0, 0),
		record("erin", "e0", radius.AcctStop, now.Add(-time.Minute), 60, 1, 2),
		record("finn", "f1", radius.AcctStart, now, 0, 0, 0),
	} {
		if _, _, _, err := l.Update(ctx, r, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	dump := func() string {
		keys, err := rdb.Keys(ctx, string(l.keys)+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(k + "=")
			switch rdb.Type(ctx, k).Val() {
			case "hash":
				for f, v := range rdb.HGetAll(ctx, k).Val() {
					b.WriteString(f + ":" + v + ",")
				}
			case "zset":
				b.WriteString(strings.Join(rdb.ZRange(ctx, k, 0, -1).Val(), ","))
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	if before := dump(); strings.Count(before, "erin") < 4 || !strings.Contains(before, "usegen:erin") || !strings.Contains(before, "1:e0") {
		t.Fatalf("before: %s", before)
	}
	keys := []radius.SessionKey{{NASID: 1, SessionID: "e0"}, {NASID: 1, SessionID: "e1"}}
	for range 2 {
		if err := l.Forget(ctx, "erin", keys); err != nil {
			t.Fatal(err)
		}
	}
	after := dump()
	if strings.Contains(after, "erin") || strings.Contains(after, "1:e0") || strings.Contains(after, "1:e1") {
		t.Fatalf("after Forget: %s", after)
	}
	if !strings.Contains(after, "use:finn") || !strings.Contains(after, "on:finn") || !strings.Contains(after, "sess:1:f1") || !strings.Contains(after, "1:f1") {
		t.Fatalf("finn's keys went too: %s", after)
	}
}
