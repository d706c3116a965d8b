// Package server is tollgate's RADIUS engine: UDP listeners, the NAS secret snapshot,
// the RFC 5080 reply cache, bounded workers, Message-Authenticator (BlastRADIUS),
// PAP/CHAP/MS-CHAP authentication and Status-Server. It is the only package that
// imports layeh.com/radius; nothing of layeh's passes beyond it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"tollgate/radius"
)

// Accounts finds accounts with their password in clear. radius.Accounts satisfies it.
type Accounts interface {
	// Authorize returns the account with its usage and online count. ENOTFOUND.
	Authorize(ctx context.Context, username string) (*radius.Account, radius.Usage, error)
	// AuthorizeMAC is Authorize for the account bound to a normalized MAC. ENOTFOUND.
	AuthorizeMAC(ctx context.Context, mac string) (*radius.Account, radius.Usage, error)
	// FindByUsername returns the account alone (accounting). ENOTFOUND.
	FindByUsername(ctx context.Context, username string) (*radius.Account, error)
	// FindByMAC returns the account that may log in by a normalized MAC. ENOTFOUND.
	FindByMAC(ctx context.Context, mac string) (*radius.Account, error)
}

// Activator activates a voucher at its first accepted login and returns it with the
// activation's values (those of the request that won, when routers race). ENOTFOUND.
// radius.Accounts satisfies it.
type Activator interface {
	Activate(ctx context.Context, a *radius.Account, mac string, now time.Time) (*radius.Account, error)
}

// Config tunes the engine. Zero values take the defaults.
type Config struct {
	// AuthAddr is the UDP address for Access-Request and Status-Server (":1812").
	AuthAddr string
	// AcctAddr is the UDP address for Accounting-Request (":1813"); it is bound only when
	// SetAccounting was called.
	AcctAddr string
	// Workers handle packets; when all are busy and the queue is full, packets are
	// shed and counted (the NAS retransmits). Default 128.
	Workers int
	// Queue is the number of packets waiting for a worker. Default 4096.
	Queue int
	// Timeout is each packet's deadline, well inside RouterOS's 1.1 s. Default 800ms.
	Timeout time.Duration
	// ReplyTTL is how long a reply is kept for retransmits. Default 5s.
	ReplyTTL time.Duration
}

func (c *Config) defaults() {
	if c.AuthAddr == "" {
		c.AuthAddr = ":1812"
	}
	if c.AcctAddr == "" {
		c.AcctAddr = ":1813"
	}
	if c.Workers <= 0 {
		c.Workers = 128
	}
	if c.Queue <= 0 {
		c.Queue = 4096
	}
	if c.Timeout <= 0 {
		c.Timeout = 800 * time.Millisecond
	}
	if c.ReplyTTL <= 0 {
		c.ReplyTTL = 5 * time.Second
	}
}

// Server answers RADIUS. Create it with New, give it NASes with SetNAS, then Start.
type Server struct {
	cfg       Config
	accounts  Accounts
	authlog   radius.AuthLogger
	accounter radius.Accounter
	after     AfterAccounting
	activator atomic.Pointer[Activator]
	throttle  atomic.Pointer[radius.Throttle]
	log       *slog.Logger
	now       func() time.Time

	nas     atomic.Pointer[snapshot]
	replies *replyCache
	stats   Stats

	mu       sync.Mutex
	conns    []*net.UDPConn
	acctConn *net.UDPConn
	jobs     chan job
	readers  atomic.Int32
	lastLog  atomic.Int64
	wg       sync.WaitGroup
	started  bool
	shutdown bool
}

// New returns a server. authlog may be nil.
func New(cfg Config, accounts Accounts, authlog radius.AuthLogger, log *slog.Logger) *Server {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, accounts: accounts, authlog: authlog, log: log, now: time.Now, replies: newReplyCache()}
	s.nas.Store(newSnapshot(nil, nil))
	return s
}

// SetNAS replaces the NAS snapshot (secrets in clear). A NAS without a secret (one whose
// sealed secret could not be opened) is unusable: it is left out, so its packets are
// dropped and counted as from an unknown source, and it is named by UnusableNAS and
// counted by the nas_unusable gauge. Safe at any time, from any goroutine.
func (s *Server) SetNAS(list []radius.NAS) {
	s.mu.Lock() // one swap at a time, so that no reload carries over stale counters
	defer s.mu.Unlock()
	s.nas.Store(newSnapshot(list, s.nas.Load()))
}

// NASActivity returns the counters of every NAS in the snapshot, by name: what this
// process received from each since it started.
func (s *Server) NASActivity() []radius.NASActivity {
	snap := s.nas.Load()
	out := make([]radius.NASActivity, 0, len(snap.byID))
	for _, e := range snap.byID {
		out = append(out, e.activity())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NASName < out[j].NASName })
	return out
}

// UnusableNAS returns the names of the NASes the last SetNAS left out, sorted.
func (s *Server) UnusableNAS() []string {
	return append([]string(nil), s.nas.Load().unusable...)
}

// SetActivator makes accepted first logins of vouchers activate them. Safe at any time;
// without it (or with nil) vouchers are decided as they are read, never activated.
func (s *Server) SetActivator(a Activator) { s.activator.Store(&a) }

// SetThrottle limits failed voucher logins per device and NAS (nil: no limit). Safe at
// any time.
func (s *Server) SetThrottle(t radius.Throttle) { s.throttle.Store(&t) }

// NASByID returns the NAS with id from the current snapshot (secret in clear).
func (s *Server) NASByID(id int64) (radius.NAS, bool) {
	if e, ok := s.nas.Load().byID[id]; ok {
		return e.NAS, true
	}
	return radius.NAS{}, false
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// job is one datagram waiting for a worker.
type job struct {
	conn *net.UDPConn
	buf  *[]byte
	n    int
	src  netip.AddrPort
	nas  *nasEntry
	key  cacheKey
}

const maxPacket = 4096

var bufPool = sync.Pool{New: func() any { b := make([]byte, maxPacket+1); return &b }}

// Start binds the listeners and starts the workers.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server: already started")
	}
	conn, err := listen(s.cfg.AuthAddr)
	if err != nil {
		return err
	}
	s.conns = append(s.conns, conn)
	if s.accounter != nil {
		ac, err := listen(s.cfg.AcctAddr)
		if err != nil {
			conn.Close()
			s.conns = nil
			return err
		}
		s.conns = append(s.conns, ac)
		s.acctConn = ac
	}
	s.jobs = make(chan job, s.cfg.Queue)
	for i := 0; i < s.cfg.Workers; i++ {
		s.wg.Add(1)
		go s.worker()
	}
	s.readers.Store(int32(len(s.conns)))
	for _, c := range s.conns {
		s.wg.Add(1)
		go s.read(c)
	}
	s.started = true
	return nil
}

func listen(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: address %q: %w", addr, err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s: %w", addr, err)
	}
	// A larger receive buffer rides out bursts (a router reboot logs everyone in at once).
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	return c, nil
}

// AuthAddr returns the bound auth address (useful with port 0 in tests).
func (s *Server) AuthAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		return netip.AddrPort{}
	}
	return s.conns[0].LocalAddr().(*net.UDPAddr).AddrPort()
}

// AcctAddr returns the bound accounting address, if any.
func (s *Server) AcctAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acctConn == nil {
		return netip.AddrPort{}
	}
	return s.acctConn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Shutdown stops reading, lets queued packets finish until ctx ends, and closes the
// sockets. Calling it twice is safe.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.shutdown {
		s.mu.Unlock()
		return nil
	}
	s.shutdown = true
	for _, c := range s.conns {
		// Unblock ReadFrom without closing, so workers can still write replies.
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	for _, c := range s.conns {
		c.Close()
	}
	return err
}

// read is the only goroutine reading a socket: it finds the NAS, answers retransmits from
// the reply cache, and queues the rest; it never blocks on a worker.
func (s *Server) read(conn *net.UDPConn) {
	defer s.wg.Done()
	for {
		bp := bufPool.Get().(*[]byte)
		n, src, err := conn.ReadFromUDPAddrPort(*bp)
		if err != nil {
			bufPool.Put(bp)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
				if s.readers.Add(-1) == 0 {
					close(s.jobs) // the last reader gone: workers drain the queue and stop
				}
				return
			}
			s.log.LogAttrs(context.Background(), slog.LevelWarn, "radius: read", slog.String("err", err.Error()))
			continue
		}
		s.stats.Received.Add(1)
		if !s.accept(conn, bp, n, src) {
			bufPool.Put(bp)
		}
	}
}

// accept decides what to do with a datagram before any parsing; it reports whether it
// kept the buffer.
func (s *Server) accept(conn *net.UDPConn, bp *[]byte, n int, src netip.AddrPort) bool {
	b := (*bp)[:n]
	e := s.nas.Load().lookup(src.Addr())
	if e == nil {
		s.stats.UnknownNAS.Add(1)
		return false
	}
	now := s.now()
	e.counts.requests.Add(1)
	e.counts.lastSeen.Store(now.UnixNano())
	if n > maxPacket || n < 20 || int(b[2])<<8|int(b[3]) < 20 || int(b[2])<<8|int(b[3]) > n {
		s.drop(e, &s.stats.Malformed)
		return false
	}
	j := job{conn: conn, buf: bp, n: int(b[2])<<8 | int(b[3]), src: src, nas: e}
	j.key = cacheKey{src: src, code: b[0], id: b[1]}
	copy(j.key.auth[:], b[4:20])
	reply, inFlight := s.replies.begin(&j.key, now, s.cfg.ReplyTTL)
	switch {
	case reply != nil:
		s.stats.Duplicates.Add(1)
		_, _ = conn.WriteToUDPAddrPort(reply, src)
		return false
	case inFlight:
		s.stats.Duplicates.Add(1)
		return false
	}
	select {
	case s.jobs <- j:
		return true
	default:
		s.replies.finish(&j.key, nil)
		s.drop(e, &s.stats.Shed)
		return false
	}
}

func (s *Server) worker() {
	defer s.wg.Done()
	for j := range s.jobs {
		s.serve(j)
		bufPool.Put(j.buf)
	}
}

// drop counts a datagram from e left unanswered, in the server's counter c and in e's.
func (s *Server) drop(e *nasEntry, c *atomic.Uint64) {
	c.Add(1)
	e.counts.drops.Add(1)
}

// serve handles one packet with a deadline and a recover; a panic drops the packet.
func (s *Server) serve(j job) {
	finished := false
	defer func() {
		if r := recover(); r != nil {
			s.drop(j.nas, &s.stats.Internal)
			s.log.LogAttrs(context.Background(), slog.LevelError, "radius: panic", slog.String("nas", j.nas.Name), slog.Any("panic", r))
		}
		if !finished {
			s.replies.finish(&j.key, nil)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	reply, after := s.handle(ctx, j.nas, j.src.Addr(), (*j.buf)[:j.n], j.conn == s.acctConn)
	// Cache the reply before sending it: a retransmit that crosses the reply must find
	// it, not an in-flight entry that drops it.
	s.replies.finish(&j.key, reply)
	finished = true
	if reply != nil {
		if _, err := j.conn.WriteToUDPAddrPort(reply, j.src); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "radius: write", slog.String("nas", j.nas.Name), slog.String("err", err.Error()))
		}
	}
	if after != nil {
		after(ctx) // the live index and enforcement, once the NAS has its answer
	}
}
