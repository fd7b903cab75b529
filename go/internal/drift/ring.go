package drift

import (
	"math"
	"sync/atomic"
)

// ring carries records from the decision path to the drift goroutine
// without a lock: a caller claims a slot with one atomic add and writes it;
// the drift goroutine drains what was written on its evaluation tick, and
// also whenever a quarter of the ring has filled since the last poke (full),
// so it never wraps under load. A channel send per decision woke the drift
// goroutine for nearly every decision, which at 64 goroutines took CPU from
// the sidecar's reader and writer; a drain on a 10 ms timer woke the process
// 100 times a second, which at one goroutine moved the p50 of a decision
// against a Go fake sidecar from ~8 to ~10-13 µs (each wake-up reshuffles
// which core runs what).
type ring struct {
	next    atomic.Uint64 // records claimed so far
	mask    uint64
	quarter uint64 // put pokes full after every quarter-ring of records (a mask)
	slots   []slot
	full    chan struct{}
}

// slot is one record under a sequence lock: seq is 0 while a writer
// fills it and n+1 once record n is complete, so a reader can tell a whole
// record from one being overwritten.
type slot struct {
	seq atomic.Uint64
	f   [maxFeatures]atomic.Uint32 // float32 bits
	p   atomic.Uint32
}

// newRing holds at least size records (rounded up to a power of two).
func newRing(size int) *ring {
	n := 1
	for n < size {
		n <<= 1
	}
	return &ring{mask: uint64(n - 1), quarter: uint64(max(n/4, 1) - 1),
		slots: make([]slot, n), full: make(chan struct{}, 1)}
}

// put is the decision path's cost: O(1), no allocation, never blocks.
func (r *ring) put(features []float32, p float32) {
	n := r.next.Add(1) - 1
	s := &r.slots[n&r.mask]
	s.seq.Store(0)
	for i, x := range features[:min(len(features), maxFeatures)] {
		s.f[i].Store(math.Float32bits(x))
	}
	s.p.Store(math.Float32bits(p))
	s.seq.Store(n + 1)
	if n&r.quarter == r.quarter {
		select {
		case r.full <- struct{}{}:
		default: // a poke is already pending
		}
	}
}

// drain hands every record written since cursor to fn, oldest first, and
// returns the new cursor and how many records were lost because the
// decision path outran the drain and overwrote them. It stops at a record a
// caller is still writing; the next drain resumes there.
func (r *ring) drain(cursor uint64, fn func(record)) (uint64, uint64) {
	end := r.next.Load()
	var lost uint64
	size := r.mask + 1
	if end-cursor > size {
		lost, cursor = end-cursor-size, end-size
	}
	for n := cursor; n < end; n++ {
		s := &r.slots[n&r.mask]
		if seq := s.seq.Load(); seq != n+1 {
			if seq > n+1 || r.next.Load()-n > size { // overwritten by a later record
				lost++
				continue
			}
			return n, lost // still being written
		}
		var rec record
		for i := range rec.f {
			rec.f[i] = math.Float32frombits(s.f[i].Load())
		}
		rec.p = math.Float32frombits(s.p.Load())
		if s.seq.Load() != n+1 { // overwritten while read
			lost++
			continue
		}
		fn(rec)
	}
	return end, lost
}
