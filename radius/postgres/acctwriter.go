package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/radius"
	"tollgate/radius/pg"
)

// AcctWriterOptions tune an AcctWriter. Zero values take the defaults, except SpoolDir.
type AcctWriterOptions struct {
	// SpoolDir holds the spool file, acct.spool (required). It must survive a restart,
	// and it belongs to one writer at a time: the file is locked.
	SpoolDir string
	// MaxBatch is the most records one transaction writes (default 512).
	MaxBatch int
	// RetryEvery is how often a spooling writer tries Postgres again (default 1s).
	RetryEvery time.Duration
	// WriteTimeout bounds one transaction (default 2s). A write that takes longer
	// counts as Postgres being unreachable, and its records go to the spool.
	WriteTimeout time.Duration
}

// AcctWriter records accounting durably: Record returns once the record is committed
// to Postgres or fsynced to the spool. It satisfies radius.Accounter.
//
// One goroutine writes. It takes every record that waits, up to MaxBatch, and applies
// them in order in one transaction and one round trip (group commit), so batches grow
// by themselves while a commit is in flight. Each record is an idempotent upsert of its
// session, keyed on (NAS, Acct-Session-Id): counters only move forward, a stopped
// session never changes again, and Accounting-On/Off closes the NAS's open sessions.
// Replaying any record, or all of them, is therefore harmless.
//
// When Postgres cannot be reached, batches are appended to the spool instead, and
// acknowledged after the fsync. While the spool holds records every new batch goes
// there too, so the order holds, and every RetryEvery the writer replays the spool in
// order, MaxBatch records per transaction, then truncates it. Start replays a spool
// left by a crash. A frame the disk damaged does not stop the replay: it is skipped
// (logged and counted, the file copied aside first) and every whole frame after it is
// still written. A record Postgres refuses for its data (SQLSTATE class 22 or 23) is
// found by writing the batch again record by record; it is logged, dropped and, when a
// caller waits for it, reported as EINVALID.
type AcctWriter struct {
	db   batcher
	log  *slog.Logger
	opts AcctWriterOptions

	queue chan *acctReq

	mu      sync.RWMutex // held for reading while Record queues, so Close knows when no more can come
	started bool
	closed  bool
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the writer has exited
	err     error         // of the final writes, read after done

	committed, spooled, replayed, dropped atomic.Uint64
	damaged, damagedBytes                 atomic.Uint64
	backlog                               atomic.Int64

	// The writer goroutine's own.
	sp      *spool
	recs    []radius.AcctRecord
	results []error
	merge   map[radius.SessionKey]int
	rows    []sessionRow
	addrs   map[netip.Addr]string // addrText's
}

var _ radius.Accounter = (*AcctWriter)(nil)

// batcher is what the writer needs of a pool; tests put a switch in front of it.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// acctReq is a record waiting for its batch.
type acctReq struct {
	rec  radius.AcctRecord
	done chan error // buffered: the writer never blocks on it
}

var acctReqPool = sync.Pool{New: func() any { return &acctReq{done: make(chan error, 1)} }}

// errWriterClosed is returned by Record after Close.
var errWriterClosed = errors.New("postgres: accounting writer closed")

// NewAcctWriter returns a writer on pool that spools to opts.SpoolDir and logs to log.
// It opens and locks the spool (cutting off a torn last frame) but writes nothing
// until Start.
func NewAcctWriter(pool *pgxpool.Pool, log *slog.Logger, opts AcctWriterOptions) (*AcctWriter, error) {
	if pool == nil {
		return nil, errors.New("postgres: accounting writer: no pool")
	}
	return newAcctWriter(pool, log, opts)
}

func newAcctWriter(db batcher, log *slog.Logger, opts AcctWriterOptions) (*AcctWriter, error) {
	if opts.SpoolDir == "" {
		return nil, errors.New("postgres: accounting writer: SpoolDir is required")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 2 * time.Second
	}
	sp, cut, err := openSpool(opts.SpoolDir)
	if err != nil {
		return nil, err
	}
	if cut > 0 {
		log.LogAttrs(context.Background(), slog.LevelWarn, "postgres: accounting spool: cut off a torn tail (never acknowledged)",
			slog.String("path", sp.path), slog.Int64("bytes", cut))
	}
	if sp.aside != "" || sp.asideErr != nil {
		log.LogAttrs(context.Background(), slog.LevelError, "postgres: accounting spool: damaged frames found; copy kept aside, replay skips them",
			slog.String("path", sp.path), slog.String("kept", sp.aside), slog.Any("err", sp.asideErr))
	}
	w := &AcctWriter{
		db:      db,
		log:     log,
		opts:    opts,
		queue:   make(chan *acctReq, 4*opts.MaxBatch),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		sp:      sp,
		results: make([]error, 0, opts.MaxBatch),
		merge:   make(map[radius.SessionKey]int, opts.MaxBatch),
		addrs:   make(map[netip.Addr]string),
	}
	w.backlog.Store(sp.frames)
	return w, nil
}

// Start runs the writer: it first replays what a previous run left in the spool.
// Calling it again, or after Close, does nothing.
func (w *AcctWriter) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.closed {
		return
	}
	w.started = true
	go w.run()
}

// Close writes (or spools) every queued record, stops the writer and releases the
// spool. Records left in the spool are replayed by the next writer's Start. Close
// returns ctx's error if ctx ends first; Record fails after Close. Calling it twice is
// safe.
func (w *AcctWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		if !w.started {
			// Somebody has to write what was recorded before Start.
			w.started = true
			go w.run()
		}
		close(w.stop)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Record returns once r is durable: committed to Postgres or fsynced to the spool. It
// returns EINVALID for a record without NAS, event time or (but for Accounting-On/Off)
// Acct-Session-Id, and for one Postgres refused; ctx's error when ctx ends first (the
// record may still be written: replays are harmless); any other error after Close or
// when neither Postgres nor the spool took it. Statuses tollgate does not store (tunnel
// accounting, Failed) return nil at once. Text that is not valid UTF-8, or holds NUL,
// is stored with U+FFFD in place of the bad bytes. Record does not keep r.
func (w *AcctWriter) Record(ctx context.Context, r *radius.AcctRecord) error {
	switch r.Status {
	case radius.AcctStart, radius.AcctStop, radius.AcctInterim:
		if r.SessionID == "" {
			return radius.Errorf(radius.EINVALID, "accounting: no Acct-Session-Id")
		}
	case radius.AcctAccountingOn, radius.AcctAccountingOff:
	default:
		return nil
	}
	if r.NASID == 0 {
		return radius.Errorf(radius.EINVALID, "accounting: no NAS")
	}
	if r.EventTime.IsZero() {
		return radius.Errorf(radius.EINVALID, "accounting: no event time")
	}

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: record accounting: %w", err)
	}

	req := acctReqPool.Get().(*acctReq)
	req.rec = *r
	cleanRecord(&req.rec)

	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		acctReqPool.Put(req)
		return errWriterClosed
	}
	select {
	case w.queue <- req:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		acctReqPool.Put(req)
		return fmt.Errorf("postgres: record accounting: %w", ctx.Err())
	}
	select {
	case err := <-req.done:
		req.rec = radius.AcctRecord{}
		acctReqPool.Put(req)
		return err
	case <-ctx.Done():
		// The writer still owns req; it is left to the garbage collector.
		return fmt.Errorf("postgres: record accounting: %w", ctx.Err())
	}
}

// Committed returns how many records were committed to Postgres directly.
func (w *AcctWriter) Committed() uint64 { return w.committed.Load() }

// Spooled returns how many records were appended to the spool.
func (w *AcctWriter) Spooled() uint64 { return w.spooled.Load() }

// Replayed returns how many records were replayed from the spool into Postgres,
// those a previous run left included.
func (w *AcctWriter) Replayed() uint64 { return w.replayed.Load() }

// Dropped returns how many records Postgres refused for their data.
func (w *AcctWriter) Dropped() uint64 { return w.dropped.Load() }

// Backlog returns how many records wait in the spool for Postgres: acknowledged to the
// NAS, but not yet in the sessions table. The reaper must not judge sessions while it
// is above zero.
func (w *AcctWriter) Backlog() int64 { return w.backlog.Load() }

// SpoolDamage returns how many damaged stretches of the spool the replay skipped (each
// lost at least one record) and how many bytes they held.
func (w *AcctWriter) SpoolDamage() (stretches, bytes uint64) {
	return w.damaged.Load(), w.damagedBytes.Load()
}

// cleanRecord makes r's text storable: Postgres text holds neither NUL nor invalid
// UTF-8, and a NAS may send both. The mapping is the same every time, so a
// retransmission finds its session again.
func cleanRecord(r *radius.AcctRecord) {
	for _, s := range [...]*string{&r.SessionID, &r.Username, &r.MAC, &r.CalledStationID, &r.NASPortID, &r.Class, &r.TerminateCause} {
		if !utf8.ValidString(*s) || strings.IndexByte(*s, 0) >= 0 {
			*s = strings.ReplaceAll(strings.ToValidUTF8(*s, "\uFFFD"), "\x00", "\uFFFD")
		}
	}
	if r.Status == radius.AcctAccountingOn || r.Status == radius.AcctAccountingOff {
		r.SessionID = ""
	}
}

func (w *AcctWriter) run() {
	defer close(w.done)
	defer w.sp.close()
	tick := time.NewTicker(w.opts.RetryEvery)
	defer tick.Stop()
	if w.sp.size > 0 {
		w.log.LogAttrs(context.Background(), slog.LevelInfo, "postgres: accounting spool: replaying what a previous run left",
			slog.String("path", w.sp.path), slog.Int64("records", w.sp.frames))
		w.replay()
	}
	for {
		var retry <-chan time.Time
		if w.sp.size > 0 {
			retry = tick.C
		}
		select {
		case req := <-w.queue:
			w.handle(w.collect(req))
		case <-retry:
			w.replay()
		case <-w.stop:
			// Close holds no lock any more: nothing new can be queued.
			for len(w.queue) > 0 {
				w.handle(w.collect(<-w.queue))
			}
			return
		}
	}
}

// collect returns first and the requests queued behind it, up to MaxBatch.
func (w *AcctWriter) collect(first *acctReq) []*acctReq {
	reqs := []*acctReq{first}
	for len(reqs) < w.opts.MaxBatch {
		select {
		case r := <-w.queue:
			reqs = append(reqs, r)
		default:
			return reqs
		}
	}
	return reqs
}

// handle makes reqs durable and wakes their callers.
func (w *AcctWriter) handle(reqs []*acctReq) {
	if w.sp.size > 0 {
		w.spoolReqs(reqs, nil) // behind the records already spooled
		return
	}
	w.recs = w.recs[:0]
	for _, r := range reqs {
		w.recs = append(w.recs, r.rec)
	}
	w.results = w.results[:0]
	for range reqs {
		w.results = append(w.results, nil)
	}
	n, err := w.store(w.recs, func(i int, err error) {
		w.results[i] = &radius.Error{Code: radius.EINVALID, Message: "accounting record refused by the database", Err: err}
	})
	for i, r := range reqs[:n] {
		if w.results[i] == nil {
			w.committed.Add(1)
		}
		r.done <- w.results[i]
	}
	if n < len(reqs) {
		w.spoolReqs(reqs[n:], err)
	}
}

// spoolReqs appends reqs to the spool and wakes their callers. cause is why Postgres
// was not used, logged when the spool starts.
func (w *AcctWriter) spoolReqs(reqs []*acctReq, cause error) {
	w.recs = w.recs[:0]
	for _, r := range reqs {
		w.recs = append(w.recs, r.rec)
	}
	first := w.sp.size == 0
	err := w.sp.append(w.recs)
	if err != nil {
		w.log.LogAttrs(context.Background(), slog.LevelError, "postgres: accounting: neither Postgres nor the spool took the records; the NAS will retransmit",
			slog.Int("records", len(reqs)), slog.Any("err", err), slog.Any("postgres_err", cause))
		if w.err == nil {
			w.err = err
		}
	} else {
		w.spooled.Add(uint64(len(reqs)))
		w.backlog.Add(int64(len(reqs)))
		if first {
			w.log.LogAttrs(context.Background(), slog.LevelWarn, "postgres: accounting: Postgres unreachable, spooling",
				slog.String("path", w.sp.path), slog.Any("err", cause))
		}
	}
	for _, r := range reqs {
		r.done <- err
	}
}

// replay writes the spool's records to Postgres in order, MaxBatch per transaction,
// and empties the spool when all are in. It stops at the first failure, to try again
// later, and when the writer is closed. Between chunks it spools what was queued, so
// callers are not kept waiting behind a long backlog.
func (w *AcctWriter) replay() {
	ctx := context.Background()
	for w.sp.pending() {
		c, err := w.sp.next(w.opts.MaxBatch, w.recs[:0])
		w.recs = c.recs
		recs, end, frames := c.recs, c.end, c.frames
		if c.bad > 0 {
			w.log.LogAttrs(ctx, slog.LevelError, "postgres: accounting spool: dropped records that do not decode",
				slog.String("path", w.sp.path), slog.Int("records", c.bad))
			w.dropped.Add(uint64(c.bad))
		}
		if c.damaged > 0 {
			w.spoolDamaged(ctx, c)
		}
		if err != nil {
			// The file cannot be read at all any more.
			w.keepAside(ctx)
			w.log.LogAttrs(ctx, slog.LevelError, "postgres: accounting spool: unreadable; dropping the rest",
				slog.Int64("records", w.sp.frames-int64(frames)), slog.String("kept", w.sp.aside), slog.Any("err", err))
			frames, end = int(w.sp.frames), w.sp.size
		}
		n, err := w.store(recs, nil)
		if n < len(recs) {
			w.log.LogAttrs(ctx, slog.LevelDebug, "postgres: accounting spool: replay failed, will retry",
				slog.Int64("backlog", w.sp.frames), slog.Any("err", err))
			return
		}
		w.sp.read = end
		w.sp.frames -= int64(frames)
		w.backlog.Add(-int64(frames))
		w.replayed.Add(uint64(len(recs)))
		select {
		case <-w.stop:
			return
		case req := <-w.queue:
			w.spoolReqs(w.collect(req), nil)
		default:
		}
	}
	if w.sp.size == 0 {
		return
	}
	if err := w.sp.reset(); err != nil {
		w.log.LogAttrs(ctx, slog.LevelError, "postgres: accounting spool: truncate failed, will retry", slog.Any("err", err))
		return
	}
	// Damage may have taken frames the count still held: the spool is empty now.
	w.backlog.Store(0)
	w.log.LogAttrs(ctx, slog.LevelInfo, "postgres: accounting: spool replayed, writing to Postgres again",
		slog.Uint64("replayed", w.replayed.Load()))
}

// spoolDamaged reports damage the replay skipped: the file is copied aside (once), and
// the damage is logged and counted.
func (w *AcctWriter) spoolDamaged(ctx context.Context, c chunk) {
	w.keepAside(ctx)
	w.damaged.Add(uint64(c.damaged))
	w.damagedBytes.Add(uint64(c.damagedBytes))
	w.log.LogAttrs(ctx, slog.LevelError, "postgres: accounting spool: skipped damaged frames; the records after them are still written",
		slog.String("path", w.sp.path), slog.Int64("offset", c.damagedAt), slog.Int("stretches", c.damaged),
		slog.Int64("bytes", c.damagedBytes), slog.String("kept", w.sp.aside))
}

// keepAside copies the damaged spool aside, logging a failure: the replay goes on
// either way, as the records after the damage must still be written.
func (w *AcctWriter) keepAside(ctx context.Context) {
	if err := w.sp.keepAside(); err != nil {
		w.log.LogAttrs(ctx, slog.LevelError, "postgres: accounting spool: could not keep the damaged file aside", slog.Any("err", err))
	}
}

// store applies recs in order: all in one transaction, or, when Postgres refuses one
// for its data, one by one, calling refused for each record it refuses (refused may be
// nil). It returns how many leading records are settled (written or refused) and, when
// that is not all of them, the error that left Postgres unreachable for the rest.
func (w *AcctWriter) store(recs []radius.AcctRecord, refused func(i int, err error)) (int, error) {
	err := w.write(recs)
	switch {
	case err == nil:
		return len(recs), nil
	case !pg.IsData(err):
		return 0, err
	}
	for i := range recs {
		err := w.write(recs[i : i+1])
		switch {
		case err == nil:
		case pg.IsData(err):
			w.dropped.Add(1)
			r := &recs[i]
			w.log.LogAttrs(context.Background(), slog.LevelError, "postgres: accounting record refused, dropped",
				slog.Int64("nas", r.NASID), slog.String("acct_session_id", r.SessionID), slog.String("user", r.Username),
				slog.String("status", r.Status.String()), slog.Any("err", err))
			if refused != nil {
				refused(i, err)
			}
		default:
			return i, err
		}
	}
	return len(recs), nil
}

// Pin each session's start the first time it is seen; a later packet finds its row
// through it. A statement of its own, so that the upsert's snapshot sees a key another
// writer pinned concurrently.
const pinSessionKeysSQL = `
INSERT INTO session_keys (nas_id, acct_session_id, started_at)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[])
ON CONFLICT (nas_id, acct_session_id) DO NOTHING`

// Counters and times only move forward, text keeps its newest non-empty value, and a
// stopped session never changes again (the WHERE), which makes every record idempotent.
// The one exception is a session the reaper closed (radius.CauseStale): the router may
// only have been cut off from tollgate, so a record newer than its last update reopens
// it (an Interim-Update: stopped_at back to NULL, the cause cleared), and a Stop
// completes it with its own time and cause. A session closed with
// radius.CauseLostCarrier (reconciliation found it gone from the router) takes a Stop
// too: the router sends one as it drops the session, and it may be written after
// reconciliation ran. Replaying what was already seen changes nothing, and usage stays
// counted once since counters are the maximum.
// The pinned start is read with a LATERAL lookup so every record is one index probe: a
// plain join let the cached generic plan hash a sequential scan of session_keys, whose
// cost grows with every session ever recorded.
const upsertSessionsSQL = `
INSERT INTO sessions AS s (nas_id, acct_session_id, started_at, username, mac, framed_ip,
    called_station_id, nas_port_id, class, last_update, stopped_at, session_time,
    input_octets, output_octets, input_packets, output_packets, interim_seconds, terminate_cause, nas_addr)
SELECT r.nas_id, r.acct_session_id, k.started_at, r.username, r.mac, NULLIF(r.framed_ip, '')::inet,
       r.called_station_id, r.nas_port_id, r.class, r.last_update, r.stopped_at, r.session_time,
       r.input_octets, r.output_octets, r.input_packets, r.output_packets, r.interim_seconds, r.terminate_cause,
       NULLIF(r.nas_addr, '')::inet
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::bigint[],
            $13::bigint[], $14::bigint[], $15::bigint[], $16::integer[], $17::text[], $18::text[])
     AS r(nas_id, acct_session_id, username, mac, framed_ip, called_station_id, nas_port_id,
          class, last_update, stopped_at, session_time, input_octets, output_octets,
          input_packets, output_packets, interim_seconds, terminate_cause, nas_addr)
CROSS JOIN LATERAL (SELECT started_at FROM session_keys
                    WHERE nas_id = r.nas_id AND acct_session_id = r.acct_session_id) k
ON CONFLICT (nas_id, acct_session_id, started_at) DO UPDATE SET
    username          = COALESCE(NULLIF(EXCLUDED.username, ''), s.username),
    mac               = COALESCE(NULLIF(EXCLUDED.mac, ''), s.mac),
    framed_ip         = COALESCE(EXCLUDED.framed_ip, s.framed_ip),
    called_station_id = COALESCE(NULLIF(EXCLUDED.called_station_id, ''), s.called_station_id),
    nas_port_id       = COALESCE(NULLIF(EXCLUDED.nas_port_id, ''), s.nas_port_id),
    class             = COALESCE(NULLIF(EXCLUDED.class, ''), s.class),
    nas_addr          = COALESCE(EXCLUDED.nas_addr, s.nas_addr),
    last_update       = GREATEST(s.last_update, EXCLUDED.last_update),
    stopped_at        = EXCLUDED.stopped_at,
    session_time      = GREATEST(s.session_time, EXCLUDED.session_time),
    input_octets      = GREATEST(s.input_octets, EXCLUDED.input_octets),
    output_octets     = GREATEST(s.output_octets, EXCLUDED.output_octets),
    input_packets     = GREATEST(s.input_packets, EXCLUDED.input_packets),
    output_packets    = GREATEST(s.output_packets, EXCLUDED.output_packets),
    interim_seconds   = COALESCE(NULLIF(EXCLUDED.interim_seconds, 0), s.interim_seconds),
    terminate_cause   = CASE WHEN EXCLUDED.stopped_at IS NULL THEN '' ELSE EXCLUDED.terminate_cause END
WHERE s.stopped_at IS NULL
   OR (s.terminate_cause = '` + radius.CauseStale + `'
       AND (EXCLUDED.stopped_at IS NOT NULL OR EXCLUDED.last_update > s.last_update))
   OR (s.terminate_cause = '` + radius.CauseLostCarrier + `' AND EXCLUDED.stopped_at IS NOT NULL)`

// Accounting-On/Off: the NAS restarted, so its sessions that started before are gone.
// Sessions that started at or after the event are new ones, which also makes a replayed
// Accounting-On harmless.
const closeNASOpenSessionsSQL = `
UPDATE sessions SET stopped_at = $2, terminate_cause = $3
WHERE nas_id = $1 AND stopped_at IS NULL AND started_at < $2`

// write applies recs in order in one implicit transaction: a pgx batch ends in a single
// Sync, and is one round trip once its statements are prepared on the connection. Session records between two Accounting-On/Off are
// merged per session into one upsert; an Accounting-On/Off is an UPDATE in its place.
func (w *AcctWriter) write(recs []radius.AcctRecord) error {
	b := &pgx.Batch{}
	clear(w.merge)
	w.rows = w.rows[:0]
	for i := range recs {
		r := &recs[i]
		switch r.Status {
		case radius.AcctAccountingOn, radius.AcctAccountingOff:
			w.queueRows(b)
			b.Queue(closeNASOpenSessionsSQL, r.NASID, r.EventTime, radius.CauseNASRestart)
		default:
			if j, ok := w.merge[r.Key()]; ok {
				w.rows[j].merge(r, w.addrText(r.NASAddr))
			} else {
				w.merge[r.Key()] = len(w.rows)
				w.rows = append(w.rows, newSessionRow(r, w.addrText(r.NASAddr)))
			}
		}
	}
	w.queueRows(b)

	ctx, cancel := context.WithTimeout(context.Background(), w.opts.WriteTimeout)
	defer cancel()
	br := w.db.SendBatch(ctx, b)
	var first error
	for range b.Len() {
		if _, err := br.Exec(); err != nil && first == nil {
			first = err
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	if first != nil {
		return fmt.Errorf("postgres: write accounting: %w", first)
	}
	return nil
}

// queueRows queues the upsert of the merged rows, if any, and starts a new segment.
func (w *AcctWriter) queueRows(b *pgx.Batch) {
	if len(w.rows) == 0 {
		return
	}
	// One lock order for every writer, so that two replicas never deadlock.
	slices.SortFunc(w.rows, func(a, b sessionRow) int {
		return cmp.Or(cmp.Compare(a.nasID, b.nasID), cmp.Compare(a.sessionID, b.sessionID))
	})
	n := len(w.rows)
	var (
		nasID                                    = make([]int64, n)
		sessionID, username, mac, ip             = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		called, port, class, cause               = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		nasAddr                                  = make([]string, n)
		start, last                              = make([]time.Time, n), make([]time.Time, n)
		stopped                                  = make([]pgtype.Timestamptz, n)
		sessTime, inOct, outOct, inPkts, outPkts = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		interim                                  = make([]int32, n)
	)
	for i := range w.rows {
		r := &w.rows[i]
		nasID[i], sessionID[i], username[i], mac[i], ip[i] = r.nasID, r.sessionID, r.username, r.mac, r.framedIP
		called[i], port[i], class[i], cause[i], nasAddr[i] = r.called, r.port, r.class, r.cause, r.nasAddr
		start[i], last[i] = r.start, r.last
		stopped[i] = pgtype.Timestamptz{Time: r.stopAt, Valid: r.stopped}
		sessTime[i], inOct[i], outOct[i], inPkts[i], outPkts[i] = r.sessionTime, r.inOctets, r.outOctets, r.inPackets, r.outPackets
		interim[i] = r.interim
	}
	b.Queue(pinSessionKeysSQL, nasID, sessionID, start)
	b.Queue(upsertSessionsSQL, nasID, sessionID, username, mac, ip, called, port, class,
		last, stopped, sessTime, inOct, outOct, inPkts, outPkts, interim, cause, nasAddr)
	clear(w.merge)
	w.rows = w.rows[:0]
}

// sessionRow is the upsert of one session: the records of a batch merged as if they
// were applied one after the other.
type sessionRow struct {
	nasID                            int64
	sessionID                        string
	start, last, stopAt              time.Time
	stopped                          bool
	username, mac, framedIP          string
	called, port, class, cause       string
	nasAddr                          string
	sessionTime, inOctets, outOctets int64
	inPackets, outPackets            int64
	interim                          int32
}

// newSessionRow starts the row of r's session; nasAddr is r.NASAddr as text.
func newSessionRow(r *radius.AcctRecord, nasAddr string) sessionRow {
	row := sessionRow{
		nasID:     r.NASID,
		sessionID: r.SessionID,
		start:     r.EventTime.Add(-time.Duration(r.SessionTime) * time.Second),
		last:      r.EventTime,
	}
	row.set(r, nasAddr)
	return row
}

// merge folds a later record of the same session into row: the earliest start, the
// latest event, the highest counters, the newest non-empty text, and the first Stop,
// after which nothing changes.
func (row *sessionRow) merge(r *radius.AcctRecord, nasAddr string) {
	if row.stopped {
		return
	}
	if start := r.EventTime.Add(-time.Duration(r.SessionTime) * time.Second); start.Before(row.start) {
		row.start = start
	}
	if r.EventTime.After(row.last) {
		row.last = r.EventTime
	}
	row.set(r, nasAddr)
}

// set applies r's counters, text and Stop.
func (row *sessionRow) set(r *radius.AcctRecord, nasAddr string) {
	row.sessionTime = max(row.sessionTime, int64(r.SessionTime))
	row.inOctets = max(row.inOctets, clampInt64(r.InputOctets))
	row.outOctets = max(row.outOctets, clampInt64(r.OutputOctets))
	row.inPackets = max(row.inPackets, int64(r.InputPackets))
	row.outPackets = max(row.outPackets, int64(r.OutputPackets))
	if r.Interim != 0 {
		row.interim = int32(min(r.Interim, math.MaxInt32))
	}
	for _, f := range [...]struct {
		dst *string
		v   string
	}{{&row.username, r.Username}, {&row.mac, r.MAC}, {&row.called, r.CalledStationID}, {&row.port, r.NASPortID}, {&row.class, r.Class}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if r.FramedIP.IsValid() {
		row.framedIP = r.FramedIP.String()
	}
	if nasAddr != "" {
		row.nasAddr = nasAddr
	}
	if r.Status == radius.AcctStop {
		row.stopped, row.stopAt, row.cause = true, r.EventTime, r.TerminateCause
	}
}

// addrText returns a router address as stored ("" for none). The text is kept: a
// writer hears from a few routers, and every record needs it.
func (w *AcctWriter) addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	if t, ok := w.addrs[a]; ok {
		return t
	}
	if len(w.addrs) >= maxAddrTexts {
		clear(w.addrs)
	}
	t := a.WithZone("").Unmap().String() // Postgres inet has no zone
	w.addrs[a] = t
	return t
}

// maxAddrTexts bounds the router addresses addrText keeps.
const maxAddrTexts = 4096

// clampInt64 fits a counter into bigint; 2^63 bytes is beyond any session.
func clampInt64(v uint64) int64 { return int64(min(v, math.MaxInt64)) }
