package postgres

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"tollgate/radius"
)

// The spool is an append-only file of frames, one accounting record each:
//
//	length  uint32, big endian: the payload's length
//	crc     uint32, big endian: CRC-32C (Castagnoli) of the payload
//	payload length bytes: the record (see appendRecord)
//
// A frame is acknowledged only after the fsync that follows its append, so a crash
// can leave at most the last frame torn: whatever follows the last whole frame was
// never acknowledged, and is cut off when the spool is opened.
//
// A damaged disk can also spoil a frame in the middle. Every frame after it was
// acknowledged, so nothing stops there: reading resynchronises on the next whole frame
// (a possible length, a known record version and a matching checksum), the file is
// copied aside (acct.spool.<time>.damaged, never deleted by tollgate) for an operator
// to look at, and the writer logs and counts the stretch it skipped.

// spoolFile is the spool's name inside AcctWriterOptions.SpoolDir.
const spoolFile = "acct.spool"

const (
	frameHeader = 8
	// maxFrame bounds a payload: a record comes from one RADIUS packet (at most 4096
	// bytes), so a longer length can only be garbage.
	maxFrame = 16 << 10
	// recordVersion is the payload's first byte. Version 1 (without the NAS address)
	// is still read, so that a spool left by an older binary replays after an upgrade.
	recordVersion = 2
	// damagedSuffix ends the name of a damaged spool's copy.
	damagedSuffix = ".damaged"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errTorn reports a frame that is cut short or fails its checksum.
var errTorn = errors.New("torn or corrupt frame")

// spool is the writer's spool file. Only the writer goroutine uses it.
type spool struct {
	f    *os.File
	path string
	// size is the end of the last whole frame; appends go there.
	size int64
	// read is how far the frames are in Postgres; frames before it are only waiting
	// for the file to be truncated.
	read int64
	// frames counts the frames between read and size.
	frames int64

	// aside is the copy of the file kept since damage was found in it ("" while none);
	// asideErr is why openSpool could not make it.
	aside    string
	asideErr error
	// damageSeen is how far damage was already reported, so that reading a chunk
	// again (after Postgres failed) does not count it twice.
	damageSeen int64

	buf []byte        // append's encoding buffer
	br  *bufio.Reader // next's reader
}

// openSpool opens (creating it if needed) dir's spool, locks it against a second
// writer, and cuts off a torn tail. It returns the spool and the number of bytes cut.
// When frames are damaged in the middle, the file is first copied aside (s.aside, or
// s.asideErr).
func openSpool(dir string) (*spool, int64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("postgres: spool: %w", err)
	}
	path := filepath.Join(dir, spoolFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: spool: %w", err)
	}
	s := &spool{f: f, path: path, br: newFrameReader(nil)}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("postgres: spool %s: in use by another writer: %w", path, err)
	}
	// The file's directory entry must be durable before a frame in it is acknowledged.
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("postgres: spool: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("postgres: spool: %w", err)
	}
	end, frames, damaged, err := scanFrames(newFrameReader(f))
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("postgres: spool %s: %w", path, err)
	}
	if damaged {
		// Before the tail is cut: the copy holds the file as it was found. Failing to
		// copy does not stop the writer (the replay tries again): the records after the
		// damage must still be written.
		s.asideErr = s.keepAside()
	}
	cut := info.Size() - end
	if cut > 0 {
		// Appends must follow the last whole frame, not the torn one.
		if err := f.Truncate(end); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("postgres: spool %s: cut torn tail: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("postgres: spool %s: cut torn tail: %w", path, err)
		}
	}
	s.size, s.frames = end, frames
	return s, cut, nil
}

// newFrameReader returns a reader that readFrame can use: its buffer holds the
// longest frame.
func newFrameReader(r io.Reader) *bufio.Reader {
	return bufio.NewReaderSize(r, frameHeader+maxFrame)
}

// scanFrames returns where the last whole frame in r ends and how many whole frames
// there are; what follows the last one is a torn tail. damaged reports bytes that are no
// frame between two whole frames.
func scanFrames(r *bufio.Reader) (end, frames int64, damaged bool, err error) {
	var off int64
	for {
		payload, err := readFrame(r)
		switch {
		case errors.Is(err, io.EOF):
			return end, frames, damaged, nil
		case errors.Is(err, errTorn):
			n, err := resync(r)
			if err != nil {
				return 0, 0, false, err
			}
			if _, err := r.Peek(1); errors.Is(err, io.EOF) {
				return end, frames, damaged, nil // nothing whole after it: a torn tail
			}
			off += n
			damaged = true
			continue
		case err != nil:
			return 0, 0, false, err
		}
		off += frameHeader + int64(len(payload))
		end = off
		frames++
	}
}

// resync skips from r's position, where no whole frame starts, to the start of the next
// whole frame, or to the end of r, and returns how many bytes it skipped. A frame is
// believed only with a possible length, a known record version and a matching CRC-32C,
// so damaged bytes pass for one with odds far below one in 2^32.
func resync(r *bufio.Reader) (int64, error) {
	var skipped int64
	for {
		if _, err := r.Discard(1); err != nil {
			if errors.Is(err, io.EOF) {
				return skipped, nil
			}
			return skipped, err
		}
		skipped++
		hdr, err := r.Peek(frameHeader + 1)
		if len(hdr) < frameHeader+1 {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				// Too short for any frame: the rest is damage too.
				n, _ := r.Discard(len(hdr))
				return skipped + int64(n), nil
			}
			return skipped, err
		}
		if n := binary.BigEndian.Uint32(hdr[0:4]); n == 0 || n > maxFrame || (hdr[frameHeader] != 1 && hdr[frameHeader] != recordVersion) {
			continue
		}
		switch _, err := peekFrame(r); {
		case err == nil:
			return skipped, nil
		case errors.Is(err, errTorn):
		default:
			return skipped, err
		}
	}
}

// readFrame reads one frame from r (made by newFrameReader) and returns its payload,
// valid until the next read. It returns io.EOF at the end, and errTorn for a frame cut
// short or failing its checksum.
func readFrame(r *bufio.Reader) ([]byte, error) {
	payload, err := peekFrame(r)
	if err == nil {
		_, _ = r.Discard(frameHeader + len(payload))
	}
	return payload, err
}

// peekFrame is readFrame without moving past the frame.
func peekFrame(r *bufio.Reader) ([]byte, error) {
	hdr, err := r.Peek(frameHeader)
	switch {
	case len(hdr) == 0 && errors.Is(err, io.EOF):
		return nil, io.EOF
	case len(hdr) < frameHeader && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return nil, errTorn
	case err != nil:
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[0:4]))
	sum := binary.BigEndian.Uint32(hdr[4:8])
	if n == 0 || n > maxFrame {
		return nil, errTorn
	}
	frame, err := r.Peek(frameHeader + n)
	switch {
	case len(frame) < frameHeader+n && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return nil, errTorn
	case err != nil:
		return nil, err
	}
	payload := frame[frameHeader:]
	if crc32.Checksum(payload, crcTable) != sum {
		return nil, errTorn
	}
	return payload, nil
}

// pending reports whether frames wait for Postgres.
func (s *spool) pending() bool { return s.read < s.size }

// append writes recs as frames after the last one and fsyncs. On error the file is cut
// back to what it was, so no partial batch is ever replayed.
func (s *spool) append(recs []radius.AcctRecord) error {
	buf := s.buf[:0]
	for i := range recs {
		start := len(buf)
		buf = append(buf, make([]byte, frameHeader)...)
		buf = appendRecord(buf, &recs[i])
		payload := buf[start+frameHeader:]
		binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
		binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, crcTable))
	}
	s.buf = buf
	if _, err := s.f.WriteAt(buf, s.size); err != nil {
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("postgres: spool %s: append: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("postgres: spool %s: fsync: %w", s.path, err)
	}
	s.size += int64(len(buf))
	s.frames += int64(len(recs))
	if cap(s.buf) > 1<<20 {
		s.buf = nil // do not keep a huge batch's buffer forever
	}
	return nil
}

// chunk is what one call of next read.
type chunk struct {
	recs   []radius.AcctRecord
	end    int64 // the offset after the last frame read
	frames int   // whole frames read
	bad    int   // whole frames whose record does not decode (a future version)
	// damaged counts the stretches of damage skipped that were not reported before,
	// damagedBytes their length and damagedAt the offset of the first.
	damaged      int
	damagedBytes int64
	damagedAt    int64
}

// next appends to dst up to max records from the frames after s.read, and returns them
// with the offset after the last one and the number of frames it read. A frame whose
// record it cannot decode (a future version) is skipped and counted in bad; damage is
// skipped up to the next whole frame and reported once (see chunk). err is only a
// failure to read the file.
func (s *spool) next(max int, dst []radius.AcctRecord) (chunk, error) {
	s.br.Reset(io.NewSectionReader(s.f, s.read, s.size-s.read))
	c := chunk{recs: dst, end: s.read}
	for len(c.recs) < max && c.end < s.size {
		payload, err := readFrame(s.br)
		if errors.Is(err, io.EOF) || errors.Is(err, errTorn) {
			// size says a whole frame is there: the disk spoilt it.
			n, err := resync(s.br)
			if err != nil {
				return c, fmt.Errorf("postgres: spool %s at offset %d: %w", s.path, c.end, err)
			}
			if n == 0 {
				n = s.size - c.end // the file is shorter than what was appended
			}
			if c.end >= s.damageSeen {
				if c.damaged == 0 {
					c.damagedAt = c.end
				}
				c.damaged++
				c.damagedBytes += n
				s.damageSeen = c.end + n
			}
			c.end += n
			continue
		}
		if err != nil {
			return c, fmt.Errorf("postgres: spool %s at offset %d: %w", s.path, c.end, err)
		}
		c.end += frameHeader + int64(len(payload))
		c.frames++
		var r radius.AcctRecord
		if err := decodeRecord(payload, &r); err != nil {
			c.bad++
			continue
		}
		c.recs = append(c.recs, r)
	}
	return c, nil
}

// keepAside copies the spool, as it is now, to a new file beside it that tollgate never
// deletes, once per spool: the damage in it is for an operator to look at.
func (s *spool) keepAside() error {
	if s.aside != "" {
		return nil
	}
	name := s.path + "." + time.Now().UTC().Format("20060102T150405.000000000Z") + damagedSuffix
	out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("postgres: spool %s: keep damaged copy: %w", s.path, err)
	}
	info, err := s.f.Stat()
	if err == nil {
		_, err = io.Copy(out, io.NewSectionReader(s.f, 0, info.Size()))
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.path))
	}
	if err != nil {
		return fmt.Errorf("postgres: spool %s: keep damaged copy %s: %w", s.path, name, err)
	}
	s.aside = name
	return nil
}

// reset empties the spool once every frame is in Postgres.
func (s *spool) reset() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("postgres: spool %s: truncate: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("postgres: spool %s: fsync: %w", s.path, err)
	}
	s.size, s.read, s.frames = 0, 0, 0
	s.aside, s.damageSeen = "", 0 // the next damage is new damage, in a new copy
	return nil
}

// close releases the file and its lock.
func (s *spool) close() error { return s.f.Close() }

// syncDir fsyncs a directory, making the entries in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// appendRecord appends r's encoding: the version byte, then the fields as varints and
// length-prefixed bytes, in a fixed order; version 2 added the NAS address at the end.
func appendRecord(b []byte, r *radius.AcctRecord) []byte {
	b = append(b, recordVersion)
	b = binary.AppendVarint(b, r.NASID)
	b = append(b, byte(r.Status))
	b = binary.AppendVarint(b, r.EventTime.Unix())
	b = binary.AppendUvarint(b, uint64(r.EventTime.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(r.SessionTime))
	b = binary.AppendUvarint(b, r.InputOctets)
	b = binary.AppendUvarint(b, r.OutputOctets)
	b = binary.AppendUvarint(b, uint64(r.InputPackets))
	b = binary.AppendUvarint(b, uint64(r.OutputPackets))
	b = binary.AppendUvarint(b, uint64(r.Interim))
	ip, _ := r.FramedIP.MarshalBinary() // never fails; empty for the zero Addr
	b = appendBytes(b, ip)
	for _, s := range [...]string{r.SessionID, r.Username, r.MAC, r.CalledStationID, r.NASPortID, r.Class, r.TerminateCause} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	nas, _ := r.NASAddr.MarshalBinary()
	return appendBytes(b, nas)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// errBadRecord reports a payload that does not decode.
var errBadRecord = errors.New("bad record encoding")

// decodeRecord decodes what appendRecord wrote into r.
func decodeRecord(p []byte, r *radius.AcctRecord) error {
	d := decoder{p: p}
	version := d.byte()
	if version != 1 && version != recordVersion {
		return errBadRecord
	}
	r.NASID = d.varint()
	r.Status = radius.AcctStatus(d.byte())
	sec, nsec := d.varint(), d.uvarint()
	r.SessionTime = d.uint32()
	r.InputOctets = d.uvarint()
	r.OutputOctets = d.uvarint()
	r.InputPackets = d.uint32()
	r.OutputPackets = d.uint32()
	r.Interim = d.uint32()
	ip := d.bytes()
	r.SessionID = d.string()
	r.Username = d.string()
	r.MAC = d.string()
	r.CalledStationID = d.string()
	r.NASPortID = d.string()
	r.Class = d.string()
	r.TerminateCause = d.string()
	var nas []byte
	if version >= 2 {
		nas = d.bytes()
	}
	if d.bad || len(d.p) != 0 || nsec >= 1e9 {
		return errBadRecord
	}
	r.EventTime = time.Unix(sec, int64(nsec)).UTC()
	r.FramedIP, r.NASAddr = netip.Addr{}, netip.Addr{}
	if r.FramedIP.UnmarshalBinary(ip) != nil || r.NASAddr.UnmarshalBinary(nas) != nil {
		return errBadRecord
	}
	return nil
}

// decoder reads a record's fields; after the first error every read returns zero and
// bad is set.
type decoder struct {
	p   []byte
	bad bool
}

func (d *decoder) byte() byte {
	if len(d.p) < 1 {
		d.bad = true
		return 0
	}
	c := d.p[0]
	d.p = d.p[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) uint32() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.bad = true
		return 0
	}
	return uint32(v)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.p)) {
		d.bad = true
		return nil
	}
	v := d.p[:n]
	d.p = d.p[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }
