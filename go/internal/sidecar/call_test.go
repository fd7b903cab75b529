package sidecar

import (
	"errors"
	"testing"
)

func TestHedgedCallHandsItsAnswerToTheLateCallback(t *testing.T) {
	c := NewCall([]float32{1})
	var got *Call
	if !c.Hedge(func(c *Call) { got = c }) {
		t.Fatal("Hedge on a waiting call reported it finished")
	}
	c.P = 0.7
	c.finish()
	if got != c || got.P != 0.7 {
		t.Fatalf("late callback got %v", got)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed")
	}

	failed := NewCall(nil)
	var gotErr error
	failed.Hedge(func(c *Call) { gotErr = c.Err })
	failed.Fail(ReasonChildDown, ErrUnavailable)
	if !errors.Is(gotErr, ErrUnavailable) {
		t.Fatalf("late callback of a failed call saw %v", gotErr)
	}
}

func TestHedgeAfterTheAnswerReportsFalseAndNeverCallsBack(t *testing.T) {
	c := NewCall(nil)
	c.finish()
	if c.Hedge(func(*Call) { t.Error("late callback for a call answered before the hedge") }) {
		t.Fatal("Hedge on an answered call reported true")
	}
}

func TestAnExpiredCallNeverCallsBackAndAnAnsweredOneCannotExpire(t *testing.T) {
	c := NewCall(nil)
	if c.Expire() {
		t.Fatal("Expire of a call nobody hedged reported true")
	}
	c.Hedge(func(*Call) { t.Error("late callback for a call its deadline took") })
	if !c.Expire() {
		t.Fatal("Expire of a hedged, unfinished call reported false")
	}
	c.Fail(ReasonChildDown, ErrUnavailable) // its session ends later

	answered := NewCall(nil)
	calls := 0
	answered.Hedge(func(*Call) { calls++ })
	answered.finish()
	if answered.Expire() || calls != 1 {
		t.Fatalf("a hedged call answered first: Expire true or %d late callbacks, want false and 1", calls)
	}
}
