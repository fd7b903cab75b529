package predictor

import (
	"math"
	"sync/atomic"
)

// driftRing carries records from the decision path to the drift goroutine
// without a lock and without waking anyone: a caller claims a slot with one
// atomic add and writes it; the drift goroutine drains what was written on
// its own ticker. A channel did the same job but woke the drift goroutine
// for nearly every decision, which at 64 goroutines took CPU from the
// sidecar's reader and writer.
type driftRing struct {
	next  atomic.Uint64 // records claimed so far
	mask  uint64
	slots []driftSlot
}

// driftSlot is one record under a sequence lock: seq is 0 while a writer
// fills it and n+1 once record n is complete, so a reader can tell a whole
// record from one being overwritten.
type driftSlot struct {
	seq atomic.Uint64
	f   [maxDriftFeatures]atomic.Uint32 // float32 bits
	p   atomic.Uint32
}

// newDriftRing holds at least size records (rounded up to a power of two).
func newDriftRing(size int) *driftRing {
	n := 1
	for n < size {
		n <<= 1
	}
	return &driftRing{mask: uint64(n - 1), slots: make([]driftSlot, n)}
}

// put is the decision path's cost: O(1), no allocation, never blocks.
func (r *driftRing) put(features []float32, p float32) {
	n := r.next.Add(1) - 1
	s := &r.slots[n&r.mask]
	s.seq.Store(0)
	for i, x := range features[:min(len(features), maxDriftFeatures)] {
		s.f[i].Store(math.Float32bits(x))
	}
	s.p.Store(math.Float32bits(p))
	s.seq.Store(n + 1)
}

// drain hands every record written since cursor to fn, oldest first, and
// returns the new cursor and how many records were lost because the
// decision path outran the drain and overwrote them. It stops at a record a
// caller is still writing; the next drain resumes there.
func (r *driftRing) drain(cursor uint64, fn func(driftRec)) (uint64, uint64) {
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
		var rec driftRec
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
