package server

import (
	"crypto/hmac"
	"crypto/md5"
	"hash"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"tollgate/radius"
)

// nasEntry is one NAS in the snapshot, with a pool of HMAC-MD5 states keyed with its
// secret so Message-Authenticator costs no key schedule per packet, and its activity
// counters.
type nasEntry struct {
	radius.NAS
	// requireMA is n.RequiresMessageAuthenticator(), worked out once.
	requireMA bool
	hmacs     sync.Pool
	// counts are the NAS's activity. The same counters pass from snapshot to snapshot
	// while the NAS keeps its ID, so a reload (every admin change, every 30 seconds)
	// loses no count.
	counts *nasCounts
}

// nasCounts is what one NAS sent and what became of it: atomic adds on the hot path,
// nothing allocated. Requests counts every datagram from the NAS (auth, accounting,
// Status-Server, retransmits); Drops those left unanswered for a fault of the packet,
// a store or an overload (not the retransmits answered from the reply cache).
type nasCounts struct {
	requests, accepts, rejects, acct, drops atomic.Uint64
	// lastSeen is the arrival of the latest datagram, in Unix nanoseconds (0: none).
	lastSeen atomic.Int64
}

func newNASEntry(n radius.NAS, counts *nasCounts) *nasEntry {
	if counts == nil {
		counts = &nasCounts{}
	}
	e := &nasEntry{NAS: n, requireMA: n.RequiresMessageAuthenticator(), counts: counts}
	secret := n.Secret
	e.hmacs.New = func() any { return hmac.New(md5.New, secret) }
	return e
}

// activity returns the entry's counters as the domain reads them.
func (e *nasEntry) activity() radius.NASActivity {
	a := radius.NASActivity{NASID: e.ID, NASName: e.Name,
		Requests: e.counts.requests.Load(), Accepts: e.counts.accepts.Load(), Rejects: e.counts.rejects.Load(),
		Accounting: e.counts.acct.Load(), Drops: e.counts.drops.Load()}
	if ns := e.counts.lastSeen.Load(); ns != 0 {
		a.LastSeen = time.Unix(0, ns)
	}
	return a
}

func (e *nasEntry) mac(parts ...[]byte) [16]byte {
	h := e.hmacs.Get().(hash.Hash)
	h.Reset()
	for _, p := range parts {
		h.Write(p)
	}
	var out [16]byte
	h.Sum(out[:0])
	e.hmacs.Put(h)
	return out
}

// snapshot finds a NAS by the source address of a packet. It is immutable once built and
// swapped whole behind an atomic pointer, so lookups take no lock and touch no database.
type snapshot struct {
	byID     map[int64]*nasEntry
	exact    map[netip.Addr]*nasEntry
	prefixes []*nasEntry // longest prefix first
	// unusable names the NASes left out for want of a secret, by name.
	unusable []string
}

// newSnapshot indexes list; the NASes that prev (nil: none) held under the same ID keep
// their counters.
func newSnapshot(list []radius.NAS, prev *snapshot) *snapshot {
	s := &snapshot{exact: make(map[netip.Addr]*nasEntry, len(list)), byID: make(map[int64]*nasEntry, len(list))}
	for _, n := range list {
		if len(n.Secret) == 0 {
			s.unusable = append(s.unusable, n.Name)
			continue
		}
		var counts *nasCounts
		if prev != nil {
			if old, ok := prev.byID[n.ID]; ok {
				counts = old.counts
			}
		}
		e := newNASEntry(n, counts)
		s.byID[n.ID] = e
		p := n.Prefix.Masked()
		if p.IsSingleIP() {
			s.exact[p.Addr().Unmap()] = e
			continue
		}
		s.prefixes = append(s.prefixes, e)
	}
	sort.Slice(s.prefixes, func(i, j int) bool { return s.prefixes[i].Prefix.Bits() > s.prefixes[j].Prefix.Bits() })
	sort.Strings(s.unusable)
	return s
}

func (s *snapshot) lookup(a netip.Addr) *nasEntry {
	a = a.Unmap()
	if e, ok := s.exact[a]; ok {
		return e
	}
	for _, e := range s.prefixes {
		if e.Prefix.Contains(a) {
			return e
		}
	}
	return nil
}
