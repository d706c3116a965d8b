package main

import (
	"math/bits"
	"time"
)

// histogram is a fixed-size, HDR-like log-linear latency histogram with
// microsecond units. Values below 2048µs are recorded exactly; above that
// every power-of-two range is split into 1024 linear sub-buckets (relative
// error < 0.1%). Values are clamped at histMaxUS (10 s); the exact maximum is
// tracked separately. Recording never allocates.
type histogram struct {
	counts []uint64
	total  uint64
	max    time.Duration
}

const (
	histSubBits = 10
	histSub     = 1 << histSubBits // sub-buckets per power of two
	histMaxUS   = 10_000_000       // 10 s
)

var histBuckets = histIndex(histMaxUS) + 1

func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, histBuckets)}
}

func histIndex(us uint64) int {
	if us < 2*histSub {
		return int(us)
	}
	shift := bits.Len64(us) - (histSubBits + 1)
	return (shift+1)*histSub + int(us>>uint(shift)) - histSub
}

// histValue returns a representative value (bucket midpoint) in µs.
func histValue(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := uint(i/histSub - 1)
	lo := uint64(i%histSub+histSub) << shift
	return lo + (uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	if d > h.max {
		h.max = d
	}
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	if us > histMaxUS {
		us = histMaxUS
	}
	h.counts[histIndex(uint64(us))]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the latency at quantile q in (0,1]; 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > h.total {
		rank = h.total
	}
	if rank == h.total {
		return h.max // the top quantile is the exact maximum
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			if i == len(h.counts)-1 {
				return h.max // clamped (>= 10 s) bucket
			}
			d := time.Duration(histValue(i)) * time.Microsecond
			if d > h.max {
				d = h.max
			}
			return d
		}
	}
	return h.max
}
