package postgres

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tollgate/radius"
)

// spoolRecords are records with every field set, and the extremes.
func spoolRecords() []radius.AcctRecord {
	return []radius.AcctRecord{
		{NASID: 1, SessionID: "81000001", Status: radius.AcctStart, Username: "alice",
			EventTime: time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC), FramedIP: netip.MustParseAddr("10.5.0.7"),
			MAC: "AA:BB:CC:DD:EE:FF", CalledStationID: "hotspot1", NASPortID: "ether2", Class: "plan-7", Interim: 300,
			NASAddr: netip.MustParseAddr("10.20.0.7")},
		{NASID: math.MaxInt64, SessionID: "x", Status: radius.AcctStop, EventTime: time.Unix(-1e10, 0).UTC(),
			SessionTime: math.MaxUint32, InputOctets: math.MaxUint64, OutputOctets: 1 << 40,
			InputPackets: math.MaxUint32, OutputPackets: 7, FramedIP: netip.MustParseAddr("fe80::1%eth0"),
			TerminateCause: "User-Request", Interim: math.MaxUint32},
		{NASID: 3, Status: radius.AcctAccountingOn, EventTime: time.Unix(0, 1).UTC(), NASAddr: netip.MustParseAddr("2001:db8::7")},
		{NASID: 4, SessionID: "ünïcødé \uFFFD", Username: "用户", Status: radius.AcctInterim, EventTime: time.Unix(1, 0).UTC()},
	}
}

func TestSpoolRecordRoundTrip(t *testing.T) {
	for _, r := range spoolRecords() {
		t.Run(r.Status.String(), func(t *testing.T) {
			p := appendRecord(nil, &r)
			var got radius.AcctRecord
			if err := decodeRecord(p, &got); err != nil {
				t.Fatal(err)
			}
			if got != r {
				t.Fatalf("decoded %+v\nwant    %+v", got, r)
			}
			for n := range len(p) {
				if err := decodeRecord(p[:n], &got); err == nil {
					t.Fatalf("a payload cut to %d of %d bytes decodes", n, len(p))
				}
			}
		})
	}
}

// TestSpoolRecordVersion1: a spool an older binary left (records without the NAS
// address) still replays after an upgrade.
func TestSpoolRecordVersion1(t *testing.T) {
	r := spoolRecords()[1]
	p := appendRecord(nil, &r)
	if p[0] != recordVersion || p[len(p)-1] != 0 { // the version, and an empty NAS address last
		t.Fatalf("encoding starts with %d and ends with %d", p[0], p[len(p)-1])
	}
	v1 := append([]byte{1}, p[1:len(p)-1]...)
	var got radius.AcctRecord
	if err := decodeRecord(v1, &got); err != nil || got != r {
		t.Fatalf("version 1: %+v, %v; want %+v", got, err, r)
	}
	if err := decodeRecord(append([]byte{3}, p[1:]...), &got); err == nil {
		t.Fatal("an unknown version decodes")
	}
}

// mustFrames returns recs encoded as spool frames.
func mustFrames(tb testing.TB, recs []radius.AcctRecord) []byte {
	tb.Helper()
	var b []byte
	for i := range recs {
		p := appendRecord(nil, &recs[i])
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum(p, crcTable))
		b = append(b, p...)
	}
	return b
}

// tornTails are what a crash during an append can leave after the last whole frame.
func tornTails(tb testing.TB) []struct {
	name string
	tail []byte
} {
	frame := mustFrames(tb, spoolRecords()[:1])
	badCRC := bytes.Clone(frame)
	badCRC[5] ^= 0xff
	return []struct {
		name string
		tail []byte
	}{
		{"clean", nil},
		{"torn header", frame[:3]},
		{"header only", frame[:frameHeader]},
		{"torn payload", frame[:len(frame)-1]},
		{"bad checksum", badCRC},
		{"zeros", make([]byte, 64)},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1}},
	}
}

func TestSpoolTornTail(t *testing.T) {
	recs := spoolRecords()
	for _, tt := range tornTails(t) {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			whole := mustFrames(t, recs)
			if err := os.WriteFile(filepath.Join(dir, spoolFile), append(bytes.Clone(whole), tt.tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			s, cut, err := openSpool(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			if cut != int64(len(tt.tail)) || s.size != int64(len(whole)) || s.frames != int64(len(recs)) {
				t.Fatalf("cut %d, size %d, frames %d; want %d, %d, %d", cut, s.size, s.frames, len(tt.tail), len(whole), len(recs))
			}
			// What is appended now follows the last whole frame and reads back.
			more := spoolRecords()[:2]
			if err := s.append(more); err != nil {
				t.Fatal(err)
			}
			c, err := s.next(100, nil)
			if err != nil || c.bad != 0 || c.damaged != 0 || c.end != s.size || c.frames != len(recs)+len(more) {
				t.Fatalf("next: %+v, size %d, err %v", c, s.size, err)
			}
			for i, r := range append(recs, more...) {
				if c.recs[i] != r {
					t.Fatalf("record %d = %+v, want %+v", i, c.recs[i], r)
				}
			}
			if s.aside != "" {
				t.Fatalf("a torn tail was kept aside as damage: %s", s.aside)
			}
			data, err := os.ReadFile(filepath.Join(dir, spoolFile))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data[:len(whole)], whole) || int64(len(data)) != s.size {
				t.Fatalf("file is %d bytes, want %d starting with the whole frames", len(data), s.size)
			}
		})
	}
}

func TestSpoolChunks(t *testing.T) {
	s, _, err := openSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	recs := spoolRecords()
	for range 5 {
		if err := s.append(recs); err != nil {
			t.Fatal(err)
		}
	}
	var all []radius.AcctRecord
	for s.pending() {
		c, err := s.next(3, nil)
		if err != nil || len(c.recs) != c.frames || len(c.recs) > 3 || len(c.recs) == 0 {
			t.Fatalf("next: %d records, %d frames, err %v", len(c.recs), c.frames, err)
		}
		all = append(all, c.recs...)
		s.read = c.end
	}
	if len(all) != 5*len(recs) {
		t.Fatalf("read %d records, want %d", len(all), 5*len(recs))
	}
	for i := range all {
		if all[i] != recs[i%len(recs)] {
			t.Fatalf("record %d = %+v", i, all[i])
		}
	}
	if err := s.reset(); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.f.Stat(); info.Size() != 0 || s.pending() {
		t.Fatalf("after reset: %d bytes, pending %v", info.Size(), s.pending())
	}
}

func TestSpoolLocked(t *testing.T) {
	dir := t.TempDir()
	s, _, err := openSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := openSpool(dir); err == nil {
		t.Fatal("a second writer opened a locked spool")
	}
	if _, err := NewAcctWriter(nil, MustLogger(t), AcctWriterOptions{SpoolDir: dir}); err == nil {
		t.Fatal("NewAcctWriter accepted a nil pool")
	}
	if _, err := newAcctWriter(&switchDB{}, MustLogger(t), AcctWriterOptions{SpoolDir: dir}); err == nil {
		t.Fatal("a second writer opened a locked spool")
	}
	s.close()
	s, _, err = openSpool(dir)
	if err != nil {
		t.Fatalf("spool still locked after close: %v", err)
	}
	s.close()
}

func FuzzSpool(f *testing.F) {
	for _, r := range spoolRecords() {
		f.Add(appendRecord(nil, &r))
		f.Add(mustFrames(f, []radius.AcctRecord{r}))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Any bytes scan without panic, and never beyond what they hold.
		end, frames, _, err := scanFrames(newFrameReader(bytes.NewReader(data)))
		if err != nil || end > int64(len(data)) || frames*frameHeader > end {
			t.Fatalf("scan: end %d of %d, %d frames, err %v", end, len(data), frames, err)
		}
		// A payload that decodes encodes back to the same record.
		var r radius.AcctRecord
		if decodeRecord(data, &r) != nil {
			return
		}
		var again radius.AcctRecord
		if err := decodeRecord(appendRecord(nil, &r), &again); err != nil || again != r {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, r)
		}
	})
}
