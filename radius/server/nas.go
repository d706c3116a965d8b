package server

import (
	"crypto/hmac"
	"crypto/md5"
	"hash"
	"net/netip"
	"sort"
	"sync"

	"tollgate/radius"
)

// nasEntry is one NAS in the snapshot, with a pool of HMAC-MD5 states keyed with its
// secret so Message-Authenticator costs no key schedule per packet.
type nasEntry struct {
	radius.NAS
	// requireMA is n.RequiresMessageAuthenticator(), worked out once.
	requireMA bool
	hmacs     sync.Pool
}

func newNASEntry(n radius.NAS) *nasEntry {
	e := &nasEntry{NAS: n, requireMA: n.RequiresMessageAuthenticator()}
	secret := n.Secret
	e.hmacs.New = func() any { return hmac.New(md5.New, secret) }
	return e
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

func newSnapshot(list []radius.NAS) *snapshot {
	s := &snapshot{exact: make(map[netip.Addr]*nasEntry, len(list)), byID: make(map[int64]*nasEntry, len(list))}
	for _, n := range list {
		if len(n.Secret) == 0 {
			s.unusable = append(s.unusable, n.Name)
			continue
		}
		e := newNASEntry(n)
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
