package main

import (
	"slices"
	"testing"
)

func TestRegimeShiftWidensDislocationsAndLeavesRecordedSignalAlone(t *testing.T) {
	rec := []float32{0.2, -0.3, 1.2}
	if got := marketFeatures(rec); !slices.Equal(got, rec) {
		t.Fatalf("before the shift: %v, want the recorded %v", got, rec)
	}
	shifted.Store(true)
	t.Cleanup(func() { shifted.Store(false) })
	got := marketFeatures(rec)
	if want := []float32{0.55, -0.3, 3}; !slices.Equal(got, want) {
		t.Fatalf("after the shift: %v, want %v", got, want)
	}
	if !slices.Equal(rec, []float32{0.2, -0.3, 1.2}) {
		t.Fatalf("the recorded signal was modified: %v", rec)
	}
	if got := marketFeatures([]float32{1, 0, 0}); got[0] > 1 {
		t.Fatalf("tick_ratio left [-1, 1]: %v", got)
	}
}
