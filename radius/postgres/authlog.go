package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/radius"
	"tollgate/radius/pg"
)

// AuthLogOptions tune an AuthLog. Zero values take the defaults.
type AuthLogOptions struct {
	// BatchSize is the most rows one COPY writes (default 1000).
	BatchSize int
	// FlushInterval is the longest an entry waits for its batch (default 200ms).
	FlushInterval time.Duration
	// Buffer is how many entries may wait; beyond it Log drops (default 65536).
	Buffer int
}

// flushTimeout bounds one COPY, so a hung database cannot stall the writer forever.
const flushTimeout = 30 * time.Second

var authLogColumns = []string{"at", "nas_id", "username", "mac", "method", "reason"}

// AuthLog writes auth log entries to Postgres in batches, off the reply path. It
// satisfies radius.AuthLogger. Entries are best effort: Log drops them when the buffer
// is full, and a batch that fails to write is logged and dropped, never retried.
type AuthLog struct {
	db   pg.DBTX
	log  *slog.Logger
	opts AuthLogOptions

	queue chan radius.AuthLogEntry

	mu      sync.Mutex
	started bool
	closed  bool
	stop    chan struct{}   // closed by Close
	stopCtx context.Context // Close's ctx, set before stop is closed
	done    chan struct{}   // closed when the last batch was written
	err     error           // of the final writes, read after done

	written, dropped, failed atomic.Uint64
}

var _ radius.AuthLogger = (*AuthLog)(nil)

// NewAuthLog returns a writer on db that logs failures to log. Call Start to write,
// and Close to flush and stop.
func NewAuthLog(db pg.DBTX, log *slog.Logger, opts AuthLogOptions) *AuthLog {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 200 * time.Millisecond
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 65536
	}
	return &AuthLog{
		db:    db,
		log:   log,
		opts:  opts,
		queue: make(chan radius.AuthLogEntry, opts.Buffer),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// Start runs the writer. Calling it again, or after Close, does nothing.
func (l *AuthLog) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.closed {
		return
	}
	l.started = true
	go l.run()
}

// Log queues e without blocking; when the buffer is full e is dropped and counted.
func (l *AuthLog) Log(e radius.AuthLogEntry) {
	select {
	case l.queue <- e:
	default:
		l.dropped.Add(1)
	}
}

// Close writes what is queued and stops the writer. It returns the first error of these
// final writes, or ctx's error if ctx ends first (the final writes then fail fast, and
// are counted as failed). Entries logged after Close are never written. Calling it
// twice is safe.
func (l *AuthLog) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		select {
		case <-l.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.closed = true
	started := l.started
	l.stopCtx = ctx
	close(l.stop)
	l.mu.Unlock()

	if !started {
		// Nobody writes: flush here what was logged before Start.
		l.err = l.drain(ctx, make([]radius.AuthLogEntry, 0, l.opts.BatchSize))
		close(l.done)
		return l.err
	}
	select {
	case <-l.done:
		return l.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Written returns how many entries were written.
func (l *AuthLog) Written() uint64 { return l.written.Load() }

// Dropped returns how many entries Log dropped because the buffer was full.
func (l *AuthLog) Dropped() uint64 { return l.dropped.Load() }

// Failed returns how many entries were lost in failed writes.
func (l *AuthLog) Failed() uint64 { return l.failed.Load() }

func (l *AuthLog) run() {
	defer close(l.done)
	batch := make([]radius.AuthLogEntry, 0, l.opts.BatchSize)
	tick := time.NewTicker(l.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case e := <-l.queue:
			batch = append(batch, e)
			if len(batch) == cap(batch) {
				batch, _ = l.flush(context.Background(), batch)
			}
		case <-tick.C:
			if len(batch) > 0 {
				batch, _ = l.flush(context.Background(), batch)
			}
		case <-l.stop:
			l.err = l.drain(l.stopCtx, batch)
			return
		}
	}
}

// drain writes batch and the entries queued when it starts (not those logged while it
// runs, so that it ends), and returns the first error.
func (l *AuthLog) drain(ctx context.Context, batch []radius.AuthLogEntry) error {
	var first error
	for n := len(l.queue); ; {
		for ; n > 0 && len(batch) < cap(batch); n-- {
			batch = append(batch, <-l.queue)
		}
		if len(batch) == 0 {
			return first
		}
		var err error
		if batch, err = l.flush(ctx, batch); err != nil && first == nil {
			first = err
		}
	}
}

// flush writes batch with one COPY and returns it emptied. A failure is logged and
// counted here, once.
func (l *AuthLog) flush(ctx context.Context, batch []radius.AuthLogEntry) ([]radius.AuthLogEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	n, err := l.db.CopyFrom(ctx, pgx.Identifier{"auth_log"}, authLogColumns, &entrySource{entries: batch, i: -1})
	if err != nil {
		l.failed.Add(uint64(len(batch)))
		l.log.LogAttrs(ctx, slog.LevelError, "postgres: write auth log",
			slog.Int("entries", len(batch)), slog.Any("err", err))
		err = fmt.Errorf("postgres: write auth log: %w", err)
	} else {
		l.written.Add(uint64(n))
	}
	clear(batch)
	return batch[:0], err
}

// entrySource feeds entries to CopyFrom, reusing one row.
type entrySource struct {
	entries []radius.AuthLogEntry
	i       int
	row     [6]any
}

func (s *entrySource) Next() bool {
	s.i++
	return s.i < len(s.entries)
}

func (s *entrySource) Values() ([]any, error) {
	e := &s.entries[s.i]
	var nasID any // NULL for an unknown NAS
	if e.NASID != 0 {
		nasID = e.NASID
	}
	s.row = [6]any{time.Unix(0, e.At), nasID, e.Username, e.MAC, e.Method.String(), e.Reason.String()}
	return s.row[:], nil
}

func (s *entrySource) Err() error { return nil }

var _ radius.AuthLogReader = (*Store)(nil)

const (
	findAuthLogSQL = `
SELECT a.at, coalesce(n.name, ''), a.username, a.mac, a.method, a.reason
FROM auth_log a
LEFT JOIN nas n ON n.id = a.nas_id
ORDER BY a.at DESC
LIMIT $1`

	findAuthLogByUserSQL = `
SELECT a.at, coalesce(n.name, ''), a.username, a.mac, a.method, a.reason
FROM auth_log a
LEFT JOIN nas n ON n.id = a.nas_id
WHERE a.username = $2
ORDER BY a.at DESC
LIMIT $1`
)

// FindAuthLog returns the newest auth log rows first.
func (s *Store) FindAuthLog(ctx context.Context, f radius.AuthLogFilter) ([]radius.AuthLogRow, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = 100
	case limit > 10000:
		limit = 10000
	}
	sql, args := findAuthLogSQL, []any{limit}
	if f.Username != "" {
		sql, args = findAuthLogByUserSQL, append(args, f.Username)
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: find auth log: %w", err)
	}
	defer rows.Close()
	var list []radius.AuthLogRow
	for rows.Next() {
		var r radius.AuthLogRow
		if err := rows.Scan(&r.At, &r.NASName, &r.Username, &r.MAC, &r.Method, &r.Reason); err != nil {
			return nil, fmt.Errorf("postgres: find auth log: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find auth log: %w", err)
	}
	return list, nil
}

const ensurePartitionsSQL = `SELECT ensure_monthly_partitions('auth_log', 2)`

// EnsurePartitions creates the auth log's monthly partitions from this month to two
// months ahead; it is idempotent, for a daily job.
func (s *Store) EnsurePartitions(ctx context.Context) error {
	if _, err := s.db.Exec(ctx, ensurePartitionsSQL); err != nil {
		return fmt.Errorf("postgres: ensure auth log partitions: %w", err)
	}
	return nil
}
