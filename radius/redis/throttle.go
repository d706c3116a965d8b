package redis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
)

var _ radius.Throttle = (*Throttle)(nil)

// ThrottleOptions are the limits of failed voucher logins. Zero values take the defaults.
type ThrottleOptions struct {
	// PerMAC failures from one device within Window block its voucher logins until the
	// window ends (default 10).
	PerMAC int64
	// PerNAS failures from one NAS within Window block every voucher login on it until
	// the window ends (default 100): guessing with a new MAC per try runs into it. It is
	// a trade: a guest on that hotspot cannot log in with a voucher meanwhile (subscribers
	// can), and the rejects are counted, so the operator sees the attack.
	PerNAS int64
	// Window is the fixed window the counts run over, from the first failure (default
	// 10 minutes).
	Window time.Duration
}

// Throttle counts failed voucher logins per device and per NAS in Redis, so that every
// replica sees the same counts (radius.Throttle). Its keys hold the MAC only as a hash.
type Throttle struct {
	rdb   redis.UniversalClient
	keys  keyspace
	names hmacPool
	opts  ThrottleOptions
}

// NewThrottle returns a Throttle under the key prefix; nameKey keys the hash of MACs in
// key names (the Cache's CodeKey will do; nil: a random key).
func NewThrottle(rdb redis.UniversalClient, prefix string, nameKey []byte, opts ThrottleOptions) *Throttle {
	if opts.PerMAC <= 0 {
		opts.PerMAC = 10
	}
	if opts.PerNAS <= 0 {
		opts.PerNAS = 100
	}
	if opts.Window <= 0 {
		opts.Window = 10 * time.Minute
	}
	return &Throttle{rdb: rdb, keys: keyspace(prefix), names: newHMACPool(nameKey), opts: opts}
}

// macKey is the failure counter of a device; "" (no Calling-Station-Id) has one of its own.
func (t *Throttle) macKey(mac string) string {
	var sum [sha256.Size]byte
	h := t.names.sum(sum[:0], "throttle mac ", mac)
	return string(t.keys) + "vfail:m:" + base64.RawURLEncoding.EncodeToString(h[:16])
}

func (t *Throttle) nasKey(nasID int64) string {
	return string(t.keys) + "vfail:n:" + strconv.FormatInt(nasID, 10)
}

// Blocked reports whether the device or the NAS is over its limit.
func (t *Throttle) Blocked(ctx context.Context, mac string, nasID int64) (bool, error) {
	vals, err := t.rdb.MGet(ctx, t.macKey(mac), t.nasKey(nasID)).Result()
	if err != nil {
		return false, fmt.Errorf("redis: throttle: %w", err)
	}
	m, n := count(vals[0]), count(vals[1])
	return m >= t.opts.PerMAC || n >= t.opts.PerNAS, nil
}

func count(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Fail counts one failure of the device and of the NAS; each counter expires Window
// after its first failure.
func (t *Throttle) Fail(ctx context.Context, mac string, nasID int64) error {
	mk, nk := t.macKey(mac), t.nasKey(nasID)
	_, err := t.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, mk)
		p.ExpireNX(ctx, mk, t.opts.Window)
		p.Incr(ctx, nk)
		p.ExpireNX(ctx, nk, t.opts.Window)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: throttle: %w", err)
	}
	return nil
}
