package webhook

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tollgate/radius"
)

// SessionFeed turns recorded accounting Starts and Stops into session.start and
// session.stop messages without making the RADIUS worker wait: Observe hands the
// session's key to a buffer and returns (dropping it, counted, when the buffer is full),
// and a goroutine queues the buffered sessions in batches, reading each as stored. While
// no enabled endpoint wants session events, Observe does nothing at all.
//
// What the buffer holds when the process dies is not announced: session events are
// best effort, as befits a feed that a Stop can always correct. The accounting itself
// is never affected.
type SessionFeed struct {
	Store interface {
		QueueSessions(ctx context.Context, refs []SessionRef) (int, error)
		WantsSessions(ctx context.Context) (bool, error)
	}
	Log *slog.Logger
	// Buffer is how many sessions may wait (default 8192); Flush how long one waits at
	// most (default 500ms); Refresh how often it asks whether any endpoint wants them
	// (default 10s).
	Buffer  int
	Flush   time.Duration
	Refresh time.Duration

	ch      chan SessionRef
	wanted  atomic.Bool
	dropped atomic.Uint64
	queued  atomic.Uint64
	once    sync.Once
	stop    chan struct{}
	done    chan struct{}
}

func (f *SessionFeed) init() {
	f.once.Do(func() {
		if f.Buffer <= 0 {
			f.Buffer = 8192
		}
		if f.Flush <= 0 {
			f.Flush = 500 * time.Millisecond
		}
		if f.Refresh <= 0 {
			f.Refresh = 10 * time.Second
		}
		if f.Log == nil {
			f.Log = slog.New(slog.DiscardHandler)
		}
		f.ch = make(chan SessionRef, f.Buffer)
		f.stop = make(chan struct{})
		f.done = make(chan struct{})
	})
}

// Observe takes a durable accounting record: a Start or a Stop is queued for the
// webhooks when an endpoint wants session events. It never blocks and, in the common
// case of no endpoint, costs one atomic load.
func (f *SessionFeed) Observe(r *radius.AcctRecord) {
	if !f.wanted.Load() || (r.Status != radius.AcctStart && r.Status != radius.AcctStop) {
		return
	}
	select {
	case f.ch <- SessionRef{NASID: r.NASID, SessionID: r.SessionID, Stop: r.Status == radius.AcctStop}:
	default:
		f.dropped.Add(1)
	}
}

// Dropped counts the sessions Observe dropped because the buffer was full.
func (f *SessionFeed) Dropped() uint64 { return f.dropped.Load() }

// Queued counts the deliveries the feed queued.
func (f *SessionFeed) Queued() uint64 { return f.queued.Load() }

// Start reads whether sessions are wanted and runs the batching goroutine until Close.
func (f *SessionFeed) Start(ctx context.Context) {
	f.init()
	f.refresh(ctx)
	go f.run()
}

// Close queues what the buffer holds and stops; safe twice.
func (f *SessionFeed) Close(ctx context.Context) {
	f.init()
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
	}
}

func (f *SessionFeed) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	on, err := f.Store.WantsSessions(ctx)
	if err != nil {
		f.Log.LogAttrs(ctx, slog.LevelWarn, "webhooks: session feed", slog.String("err", err.Error()))
		return
	}
	f.wanted.Store(on)
}

func (f *SessionFeed) run() {
	defer close(f.done)
	flush := time.NewTicker(f.Flush)
	defer flush.Stop()
	refresh := time.NewTicker(f.Refresh)
	defer refresh.Stop()
	var batch []SessionRef
	send := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, err := f.Store.QueueSessions(ctx, batch)
		if err != nil {
			f.Log.LogAttrs(ctx, slog.LevelWarn, "webhooks: queue session events", slog.Int("sessions", len(batch)), slog.String("err", err.Error()))
		}
		f.queued.Add(uint64(n))
		batch = batch[:0]
	}
	for {
		select {
		case r := <-f.ch:
			batch = append(batch, r)
			if len(batch) >= 500 {
				send()
			}
		case <-flush.C:
			send()
		case <-refresh.C:
			f.refresh(context.Background())
		case <-f.stop:
			for {
				select {
				case r := <-f.ch:
					batch = append(batch, r)
				default:
					send()
					return
				}
			}
		}
	}
}

// Want sets whether sessions are wanted now, without asking the store (for tests and
// for the admin page, right after an endpoint changed).
func (f *SessionFeed) Want(on bool) { f.wanted.Store(on) }
