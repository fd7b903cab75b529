package main

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"testing"
	"time"
)

func TestPercentilesUseNearestRank(t *testing.T) {
	lat := make([]time.Duration, 0, 1000)
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	p := percentiles(lat)
	want := Percentiles{P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000, Mean: 500.5}
	if p != want {
		t.Fatalf("percentiles = %+v, want %+v", p, want)
	}
	if (percentiles(nil) != Percentiles{}) {
		t.Fatal("percentiles of no sample must be zero")
	}
}

// cat is a real process that, like pipeecho, sends back what it reads.
func startCat(t *testing.T, lim limits) *pipeClient {
	t.Helper()
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat on PATH")
	}
	c, _, err := startPipeClient(context.Background(), []string{cat}, t.TempDir(), io.Discard, false, lim)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEchoClientAnswersEveryCallUnderConcurrency(t *testing.T) {
	c := startCat(t, limits{maxBatch: 64, maxInFlight: 2})
	recs := records(16, 1)
	r := measure(context.Background(), "echo", c, 32, plan{calls: 5000}, recs)
	if err := c.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if r.Calls != 5000 || r.Failures != 0 {
		t.Fatalf("calls=%d failures=%d (%s), want 5000 answered", r.Calls, r.Failures, r.FirstError)
	}
	if r.MeanBatch < 1 || r.MeanBatch > 64 {
		t.Fatalf("mean batch %v outside [1, maxBatch=64]", r.MeanBatch)
	}
}

func TestCallsFailWhenTheChildDies(t *testing.T) {
	// `true` exits at once without answering: the call must fail, not hang.
	c, _, err := startPipeClient(context.Background(), []string{"true"}, t.TempDir(), io.Discard, false, limits{maxBatch: 8, maxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = c.call(ctx, []float32{0, 0, 0})
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to a dead child returned %v, want a read/write error", err)
	}
}
