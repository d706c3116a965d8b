package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tollgate/radius"
	"tollgate/radius/radiustest"
)

// logBuffer collects what a logger writes, for tests that look for a log line.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// MustLogBuffer returns a logger that writes to the test's output and to the buffer.
func MustLogBuffer(tb testing.TB) (*slog.Logger, *logBuffer) {
	tb.Helper()
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(io.MultiWriter(tb.Output(), b), &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// frameSpans returns the offset and length of each frame in a spool file's bytes.
func frameSpans(tb testing.TB, data []byte) (offs, lens []int) {
	tb.Helper()
	for off := 0; off < len(data); {
		if off+frameHeader > len(data) {
			tb.Fatalf("torn frame at %d", off)
		}
		n := frameHeader + int(binary.BigEndian.Uint32(data[off:]))
		offs, lens = append(offs, off), append(lens, n)
		off += n
	}
	return offs, lens
}

// damagedCopies returns the files kept aside in dir.
func damagedCopies(tb testing.TB, dir string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, spoolFile+".*"+damagedSuffix))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestAcctWriterSpoolDamaged corrupts one byte of a frame in the middle of the spool:
// the file is kept aside, the replay resynchronises past the frame, every record after
// it is still written, and the damage is logged and counted (also in the metrics).
func TestAcctWriterSpoolDamaged(t *testing.T) {
	const n, bad = 12, 2 // records, and the one whose frame is damaged (in the first chunk of 4)
	var recs []radius.AcctRecord
	for i := range n {
		recs = append(recs, with(interim(time.Duration(i+1)*time.Minute, uint64(i), uint64(i)), 1, fmt.Sprintf("d%02d", i)))
	}
	// corrupt flips a byte in the middle of the bad frame's payload.
	corrupt := func(t *testing.T, path string) []byte {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		offs, lens := frameSpans(t, data)
		if len(offs) != n {
			t.Fatalf("spool holds %d frames, want %d", len(offs), n)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		at := offs[bad] + frameHeader + (lens[bad]-frameHeader)/2
		if _, err := f.WriteAt([]byte{data[at] ^ 0x5a}, int64(at)); err != nil {
			t.Fatal(err)
		}
		data[at] ^= 0x5a
		return data
	}
	tests := []struct {
		name string
		// spool leaves n records in the spool of dir, damaged, and returns a started
		// writer on pool (taking Postgres away and giving it back itself when it runs
		// one) and the damaged bytes.
		spool func(t *testing.T, dir string, pool *switchDB, log *slog.Logger, logs *logBuffer) (*AcctWriter, []byte)
	}{
		{"found when the spool is opened", func(t *testing.T, dir string, pool *switchDB, log *slog.Logger, _ *logBuffer) (*AcctWriter, []byte) {
			path := filepath.Join(dir, spoolFile)
			if err := os.WriteFile(path, mustFrames(t, recs), 0o600); err != nil {
				t.Fatal(err)
			}
			damaged := corrupt(t, path)
			w := mustWriterWithLog(t, pool, log, AcctWriterOptions{SpoolDir: dir, MaxBatch: 4})
			return w, damaged
		}},
		{"found while replaying", func(t *testing.T, dir string, pool *switchDB, log *slog.Logger, logs *logBuffer) (*AcctWriter, []byte) {
			up := pool.p.Load()
			pool.p.Store(MustUnreachablePool(t))
			w := mustWriterWithLog(t, pool, log, AcctWriterOptions{SpoolDir: dir, MaxBatch: 4, RetryEvery: 20 * time.Millisecond, WriteTimeout: time.Second})
			MustRecord(t, w, recs...)
			damaged := corrupt(t, filepath.Join(dir, spoolFile))
			// Replays that fail after reading the damage must not count it again.
			MustWaitFor(t, "the damage to be seen", 10*time.Second, func() bool { d, _ := w.SpoolDamage(); return d > 0 })
			failed := strings.Count(logs.String(), "replay failed")
			MustWaitFor(t, "more failing replays", 10*time.Second, func() bool { return strings.Count(logs.String(), "replay failed") >= failed+3 })
			pool.p.Store(up)
			return w, damaged
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := radiustest.MustDB(t)
			dir := t.TempDir()
			log, logs := MustLogBuffer(t)
			w, damaged := tt.spool(t, dir, newSwitchDB(pool), log, logs)
			reg := prometheus.NewRegistry()
			if err := w.Register(reg); err != nil {
				t.Fatal(err)
			}
			MustWaitFor(t, "the spool to replay", 30*time.Second, func() bool { return w.Backlog() == 0 })

			// Every intact record is written, the damaged one alone is missing.
			for i := range n {
				row := MustRow(t, pool, 1, recs[i].SessionID)
				if (row == "") != (i == bad) {
					t.Errorf("record %d: row %q", i, row)
				}
			}
			// The damaged file is kept aside as it was found, and stays after the replay.
			copies := damagedCopies(t, dir)
			if len(copies) != 1 {
				t.Fatalf("damaged copies %q, want one", copies)
			}
			if got, err := os.ReadFile(copies[0]); err != nil || !bytes.Equal(got, damaged) {
				t.Fatalf("the copy kept aside is not the damaged spool (%d bytes, %v)", len(got), err)
			}
			_, lens := frameSpans(t, mustFrames(t, recs))
			if frames, size := w.SpoolDamage(); frames != 1 || size != uint64(lens[bad]) {
				t.Fatalf("damage counted: %d stretches, %d bytes; want 1, %d", frames, size, lens[bad])
			}
			if w.Replayed() != n-1 {
				t.Fatalf("replayed %d, want %d", w.Replayed(), n-1)
			}
			if !strings.Contains(logs.String(), "skipped damaged frames") {
				t.Fatalf("no log line for the damage:\n%s", logs.String())
			}
			metrics := MustGather(t, reg)
			for name, want := range map[string]float64{
				"tollgate_accounting_spool_damaged_total":       1,
				"tollgate_accounting_spool_damaged_bytes_total": float64(lens[bad]),
				"tollgate_accounting_replayed_total":            n - 1,
				"tollgate_accounting_spool_backlog":             0,
			} {
				if metrics[name] != want {
					t.Errorf("%s = %v, want %v", name, metrics[name], want)
				}
			}
			// The spool is empty and in use again: nothing else is damaged.
			MustRecord(t, w, with(start(0), 2, "after"))
			if info, err := os.Stat(filepath.Join(dir, spoolFile)); err != nil || info.Size() != 0 {
				t.Fatalf("spool after the replay: %v, %v", info, err)
			}
		})
	}
}

// mustWriterWithLog is MustAcctWriter with a logger of the test's choice.
func mustWriterWithLog(tb testing.TB, db batcher, log *slog.Logger, opts AcctWriterOptions) *AcctWriter {
	tb.Helper()
	w, err := newAcctWriter(db, log, opts)
	if err != nil {
		tb.Fatal(err)
	}
	w.Start()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Close(ctx); err != nil {
			tb.Errorf("close accounting writer: %v", err)
		}
	})
	return w
}

// TestSpoolResync: whatever stretch of a spool is damaged, reading resynchronises on the
// next whole frame and returns every whole frame, in order, and counts the damage once.
func TestSpoolResync(t *testing.T) {
	recs := spoolRecords()
	whole := mustFrames(t, recs)
	offs, lens := frameSpans(t, whole)
	tests := []struct {
		name string
		edit func([]byte) []byte
		lost []int // records lost
	}{
		{"a payload byte", func(b []byte) []byte { b[offs[1]+frameHeader+3] ^= 1; return b }, []int{1}},
		{"a length byte", func(b []byte) []byte { b[offs[1]+2] ^= 0x40; return b }, []int{1}},
		{"a checksum byte", func(b []byte) []byte { b[offs[2]+5] ^= 1; return b }, []int{2}},
		{"two frames zeroed", func(b []byte) []byte { clear(b[offs[1] : offs[2]+lens[2]]); return b }, []int{1, 2}},
		{"garbage inserted", func(b []byte) []byte {
			return append(append(bytes.Clone(b[:offs[2]]), bytes.Repeat([]byte{1, 0, 0, 0}, 100)...), b[offs[2]:]...)
		}, nil},
		{"the first frame", func(b []byte) []byte { b[frameHeader] ^= 0xff; return b }, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := tt.edit(bytes.Clone(whole))
			if err := os.WriteFile(filepath.Join(dir, spoolFile), data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, cut, err := openSpool(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			if cut != 0 || s.size != int64(len(data)) || s.frames != int64(len(recs)-len(tt.lost)) || s.aside == "" {
				t.Fatalf("open: cut %d, size %d of %d, frames %d, aside %q", cut, s.size, len(data), s.frames, s.aside)
			}
			var got []radius.AcctRecord
			damaged := 0
			for pass := range 2 { // the second pass reads it all again, as after a failed write
				s.read = 0
				for s.pending() {
					c, err := s.next(2, nil)
					if err != nil {
						t.Fatal(err)
					}
					if pass == 0 {
						got = append(got, c.recs...)
					}
					damaged += c.damaged
					s.read = c.end
				}
			}
			var want []radius.AcctRecord
			for i, r := range recs {
				if !containsInt(tt.lost, i) {
					want = append(want, r)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("read %d records, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("record %d = %+v, want %+v", i, got[i], want[i])
				}
			}
			if damaged != 1 {
				t.Fatalf("damage reported %d times, want once", damaged)
			}
		})
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// MustGather returns the value of every metric in reg without labels, by name.
func MustGather(tb testing.TB, reg *prometheus.Registry) map[string]float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				out[mf.GetName()] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
