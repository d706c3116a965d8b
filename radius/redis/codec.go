package redis

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"time"

	"tollgate/radius"
)

// Cached values start with a format byte. A value with an unknown format reads as a
// miss, so a rolling upgrade refills the cache instead of failing requests.
const (
	// formatNone is the negative marker: the store has no such account.
	formatNone byte = 0
	// formatV1 was an account without the voucher fields; it now reads as a miss.
	formatV1 byte = 1
	// formatV2 is an account: the fields of radius.Account in declaration order, strings
	// and bytes as uvarint length + data, integers as varints, times as unix
	// nanoseconds (0 = zero time), durations as nanoseconds, the static IP as a uvarint
	// length + netip.Addr.MarshalBinary (length 0 = no address), booleans as one byte
	// (0 or 1), string lists as a uvarint count + strings.
	formatV2 byte = 2
	// formatV3 was formatV2 followed by the code hash (bytes) and MAC login (boolean);
	// it now reads as a miss.
	formatV3 byte = 3
	// formatV4 is formatV3 followed by the subscription state (string), the isolation
	// plan's ID (varint), rate limit, pool and address list (strings). Every stored value
	// (this and formatNone) is followed by its expiry and the authentication tag
	// Cache.sealValue appends.
	formatV4 byte = 4
)

// negativeValue is the cached value of formatNone.
var negativeValue = []byte{formatNone}

var (
	errTruncated = errors.New("truncated value")
	errTrailing  = errors.New("trailing bytes")
	errFormat    = errors.New("unknown format")
	errAddr      = errors.New("bad address length")
	errBool      = errors.New("bad boolean")
)

// appendAccount appends the formatV4 encoding of a to b.
func appendAccount(b []byte, a *radius.Account) []byte {
	b = append(b, formatV4)
	b = binary.AppendVarint(b, a.ID)
	b = appendString(b, a.Username)
	b = binary.AppendUvarint(b, uint64(len(a.Password)))
	b = append(b, a.Password...)
	b = appendString(b, string(a.Status))
	b = appendString(b, a.MAC)
	b = appendAddr(b, a.StaticIP)
	b = binary.AppendVarint(b, a.PlanID)
	b = appendString(b, a.PlanName)
	b = appendString(b, string(a.Kind))
	b = appendString(b, a.RateLimit)
	b = binary.AppendVarint(b, timeNanos(a.ValidFrom))
	b = binary.AppendVarint(b, timeNanos(a.ValidUntil))
	b = binary.AppendVarint(b, int64(a.UptimeLimit))
	b = binary.AppendVarint(b, a.DataLimit)
	b = binary.AppendVarint(b, int64(a.SharedUsers))
	b = binary.AppendVarint(b, int64(a.Interim))
	b = appendString(b, a.Pool)
	b = appendString(b, a.AddressList)
	b = binary.AppendVarint(b, a.VoucherID)
	b = appendString(b, string(a.VoucherState))
	b = binary.AppendVarint(b, timeNanos(a.ActivatedAt))
	b = appendBool(b, a.LockMAC)
	b = appendStrings(b, a.AllowedNAS)
	b = appendStrings(b, a.AllowedServers)
	b = binary.AppendUvarint(b, uint64(len(a.CodeHash)))
	b = append(b, a.CodeHash...)
	b = appendBool(b, a.MACLogin)
	b = appendString(b, string(a.Subscription))
	b = binary.AppendVarint(b, a.IsolationPlanID)
	b = appendString(b, a.IsolationRateLimit)
	b = appendString(b, a.IsolationPool)
	b = appendString(b, a.IsolationAddressList)
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendStrings(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendAddr(b []byte, ip netip.Addr) []byte {
	if !ip.IsValid() {
		return append(b, 0)
	}
	n := len(b)
	b = append(b, 0)          // length placeholder: at most 16 + a zone, patched below
	b, _ = ip.AppendBinary(b) // never fails
	l := len(b) - n - 1
	if l < 0x80 {
		b[n] = byte(l)
		return b
	}
	// A zone of 112 bytes or more: rare enough to pay for a copy.
	out := binary.AppendUvarint(b[:n:n], uint64(l))
	return append(out, b[n+1:]...)
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// timeNanos returns t in unix nanoseconds, 0 for the zero time. Times outside what
// int64 nanoseconds hold (years 1678 to 2262) are clamped, and a real time at exactly
// the epoch becomes 1 ns later, so that it never reads back as "no bound".
func timeNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return 1
}

// decodeAccount decodes a formatV4 value into a. String fields share the memory of s
// (strings are immutable, so this is safe); only Password and the non-empty string
// lists (a slice each) are allocated.
func decodeAccount(s string, a *radius.Account) error {
	if len(s) == 0 {
		return errTruncated
	}
	if s[0] != formatV4 {
		return errFormat
	}
	d := decoder{s: s[1:]}
	a.ID = d.varint()
	a.Username = d.string()
	if p := d.string(); p != "" {
		a.Password = []byte(p)
	} else {
		a.Password = nil
	}
	a.Status = radius.Status(d.string())
	a.MAC = d.string()
	a.StaticIP = d.addr()
	a.PlanID = d.varint()
	a.PlanName = d.string()
	a.Kind = radius.PlanKind(d.string())
	a.RateLimit = d.string()
	a.ValidFrom = d.time()
	a.ValidUntil = d.time()
	a.UptimeLimit = time.Duration(d.varint())
	a.DataLimit = d.varint()
	a.SharedUsers = int(d.varint())
	a.Interim = time.Duration(d.varint())
	a.Pool = d.string()
	a.AddressList = d.string()
	a.VoucherID = d.varint()
	a.VoucherState = radius.VoucherState(d.string())
	a.ActivatedAt = d.time()
	a.LockMAC = d.bool()
	a.AllowedNAS = d.strings()
	a.AllowedServers = d.strings()
	if h := d.string(); h != "" {
		a.CodeHash = []byte(h)
	} else {
		a.CodeHash = nil
	}
	a.MACLogin = d.bool()
	a.Subscription = radius.SubscriptionState(d.string())
	a.IsolationPlanID = d.varint()
	a.IsolationRateLimit = d.string()
	a.IsolationPool = d.string()
	a.IsolationAddressList = d.string()
	if d.err == nil && len(d.s) != 0 {
		d.err = errTrailing
	}
	return d.err
}

// decoder reads from a string, so that no []byte copy of the value is needed. After the
// first error every read returns a zero value.
type decoder struct {
	s   string
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.s = ""
}

// uvarint is binary.Uvarint over a string.
func (d *decoder) uvarint() uint64 {
	var x uint64
	var shift uint
	for i := 0; i < len(d.s); i++ {
		if i == binary.MaxVarintLen64 {
			break // overflow
		}
		c := d.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflow
			}
			d.s = d.s[i+1:]
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail(errTruncated)
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.fail(errTruncated)
		return ""
	}
	v := d.s[:n]
	d.s = d.s[n:]
	return v
}

// bool reads one byte that must be 0 or 1, so every value has one encoding.
func (d *decoder) bool() bool {
	if len(d.s) == 0 {
		d.fail(errTruncated)
		return false
	}
	if d.s[0] > 1 {
		d.fail(errBool)
		return false
	}
	v := d.s[0] == 1
	d.s = d.s[1:]
	return v
}

// strings reads a string list; an empty one is nil. The count is checked against the
// bytes left (each string takes at least one), so a corrupt count cannot allocate much.
func (d *decoder) strings() []string {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		return nil
	}
	if n > uint64(len(d.s)) {
		d.fail(errTruncated)
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.string()
	}
	if d.err != nil {
		return nil
	}
	return l
}

func (d *decoder) time() time.Time {
	n := d.varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// addr mirrors netip.Addr.UnmarshalBinary without converting the string to []byte.
func (d *decoder) addr() netip.Addr {
	b := d.string()
	switch {
	case d.err != nil || len(b) == 0:
		return netip.Addr{}
	case len(b) == 4:
		var a [4]byte
		copy(a[:], b)
		return netip.AddrFrom4(a)
	case len(b) >= 16:
		var a [16]byte
		copy(a[:], b)
		ip := netip.AddrFrom16(a)
		if len(b) > 16 {
			ip = ip.WithZone(b[16:])
		}
		return ip
	}
	d.fail(errAddr)
	return netip.Addr{}
}
