//go:build unix

package main

import (
	"bytes"
	"os"
	"testing"
)

func TestThreadsRunTimeGrowsWithThisProcessWork(t *testing.T) {
	before, err := threadsRunTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := 0; i < 20_000_000; i++ {
		x += i % 7
	}
	after, err := threadsRunTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before || x == 0 {
		t.Fatalf("run time went from %v to %v s after a busy loop; want it to grow", before, after)
	}
}

func TestMissingModelIsRefusedBeforeAnythingStarts(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-idle", "1s"}, &out); err == nil || out.Len() != 0 {
		t.Fatalf("run without -model: err %v, output %q; want an error and no output", err, out.String())
	}
}
