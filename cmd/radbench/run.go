package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var errTimeout = errors.New("timeout")

// mode is one kind of traffic. transact performs one unit of work for user u
// on worker w (for auth modes one Access-Request; for acct a whole
// Start/Interim/Stop session) and records outcomes into w.st.
// requestsPerUnit is the number of requests one transact sends, counted
// against -requests.
type mode interface {
	name() string
	needsAuthConn() bool
	needsAcctConn() bool
	requestsPerUnit() int64
	transact(w *worker, u int)
}

func newMode(cfg *config, users *userCache) (mode, error) {
	switch cfg.Mode {
	case "pap", "chap", "mschapv2":
		return newAuthMode(cfg, users)
	case "acct":
		return newAcctMode(cfg, users)
	}
	return nil, fmt.Errorf("unknown mode %q", cfg.Mode)
}

// stats are per-worker counters for one phase; merged at the end.
type stats struct {
	sent       uint64 // requests issued (retransmissions not included)
	completed  uint64 // requests that got a reply with a matching Identifier
	accepts    uint64 // verified replies by code
	rejects    uint64
	timeouts   uint64
	errors     uint64 // socket errors, verification failures, unexpected codes
	retrans    uint64
	stale      uint64 // replies with a non-matching Identifier (ignored)
	noReplyMA  uint64 // verified replies without Message-Authenticator
	tsFallback uint64 // -latency kernel: replies timed by the app (no usable kernel timestamp)
	hist       *histogram
	samples    []string // first few distinct error messages
}

func newStats() *stats { return &stats{hist: newHistogram()} }

func (s *stats) fail(err error) {
	s.errors++
	if len(s.samples) < 3 {
		msg := err.Error()
		for _, m := range s.samples {
			if m == msg {
				return
			}
		}
		s.samples = append(s.samples, msg)
	}
}

func (s *stats) merge(o *stats) {
	s.sent += o.sent
	s.completed += o.completed
	s.accepts += o.accepts
	s.rejects += o.rejects
	s.timeouts += o.timeouts
	s.errors += o.errors
	s.retrans += o.retrans
	s.stale += o.stale
	s.noReplyMA += o.noReplyMA
	s.tsFallback += o.tsFallback
	s.hist.merge(o.hist)
	for _, m := range o.samples {
		dup := false
		for _, x := range s.samples {
			dup = dup || x == m
		}
		if !dup && len(s.samples) < 5 {
			s.samples = append(s.samples, m)
		}
	}
}

// worker owns its sockets and all per-request scratch state.
type worker struct {
	cfg      *config
	authConn *net.UDPConn
	acctConn *net.UDPConn
	rng      *rand.ChaCha8
	nextID   byte
	rbuf     [maxPacket]byte
	oob      [rxOOBLen]byte // control messages (SCM_TIMESTAMPNS), reused
	kernelTS bool           // -latency kernel: read with recvmsg and use the kernel RX timestamp
	tsErr    error          // enabling SO_TIMESTAMPNS failed (replies then fall back)
	ver      *verifier
	st       *stats
	auth     authScratch // used by auth modes
	acct     acctScratch // used by acct mode
}

func newWorker(cfg *config, m mode) (*worker, error) {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, err
	}
	w := &worker{cfg: cfg, rng: rand.NewChaCha8(seed), ver: newVerifier([]byte(cfg.Secret))}
	w.nextID = byte(w.rng.Uint64())
	w.kernelTS = cfg.Latency == "kernel"
	var err error
	if m.needsAuthConn() {
		if w.authConn, err = dialLoopback(cfg.Server); err != nil {
			return nil, err
		}
		w.enableTS(w.authConn)
	}
	if m.needsAcctConn() {
		if w.acctConn, err = dialLoopback(cfg.AcctServer); err != nil {
			w.close()
			return nil, err
		}
		w.enableTS(w.acctConn)
	}
	return w, nil
}

// enableTS turns on kernel receive timestamps for conn in -latency kernel
// mode. A failure is remembered (and reported once by run); the replies on
// conn are then timed by the application and counted as fallbacks.
func (w *worker) enableTS(conn *net.UDPConn) {
	if !w.kernelTS {
		return
	}
	if err := enableRxTimestamp(conn); err != nil && w.tsErr == nil {
		w.tsErr = err
	}
}

func (w *worker) close() {
	if w.authConn != nil {
		w.authConn.Close()
	}
	if w.acctConn != nil {
		w.acctConn.Close()
	}
}

// dialLoopback resolves addr and connects a UDP socket to it, re-checking that
// the resolved address is loopback (e.g. for "localhost").
func dialLoopback(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	if !ua.IP.IsLoopback() {
		return nil, fmt.Errorf("%s resolved to non-loopback %s; refusing", addr, ua.IP)
	}
	return net.DialUDP("udp", nil, ua)
}

func (w *worker) id() byte {
	id := w.nextID
	w.nextID++
	return id
}

// exchange sends req and waits for a reply with the same Identifier,
// retransmitting the identical bytes up to cfg.Retries times. Replies with
// other Identifiers (late answers to earlier requests) are skipped. The
// returned slice aliases w.rbuf. Latency is measured from the first send to
// the reply's arrival (see latency).
func (w *worker) exchange(conn *net.UDPConn, req []byte) ([]byte, time.Duration, error) {
	id := req[1]
	start := time.Now() // wall and monotonic readings, immediately before the first Write
	for attempt := 0; attempt <= w.cfg.Retries; attempt++ {
		if attempt > 0 {
			w.st.retrans++
		}
		if _, err := conn.Write(req); err != nil {
			return nil, 0, err
		}
		if err := conn.SetReadDeadline(time.Now().Add(w.cfg.Timeout)); err != nil {
			return nil, 0, err
		}
		for {
			var n, oobn int
			var err error
			if w.kernelTS {
				n, oobn, _, _, err = conn.ReadMsgUDPAddrPort(w.rbuf[:], w.oob[:])
			} else {
				n, err = conn.Read(w.rbuf[:])
			}
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // next attempt
				}
				return nil, 0, err
			}
			if n < 20 || w.rbuf[1] != id {
				w.st.stale++
				continue
			}
			return w.rbuf[:n], w.latency(start, w.oob[:oobn]), nil
		}
	}
	return nil, 0, errTimeout
}

// latency returns the time from start to the arrival of the reply whose
// control messages are oob. In -latency kernel mode the arrival is the
// kernel's receive timestamp (CLOCK_REALTIME, compared with start's wall
// clock); without a usable one (none attached, or before start after a clock
// step) it falls back to the application time now and counts the fallback.
func (w *worker) latency(start time.Time, oob []byte) time.Duration {
	if w.kernelTS {
		if rx, ok := parseRxTimestamp(oob); ok {
			if d := rx - start.UnixNano(); d >= 0 {
				return time.Duration(d)
			}
		}
		w.st.tsFallback++
	}
	return time.Since(start)
}

// phase is one bounded stretch of traffic (warm-up or measured).
type phase struct {
	stop   atomic.Bool
	limit  int64 // 0 = unlimited
	issued atomic.Int64
	nextU  atomic.Uint64
	users  int
	random bool
}

func (ph *phase) pick(w *worker) int {
	if ph.random {
		return int(w.rng.Uint64() % uint64(ph.users))
	}
	return int((ph.nextU.Add(1) - 1) % uint64(ph.users))
}

// workerLoop runs units of work until the phase stops. A unit is started only
// when all of its requests fit into the limit, so a session is never cut.
func (ph *phase) workerLoop(w *worker, m mode) {
	cost := m.requestsPerUnit()
	for !ph.stop.Load() {
		if ph.limit > 0 && ph.issued.Add(cost) > ph.limit {
			ph.stop.Store(true)
			return
		}
		m.transact(w, ph.pick(w))
	}
}

// runPhase runs all workers until d elapses (d > 0), limit requests have been
// issued (limit > 0), or ctx is cancelled. In-flight requests complete (bounded
// by timeout×(retries+1)). It returns the merged stats and the elapsed time.
func runPhase(ctx context.Context, cfg *config, m mode, workers []*worker, d time.Duration, limit int64) (*stats, time.Duration) {
	ph := &phase{limit: limit, users: cfg.Users, random: cfg.Pick == "random"}
	if cfg.Pick == "seq" {
		// Start each phase at a random offset so repeated runs don't always
		// hit the same users first.
		ph.nextU.Store(uint64(rand.IntN(cfg.Users)))
	}
	for _, w := range workers {
		w.st = newStats()
	}
	done := make(chan struct{})
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	go func() {
		select {
		case <-timer:
		case <-ctx.Done():
		case <-done:
		}
		ph.stop.Store(true)
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ph.workerLoop(w, m)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)

	total := newStats()
	for _, w := range workers {
		total.merge(w.st)
	}
	return total, elapsed
}

// run executes the benchmark described by cfg and returns the exit code.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) int {
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "radbench: %v\n", err)
		return exitUsage
	}
	users := newUserCache(cfg.Users, cfg.UserFormat, cfg.PassFormat)
	m, err := newMode(&cfg, users)
	if err != nil {
		fmt.Fprintf(stderr, "radbench: %v\n", err)
		return exitUsage
	}

	if cfg.Latency == "kernel" && !rxTimestampSupported {
		fmt.Fprintf(stderr, "radbench: no kernel receive timestamps on %s/%s; using -latency app\n", runtime.GOOS, runtime.GOARCH)
		cfg.Latency = "app"
	}

	workers := make([]*worker, 0, cfg.Concurrency)
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	for range cfg.Concurrency {
		w, err := newWorker(&cfg, m)
		if err != nil {
			fmt.Fprintf(stderr, "radbench: %v\n", err)
			return exitUsage
		}
		workers = append(workers, w)
	}
	if cfg.Latency == "kernel" {
		tsOK := true
		for _, w := range workers {
			if w.tsErr != nil {
				fmt.Fprintf(stderr, "radbench: enabling kernel receive timestamps: %v (replies are timed by the application)\n", w.tsErr)
				tsOK = false
				break
			}
		}
		if tsOK {
			if err := awaitRxTimestamping(time.Second); err != nil {
				fmt.Fprintf(stderr, "radbench: warning: kernel receive timestamps: %v; early replies may include radbench's own delay\n", err)
			}
		}
	}

	if cfg.Mode == "acct" {
		fmt.Fprintf(stderr, "radbench: mode=%s acct-server=%s users=%d concurrency=%d duration=%s requests=%d timeout=%s retries=%d warmup=%s interims=%d open=%t big-counters=%t message-authenticator=%t pick=%s latency=%s\n",
			m.name(), cfg.AcctServer, cfg.Users, cfg.Concurrency, cfg.Duration, cfg.Requests, cfg.Timeout, cfg.Retries, cfg.Warmup, cfg.Interims, cfg.AcctOpen, cfg.BigCounters, cfg.AcctMessageAuthenticator, cfg.Pick, cfg.Latency)
		if per := m.requestsPerUnit(); cfg.Requests%per != 0 {
			fmt.Fprintf(stderr, "radbench: -requests %d is not a multiple of %d requests per session: at most %d are sent\n",
				cfg.Requests, per, cfg.Requests/per*per)
		}
	} else {
		fmt.Fprintf(stderr, "radbench: mode=%s server=%s users=%d concurrency=%d duration=%s requests=%d timeout=%s retries=%d warmup=%s expect=%s message-authenticator=%t mac=%t pick=%s latency=%s\n",
			m.name(), cfg.Server, cfg.Users, cfg.Concurrency, cfg.Duration, cfg.Requests, cfg.Timeout, cfg.Retries, cfg.Warmup, cfg.Expect, !cfg.NoMessageAuthenticator, cfg.MAC, cfg.Pick, cfg.Latency)
	}

	if cfg.Warmup > 0 {
		ws, el := runPhase(ctx, &cfg, m, workers, cfg.Warmup, 0)
		fmt.Fprintf(stderr, "radbench: warmup %.2fs sent=%d accepts=%d rejects=%d timeouts=%d errors=%d\n",
			el.Seconds(), ws.sent, ws.accepts, ws.rejects, ws.timeouts, ws.errors)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "radbench: interrupted\n")
		return exitFail
	}

	st, elapsed := runPhase(ctx, &cfg, m, workers, cfg.Duration, cfg.Requests)

	secs := elapsed.Seconds()
	rps := 0.0
	if secs > 0 {
		rps = float64(st.completed) / secs
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	fmt.Fprintf(stdout, "RESULT mode=%s users=%d concurrency=%d duration=%.2fs sent=%d accepts=%d rejects=%d timeouts=%d errors=%d rps=%.1f p50=%.3fms p95=%.3fms p99=%.3fms max=%.3fms latency=%s\n",
		m.name(), cfg.Users, cfg.Concurrency, secs, st.sent, st.accepts, st.rejects, st.timeouts, st.errors,
		rps, ms(st.hist.quantile(0.50)), ms(st.hist.quantile(0.95)), ms(st.hist.quantile(0.99)), ms(st.hist.max), cfg.Latency)
	if cfg.Latency == "kernel" {
		fmt.Fprintf(stderr, "radbench: kernel-timestamp-fallbacks=%d (replies timed by the application)\n", st.tsFallback)
	}

	if st.retrans > 0 || st.stale > 0 {
		fmt.Fprintf(stderr, "radbench: retransmissions=%d stale-replies=%d\n", st.retrans, st.stale)
	}
	if st.noReplyMA > 0 {
		fmt.Fprintf(stderr, "radbench: %d verified replies carried no Message-Authenticator\n", st.noReplyMA)
	}
	for _, s := range st.samples {
		fmt.Fprintf(stderr, "radbench: error: %s\n", s)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "radbench: interrupted\n")
	}
	if st.sent == 0 {
		fmt.Fprintf(stderr, "radbench: no requests sent\n")
		return exitFail
	}
	if bad := st.errors + st.timeouts; bad*100 > st.sent {
		fmt.Fprintf(stderr, "radbench: FAIL: errors+timeouts=%d exceed 1%% of sent=%d\n", bad, st.sent)
		return exitFail
	}
	return exitOK
}
