package drift

import (
	"sync"
	"testing"
)

func TestDriftRingDrainsRecordsInOrderAndCountsOverwrittenOnes(t *testing.T) {
	r := newRing(4)
	for i := range 6 { // two more than it holds: the two oldest are lost
		r.put([]float32{float32(i), -float32(i)}, float32(i)/10)
	}
	var got []float32
	cursor, lost := r.drain(0, func(rec record) {
		if rec.f[1] != -rec.f[0] || rec.p != rec.f[0]/10 {
			t.Errorf("torn record %+v", rec)
		}
		got = append(got, rec.f[0])
	})
	if cursor != 6 || lost != 2 || len(got) != 4 || got[0] != 2 || got[3] != 5 {
		t.Fatalf("cursor %d lost %d got %v, want 6, 2, [2 3 4 5]", cursor, lost, got)
	}
	if _, lost := r.drain(cursor, func(record) { t.Error("drained twice") }); lost != 0 {
		t.Fatalf("lost %d on an empty drain", lost)
	}
}

func TestDriftRingWaitsForARecordStillBeingWritten(t *testing.T) {
	r := newRing(8)
	r.put([]float32{1}, 0.1)
	r.next.Add(1) // a caller has claimed slot 1 but not written it yet
	cursor, lost := r.drain(0, func(record) {})
	if cursor != 1 || lost != 0 {
		t.Fatalf("cursor %d lost %d, want 1, 0: the unwritten record is neither read nor lost", cursor, lost)
	}
	s := &r.slots[1]
	s.p.Store(0)
	s.seq.Store(2) // the caller finishes
	var got int
	if cursor, lost = r.drain(cursor, func(record) { got++ }); cursor != 2 || lost != 0 || got != 1 {
		t.Fatalf("cursor %d lost %d read %d, want 2, 0, 1", cursor, lost, got)
	}
}

func TestDriftRingUnderConcurrentWritersNeverYieldsATornRecord(t *testing.T) {
	r := newRing(64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				x := float32(g*10000 + i)
				r.put([]float32{x, x, x}, x)
			}
		}()
	}
	var seen, lost uint64
	var cursor uint64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		var l uint64
		cursor, l = r.drain(cursor, func(rec record) {
			seen++
			if rec.f[0] != rec.f[1] || rec.f[1] != rec.f[2] || rec.p != rec.f[0] {
				t.Errorf("torn record %+v", rec)
			}
		})
		lost += l
	}
	cursor, l := r.drain(cursor, func(record) { seen++ })
	lost += l
	if cursor != 16000 || seen+lost != 16000 {
		t.Fatalf("seen %d + lost %d != 16000 records written", seen, lost)
	}
}

func TestPutPokesTheDrainOncePerQuarterRing(t *testing.T) {
	r := newRing(64) // a quarter is 16 records
	f := []float32{1, 2, 3}
	pokes := 0
	for i := range 160 {
		r.put(f, 0.5)
		select {
		case <-r.full:
			pokes++
			if (i+1)%16 != 0 {
				t.Fatalf("poked after record %d, want only after every 16th", i+1)
			}
		default:
		}
	}
	if pokes != 10 {
		t.Fatalf("%d pokes for 160 records, want 10", pokes)
	}
	// A drain that falls behind finds one poke pending, not one per quarter:
	// put never blocks.
	for range 64 {
		r.put(f, 0.5)
	}
	if len(r.full) != 1 {
		t.Fatalf("%d pokes pending, want 1", len(r.full))
	}
}
