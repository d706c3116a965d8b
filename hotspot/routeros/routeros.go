// Package routeros is the RouterOS API adapter: it logs in to a router's API (TCP 8728,
// or api-ssl on 8729) with github.com/go-routeros/routeros/v3, the only package that
// imports it, and gives radius.Router: the router's health, its active PPP and HotSpot
// lists, and the removal of an entry.
//
// go-routeros v3.0.0 has known bugs (mikrotik-radius.md §6); this adapter avoids each:
//
//   - `!empty` (RouterOS 7.18+): the connection drops those sentences before the client
//     reads them (wire), so an empty print is a `!done` alone, as before 7.18, in step.
//   - Cancelling a context kills the connection, and async mode registers a command's
//     tag only after sending it (a fast answer is lost): the client runs in sync mode
//     and is never given a context. Deadlines on the connection bound every command
//     instead; a command that times out drops the connection, since its late answer
//     would answer the next command, and the next call dials again.
//   - Sync mode ignores contexts and is not safe for concurrent use: the login and each
//     command run under a connection deadline, and one command at a time per router.
//   - Listen and Async leave a goroutine waiting on their context for good: neither is
//     used, so a connection leaves nothing behind when it closes.
//   - The login sends the password in clear (RouterOS 6.43+): TLS (api-ssl) with the
//     certificate verified or pinned by its SHA-256. The client's own logger, which
//     prints every sentence, the password too, at Debug, is discarded.
package routeros

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ros "github.com/go-routeros/routeros/v3"

	"tollgate/radius"
)

// Options configure a Pool. Zero fields take the defaults.
type Options struct {
	// DialTimeout bounds connecting, the TLS handshake and the login. Default 5s.
	DialTimeout time.Duration
	// CallTimeout bounds one command. Default 10s.
	CallTimeout time.Duration
	Log         *slog.Logger
}

// Pool keeps one API connection per router, dialled on first use and again after it
// failed. It is safe for concurrent use; Close closes every connection.
type Pool struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	conns  map[int64]*conn
	closed bool

	polls   [numResults]atomic.Uint64 // Health calls by result
	dials   atomic.Uint64
	empties atomic.Uint64
}

var _ radius.RouterDialer = (*Pool)(nil)

// New returns a Pool.
func New(opts Options) *Pool {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{opts: opts, log: log, conns: map[int64]*conn{}}
}

// Router returns t's API (t.API.Password in clear). A connection is reused while the
// NAS's API settings stay the same; changed settings close it.
func (p *Pool) Router(t radius.RouterTarget) radius.Router {
	p.mu.Lock()
	c := p.conns[t.NASID]
	var old *conn
	if c != nil && !c.same(&t.API) {
		old, c = c, nil
	}
	if c == nil {
		t.API.Password = bytes.Clone(t.API.Password)
		c = &conn{pool: p, t: t}
		if !p.closed {
			p.conns[t.NASID] = c
		}
	}
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
	return c
}

// Close closes every connection. Routers handed out before fail from then on. Calling it
// twice is safe.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[int64]*conn{}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Dials returns how many connections the pool opened (logged in or not).
func (p *Pool) Dials() uint64 { return p.dials.Load() }

// Empties returns how many `!empty` sentences were dropped from replies.
func (p *Pool) Empties() uint64 { return p.empties.Load() }

// errPoolClosed is returned by the Routers of a closed Pool.
var errPoolClosed = errors.New("routeros: pool closed")

// Error is a failed API call; Kind is one of the poll results but "ok" (metrics.go).
type Error struct {
	Kind string
	Err  error
}

// Error returns the cause's message.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// conn is one router's connection. mu serializes the commands: go-routeros's sync mode
// is one command at a time.
type conn struct {
	pool *Pool
	t    radius.RouterTarget

	mu     sync.Mutex
	nc     net.Conn
	client *ros.Client
}

var _ radius.Router = (*conn)(nil)

// same reports whether the connection was made with api.
func (c *conn) same(api *radius.RouterAPI) bool {
	a := &c.t.API
	return a.Address == api.Address && a.User == api.User && a.TLS == api.TLS &&
		bytes.Equal(a.Password, api.Password) && bytes.Equal(a.Fingerprint, api.Fingerprint)
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop()
}

// drop closes the connection; the next command dials again. c.mu is held.
func (c *conn) drop() {
	if c.client != nil {
		_ = c.client.Close() // closes nc too
	} else if c.nc != nil {
		_ = c.nc.Close()
	}
	c.client, c.nc = nil, nil
}

// tlsConfig verifies the router's certificate: pinned by its SHA-256, or against the
// system's roots and the host name.
func (c *conn) tlsConfig(host string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if fp := c.t.API.Fingerprint; fp != nil {
		cfg.InsecureSkipVerify = true // replaced by the pin below
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the router sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(sum[:], fp) != 1 {
				return fmt.Errorf("the router's certificate has SHA-256 %x, not the pinned fingerprint", sum)
			}
			return nil
		}
	}
	return cfg
}

// dial connects and logs in, within the dial timeout and ctx. go-routeros logs in in
// sync mode, which ignores contexts: a deadline on the connection bounds it.
func (c *conn) dial(ctx context.Context) error {
	p := c.pool
	p.dials.Add(1)
	ctx, cancel := context.WithTimeout(ctx, p.opts.DialTimeout)
	defer cancel()
	addr := c.t.API.Address
	var (
		nc  net.Conn
		err error
	)
	if c.t.API.TLS {
		host, _, _ := net.SplitHostPort(addr)
		nc, err = (&tls.Dialer{Config: c.tlsConfig(host)}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return &Error{Kind: resultConnect, Err: fmt.Errorf("routeros: connect to %s (NAS %s): %w", addr, c.t.NASName, err)}
	}
	deadline, _ := ctx.Deadline()
	stop := interrupt(ctx, nc, deadline)
	client, _ := ros.NewClient(newWire(nc, &p.empties))
	client.SetLogHandler(slog.DiscardHandler) // it would log the login's password
	err = client.Login(c.t.API.User, string(c.t.API.Password))
	stop()
	if err != nil {
		_ = client.Close()
		kind := resultLogin
		if isTimeout(err) {
			kind = resultTimeout
		}
		var de *ros.DeviceError
		if errors.As(err, &de) {
			err = errors.New(de.Sentence.Map["message"])
		}
		return &Error{Kind: kind, Err: fmt.Errorf("routeros: log in to %s (NAS %s) as %q: %w", addr, c.t.NASName, c.t.API.User, err)}
	}
	c.nc, c.client = nc, client
	return nil
}

// interrupt sets nc's deadline, and moves it to now when ctx ends first, so that a
// blocked read or write returns. The returned function clears both.
func interrupt(ctx context.Context, nc net.Conn, deadline time.Time) func() {
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		_ = nc.SetDeadline(time.Time{})
	}
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// run sends one command and returns the attribute maps of its !re sentences. A !trap is
// returned as an error and keeps the connection; any other failure drops it, as its
// reply, or the rest of it, may still come and would answer the next command. A
// connection the router closed while it was idle (it restarted, or dropped idle API
// sessions) is found out by the command that uses it next: that command dials again and
// is sent once more.
func (c *conn) run(ctx context.Context, words ...string) ([]map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool.isClosed() {
		c.drop()
		return nil, &Error{Kind: resultError, Err: errPoolClosed}
	}
	reused := c.client != nil
	if !reused {
		if err := c.dial(ctx); err != nil {
			return nil, err
		}
	}
	out, err := c.runOnce(ctx, words)
	if err != nil && reused && closedByPeer(err) {
		if err := c.dial(ctx); err != nil {
			return nil, err
		}
		out, err = c.runOnce(ctx, words)
	}
	return out, err
}

// closedByPeer reports whether err says the router closed the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// runOnce runs one command on the open connection. c.mu is held.
func (c *conn) runOnce(ctx context.Context, words []string) ([]map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.pool.opts.CallTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	stop := interrupt(ctx, c.nc, deadline)
	reply, err := c.client.RunArgs(words)
	stop()
	var de *ros.DeviceError
	switch {
	case errors.As(err, &de) && de.Sentence.Word == "!trap":
		return nil, &Error{Kind: resultError, Err: fmt.Errorf("routeros: %s on NAS %s: %s", words[0], c.t.NASName, de.Sentence.Map["message"])}
	case err != nil:
		c.drop()
		kind := resultError
		if isTimeout(err) {
			kind = resultTimeout
		}
		return nil, &Error{Kind: kind, Err: fmt.Errorf("routeros: %s on NAS %s: %w", words[0], c.t.NASName, err)}
	case reply == nil || reply.Done == nil:
		c.drop()
		return nil, &Error{Kind: resultError, Err: fmt.Errorf("routeros: %s on NAS %s: the reply ended early", words[0], c.t.NASName)}
	}
	out := make([]map[string]string, len(reply.Re))
	for i, s := range reply.Re {
		out[i] = s.Map
	}
	return out, nil
}

// Health reads /system/resource.
func (c *conn) Health(ctx context.Context) (radius.RouterHealth, error) {
	h, err := c.health(ctx)
	kind := resultOK
	if err != nil {
		kind = resultError
		var e *Error
		if errors.As(err, &e) {
			kind = e.Kind
		}
	}
	c.pool.polls[resultIndex(kind)].Add(1)
	return h, err
}

func (c *conn) health(ctx context.Context) (radius.RouterHealth, error) {
	h := radius.RouterHealth{NASID: c.t.NASID, NASName: c.t.NASName}
	res, err := c.run(ctx, "/system/resource/print", "=.proplist=version,uptime,cpu-load,free-memory,total-memory,board-name")
	if err != nil {
		return h, err
	}
	if len(res) != 1 {
		return h, &Error{Kind: resultError, Err: fmt.Errorf("routeros: /system/resource/print on NAS %s gave %d entries", c.t.NASName, len(res))}
	}
	m := res[0]
	h.Version, h.BoardName = m["version"], m["board-name"]
	h.Uptime, _ = ParseDuration(m["uptime"])
	h.CPULoad, _ = strconv.Atoi(m["cpu-load"])
	h.FreeMemory, _ = strconv.ParseInt(m["free-memory"], 10, 64)
	h.TotalMemory, _ = strconv.ParseInt(m["total-memory"], 10, 64)
	return h, nil
}

// The lists of active sessions: how each is printed, queried and removed.
var lists = []struct {
	name, print, remove, userField string
	proplist                       string
}{
	{radius.ListPPP, "/ppp/active/print", "/ppp/active/remove", "name", "=.proplist=.id,name,address,caller-id,session-id,uptime,radius"},
	{radius.ListHotspot, "/ip/hotspot/active/print", "/ip/hotspot/active/remove", "user", "=.proplist=.id,user,address,mac-address,uptime,radius"},
}

// ActiveSessions lists /ppp/active and /ip/hotspot/active.
func (c *conn) ActiveSessions(ctx context.Context) ([]radius.RouterSession, error) {
	return c.active(ctx, func(string) string { return "" })
}

// FindActiveSessions lists the entries of both lists with address addr when it is
// valid (`?address=`), else those of user (`?name=` on /ppp/active, `?user=` on
// /ip/hotspot/active).
func (c *conn) FindActiveSessions(ctx context.Context, user string, addr netip.Addr) ([]radius.RouterSession, error) {
	if addr.IsValid() {
		q := "?address=" + addr.Unmap().String()
		return c.active(ctx, func(string) string { return q })
	}
	if user == "" {
		return nil, radius.Errorf(radius.EINVALID, "api: find a session by its user or address")
	}
	return c.active(ctx, func(userField string) string { return "?" + userField + "=" + user })
}

// active prints both lists, each with the query query returns for the list's user
// field ("" for none).
func (c *conn) active(ctx context.Context, query func(userField string) string) ([]radius.RouterSession, error) {
	var out []radius.RouterSession
	for _, l := range lists {
		words := []string{l.print, l.proplist}
		if q := query(l.userField); q != "" {
			words = append(words, q)
		}
		res, err := c.run(ctx, words...)
		if err != nil {
			return nil, err
		}
		for _, m := range res {
			s := radius.RouterSession{List: l.name, ID: m[".id"], User: m[l.userField], SessionID: m["session-id"], RADIUS: m["radius"] == "true"}
			s.Address, _ = netip.ParseAddr(m["address"])
			s.MAC = m["mac-address"]
			if l.name == radius.ListPPP {
				s.MAC = m["caller-id"] // a PPPoE client's MAC
			}
			if mac, ok := radius.NormalizeMAC(s.MAC); ok {
				s.MAC = mac
			}
			s.Uptime, _ = ParseDuration(m["uptime"])
			out = append(out, s)
		}
	}
	return out, nil
}

// RemoveActiveSession removes an entry by its .id from its list.
func (c *conn) RemoveActiveSession(ctx context.Context, s radius.RouterSession) error {
	for _, l := range lists {
		if l.name == s.List {
			if s.ID == "" {
				return radius.Errorf(radius.EINVALID, "api: the entry of %q has no .id", s.User)
			}
			_, err := c.run(ctx, l.remove, "=.id="+s.ID)
			return err
		}
	}
	return radius.Errorf(radius.EINVALID, "api: unknown list %q", s.List)
}

// ParseDuration reads a RouterOS duration: "1w2d3h4m5s" (any of the units, in that
// order, and "ms"), or "1d02:03:04" / "02:03:04" as older versions print it.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	if s == "" {
		return 0, fmt.Errorf("routeros: empty duration")
	}
	var d time.Duration
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		// [..d]hh:mm:ss: the units before the clock, then the clock.
		j := strings.LastIndexAny(s[:i], "wd")
		clock := s[j+1:]
		parts := strings.Split(clock, ":")
		if len(parts) != 3 {
			return 0, fmt.Errorf("routeros: duration %q", orig)
		}
		for k, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
			n, err := strconv.ParseUint(parts[k], 10, 32)
			if err != nil || len(parts[k]) > 6 {
				return 0, fmt.Errorf("routeros: duration %q", orig)
			}
			d += time.Duration(n) * unit
		}
		if s = s[:j+1]; s == "" {
			return d, nil
		}
	}
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}}
	next := 0
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 6 { // a million weeks and less: no overflow
			return 0, fmt.Errorf("routeros: duration %q", orig)
		}
		n, _ := strconv.Atoi(s[:i])
		s = s[i:]
		ok := false
		for k := next; k < len(units); k++ {
			if units[k].suffix == "m" && strings.HasPrefix(s, "ms") {
				continue
			}
			if strings.HasPrefix(s, units[k].suffix) {
				d += time.Duration(n) * units[k].unit
				s, next, ok = s[len(units[k].suffix):], k+1, true
				break
			}
		}
		if !ok {
			return 0, fmt.Errorf("routeros: duration %q", orig)
		}
	}
	return d, nil
}
