package redis

import (
	"context"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"tollgate/radius"
)

// The in-process layer in front of Redis. An Access-Request of an account this process
// read recently is answered from memory: the account as Redis held it and the user's
// usage and live-session deadlines as Redis held them, so no round trip is needed. Every
// write that changes what Redis holds for an account or a user (an invalidation, a
// usage fill, an accounting record, the reaper, an erasure) publishes the entry's name
// on one channel, in the same pipeline as the write and after it; every process drops
// what a message names. A process uses its layer only while its subscription is up, and
// empties it whenever the subscription is (re)made, so a message lost while the
// connection was down cannot leave a stale entry behind.
//
// A fill that raced a change is not stored: each entry name hashes to a generation
// counter that every message naming it bumps, and a fill is stored only when the
// counters it read before its round trip are unchanged after it.

// inval is the invalidation channel under the keyspace's prefix.
func (p keyspace) inval() string { return string(p) + "inval" }

// publishInval ends p with the invalidation message naming lines (none: nothing).
func publishInval(ctx context.Context, p redis.Pipeliner, ks keyspace, lines []string) {
	if len(lines) > 0 {
		p.Publish(ctx, ks.inval(), invalPayload(lines))
	}
}

// Message lines: a kind byte and the name. An account entry is named by its Redis key
// (a hash: no user name, code or MAC is published), a user's usage and sessions by the
// user name, which their own Redis keys carry already.
const (
	invalAccount = 'a'
	invalUser    = 'u'
)

// Local-layer lifetimes: how long an entry may be used without Redis being read again.
// Changes arrive as messages; these only bound what a message that never came could
// cost, and mirror the shorter lives Redis gives negative and voucher entries.
const (
	localTTL         = 5 * time.Minute
	localVoucherTTL  = 10 * time.Second
	localNegativeTTL = 2 * time.Second
	localShards      = 64
	localGenerations = 4096
)

type localAccount struct {
	a       *radius.Account // nil: a remembered absence
	expires int64           // unix nanoseconds
	name    string          // the Redis key, which messages name
}

type localUser struct {
	uptime, bytes int64
	cached        bool    // the usage hash existed
	gen           int64   // the usage generation, when it did not
	deadlines     []int64 // unix seconds of the live sessions, as of the read
	expires       int64
}

// A shard's accounts are keyed by the domain's key (radius.AccountKey and the like), so
// that a hit costs no hashing of the key into its Redis name; names maps the Redis names
// that messages carry back to those keys (in the shard of the name).
type localShard struct {
	mu       sync.RWMutex
	accounts map[string]localAccount
	names    map[string]string
	users    map[string]localUser
}

// local is the layer's state. The zero value is off.
type local struct {
	on     atomic.Bool
	epoch  atomic.Uint64 // bumped by every flush
	max    int           // per shard and map
	seed   maphash.Seed
	gens   [localGenerations]atomic.Uint64
	shards [localShards]localShard

	hits, fills, drops atomic.Int64
}

// defaultLocalSize is Options.LocalSize's default.
const defaultLocalSize = 100_000

func (l *local) init(size int) {
	if size <= 0 {
		size = defaultLocalSize
	}
	l.max = max(1, size/localShards)
	l.seed = maphash.MakeSeed()
	for i := range l.shards {
		l.shards[i].accounts = make(map[string]localAccount)
		l.shards[i].names = make(map[string]string)
		l.shards[i].users = make(map[string]localUser)
	}
}

func (l *local) hash(kind byte, name string) uint64 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteByte(kind)
	h.WriteString(name)
	return h.Sum64()
}

func (l *local) shard(h uint64) *localShard  { return &l.shards[h%localShards] }
func (l *local) gen(h uint64) *atomic.Uint64 { return &l.gens[(h>>8)%localGenerations] }

// stamp is what a fill reads before its round trip.
type stamp struct{ epoch, acct, user uint64 }

func (l *local) stamp(name, username string) stamp {
	st := l.stampAccount(name)
	st.user = l.gen(l.hash(invalUser, username)).Load()
	return st
}

// stampAccount is stamp for a fill of the account alone.
func (l *local) stampAccount(name string) stamp {
	return stamp{epoch: l.epoch.Load(), acct: l.gen(l.hash(invalAccount, name)).Load()}
}

// account returns the entry held under key, when it is current at ns.
func (l *local) account(key string, ns int64) (localAccount, bool) {
	sa := l.shard(l.hash(keyKind, key))
	sa.mu.RLock()
	la, ok := sa.accounts[key]
	sa.mu.RUnlock()
	return la, ok && ns < la.expires
}

// snapshotAccount is what an entry hands out: a copy of the account (the caller opens
// its password in place), or ENOTFOUND for a remembered absence.
func (la localAccount) snapshotAccount() (*radius.Account, error) {
	if la.a == nil {
		return nil, radius.Errorf(radius.ENOTFOUND, "account not found")
	}
	a := *la.a
	return &a, nil
}

// keyKind is the hash kind of a domain key (the shard of an account entry).
const keyKind = 'k'

// get returns a copy of the account under key and the user's usage at now, when both
// are held and current.
func (l *local) get(key, username string, now time.Time) (radius.AuthSnapshot, bool) {
	if !l.on.Load() {
		return radius.AuthSnapshot{}, false
	}
	ns := now.UnixNano()
	la, ok := l.account(key, ns)
	if !ok {
		return radius.AuthSnapshot{}, false
	}
	su := l.shard(l.hash(invalUser, username))
	su.mu.RLock()
	lu, ok := su.users[username]
	su.mu.RUnlock()
	if !ok || ns >= lu.expires {
		return radius.AuthSnapshot{}, false
	}
	var s radius.AuthSnapshot
	s.Account, s.AccountErr = la.snapshotAccount()
	if lu.cached {
		s.Usage.Uptime, s.Usage.Bytes, s.UsageCached = time.Duration(lu.uptime)*time.Second, lu.bytes, true
	} else {
		s.UsageGen = lu.gen
	}
	sec := now.Unix()
	for _, d := range lu.deadlines {
		if d >= sec {
			s.Usage.Online++
		}
	}
	l.hits.Add(1)
	return s, true
}

// put stores what a round trip read for key (Redis name name) and username, unless a
// message or a flush came since st.
func (l *local) put(st stamp, key, name, username string, s radius.AuthSnapshot, deadlines []int64, now time.Time) {
	if !l.on.Load() || (s.AccountErr != nil && radius.ErrorCode(s.AccountErr) != radius.ENOTFOUND) {
		return
	}
	if !l.putAccount(st, key, name, s.Account, now) {
		return
	}
	hu := l.hash(invalUser, username)
	lu := localUser{uptime: int64(s.Usage.Uptime / time.Second), bytes: s.Usage.Bytes, cached: s.UsageCached, gen: s.UsageGen,
		deadlines: deadlines, expires: now.UnixNano() + int64(localTTL)}
	su := l.shard(hu)
	su.mu.Lock()
	if l.gen(hu).Load() == st.user && l.epoch.Load() == st.epoch {
		if len(su.users) >= l.max {
			evictOne(su.users)
		}
		su.users[username] = lu
	}
	su.mu.Unlock()
	l.fills.Add(1)
}

// putAccount stores the account a (nil: a remembered absence) read for key (Redis name
// name), unless a message or a flush came since st, and reports whether it did.
//
// Against drop: putAccount registers the name, then stores the entry, checking the
// name's generation under each lock; drop bumps the generation and takes the name out
// under the name's lock, then deletes the entry under the key's lock. Whichever way they
// interleave, the entry is either refused or deleted.
func (l *local) putAccount(st stamp, key, name string, a *radius.Account, now time.Time) bool {
	if !l.on.Load() {
		return false
	}
	hn, ha := l.hash(invalAccount, name), l.hash(keyKind, key)
	if l.epoch.Load() != st.epoch || l.gen(hn).Load() != st.acct {
		return false
	}
	ns := now.UnixNano()
	la := localAccount{a: a, expires: ns + int64(localNegativeTTL), name: name}
	if a != nil {
		la.expires = ns + int64(localTTL)
		if a.IsVoucher() {
			la.expires = ns + int64(localVoucherTTL)
		}
	}
	sn := l.shard(hn)
	sn.mu.Lock()
	ok := l.gen(hn).Load() == st.acct && l.epoch.Load() == st.epoch
	if ok {
		sn.names[name] = key
	}
	sn.mu.Unlock()
	if !ok {
		return false
	}
	var evicted localAccount
	sa := l.shard(ha)
	sa.mu.Lock()
	ok = l.gen(hn).Load() == st.acct && l.epoch.Load() == st.epoch
	if ok {
		if len(sa.accounts) >= l.max {
			evicted = evictOne(sa.accounts)
		}
		sa.accounts[key] = la
	}
	sa.mu.Unlock()
	if evicted.name != "" {
		se := l.shard(l.hash(invalAccount, evicted.name))
		se.mu.Lock()
		delete(se.names, evicted.name)
		se.mu.Unlock()
	}
	return ok
}

// getAccount returns a copy of the account held under key (or ENOTFOUND for a remembered
// absence), when it is held and current.
func (l *local) getAccount(key string, now time.Time) (*radius.Account, bool, error) {
	if !l.on.Load() {
		return nil, false, nil
	}
	la, ok := l.account(key, now.UnixNano())
	if !ok {
		return nil, false, nil
	}
	l.hits.Add(1)
	a, err := la.snapshotAccount()
	return a, true, err
}

// evictOne drops an arbitrary entry (map iteration starts at a random one) and returns
// it.
func evictOne[V any](m map[string]V) V {
	for k, v := range m {
		delete(m, k)
		return v
	}
	var zero V
	return zero
}

// drop forgets the entry a message line names.
func (l *local) drop(kind byte, name string) {
	h := l.hash(kind, name)
	s := l.shard(h)
	s.mu.Lock()
	l.gen(h).Add(1) // under the lock: a put holding it sees the bump or precedes the delete
	var key string
	if kind == invalAccount {
		key = s.names[name]
		delete(s.names, name)
	} else {
		delete(s.users, name)
	}
	s.mu.Unlock()
	if key != "" {
		sa := l.shard(l.hash(keyKind, key))
		sa.mu.Lock()
		if sa.accounts[key].name == name {
			delete(sa.accounts, key)
		}
		sa.mu.Unlock()
	}
	l.drops.Add(1)
}

// flush forgets everything.
func (l *local) flush() {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		l.epoch.Add(1)
		clear(s.accounts)
		clear(s.names)
		clear(s.users)
		s.mu.Unlock()
	}
}

// invalAll is the message that empties every layer: a bulk change (an import of a
// million subscribers) names too many entries for one message.
const invalAll = "*"

// maxInvalLines is the most lines a message names before it is sent as invalAll.
const maxInvalLines = 1000

// invalPayload is the message naming lines, or invalAll when they are too many.
func invalPayload(lines []string) string {
	if len(lines) > maxInvalLines {
		return invalAll
	}
	return strings.Join(lines, "\n")
}

// apply drops what one message names: lines of a kind byte and a name, or everything.
func (l *local) apply(payload string) {
	if payload == invalAll {
		l.flush()
		return
	}
	for payload != "" {
		line, rest, _ := strings.Cut(payload, "\n")
		payload = rest
		l.dropLine(line)
	}
}

// dropLines drops what lines name in this process, as their message will in every
// other: everything when they are too many for one message.
func (l *local) dropLines(lines []string) {
	if len(lines) > maxInvalLines {
		l.flush()
		return
	}
	for _, line := range lines {
		l.dropLine(line)
	}
}

// dropLine drops the entry one message line names.
func (l *local) dropLine(line string) {
	if len(line) > 1 && (line[0] == invalAccount || line[0] == invalUser) {
		l.drop(line[0], line[1:])
	}
}

// invalLine is the message line naming an entry.
func invalLine(kind byte, name string) string { return string(kind) + name }

// LocalStats are the in-process layer's counters.
type LocalStats struct {
	On                 bool
	Hits, Fills, Drops int64
}

// LocalStats returns the in-process layer's counters.
func (c *Cache) LocalStats() LocalStats {
	return LocalStats{On: c.local.on.Load(), Hits: c.local.hits.Load(), Fills: c.local.fills.Load(), Drops: c.local.drops.Load()}
}

// Subscription health: a quiet subscription is pinged every localPing, and one that
// heard nothing, not even a pong, for localDead is made again (the layer is off
// meanwhile), so a connection that died without a reset cannot keep stale entries on.
const (
	localPing = 2 * time.Second
	localDead = 5 * time.Second
)

// StartLocal turns the in-process layer on: it subscribes to the invalidation channel
// and keeps the layer on while the subscription is up, until ctx ends. Call it once,
// before or after Start; the layer is off again once ctx ended or the returned stop
// was called (stop returns once the subscription is closed). onError, when set, hears
// of each broken subscription (the layer is off until the subscription is made again).
func (c *Cache) StartLocal(ctx context.Context, onError func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			c.local.on.Store(false)
			c.local.flush()
		}()
		off := func(err error) {
			if c.local.on.Swap(false) && onError != nil {
				onError(err)
			}
			c.local.flush()
		}
		for ctx.Err() == nil {
			c.subscribe(ctx, off)
			select { // a server that refuses at once is not tried in a spin
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() {
		cancel()
		if ps := c.localPS.Load(); ps != nil {
			_ = ps.Close() // a receive blocked on a quiet channel returns at once
		}
		<-done
	}
}

// subscribe runs one subscription until it breaks or ctx ends.
func (c *Cache) subscribe(ctx context.Context, off func(error)) {
	ps := c.rdb.Subscribe(ctx, c.keys.inval())
	c.localPS.Store(ps)
	defer ps.Close()
	heard := time.Now()
	for {
		msg, err := ps.ReceiveTimeout(ctx, localPing)
		if ctx.Err() != nil {
			return
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			// (Re)subscribed: whatever was held may have missed messages.
			c.local.flush()
			c.local.on.Store(m.Kind == "subscribe")
		case *redis.Message:
			c.local.apply(m.Payload)
		case *redis.Pong:
		default:
			if err == nil {
				continue
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && time.Since(heard) < localDead {
				if perr := ps.Ping(ctx); perr == nil {
					continue
				}
			}
			off(err)
			return
		}
		heard = time.Now()
	}
}
