//go:build unix

package pipe

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// While an answer is owed the reader polls past spin, but only up to
// OwedSpin: a child that never answers costs it about a millisecond of CPU,
// not a core, before it parks.
func TestOwedSpinIsBounded(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	src, err := NewSpinReader(r, 50*time.Microsecond, func() bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	const wait = 200 * time.Millisecond
	before := cpuTime(t)
	go func() {
		time.Sleep(wait)
		_, _ = w.Write([]byte("x"))
	}()
	buf := make([]byte, 8)
	if n, err := src.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("read %q, %v; want \"x\"", buf[:n], err)
	}
	if used := cpuTime(t) - before; used > wait/4 {
		t.Fatalf("the reader used %v of CPU waiting %v for an owed answer; want about OwedSpin (%v)", used, wait, OwedSpin)
	}
}
