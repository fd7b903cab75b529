package pipe

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

func TestSpinReaderReadsWhatIsWrittenThenEOF(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src, err := NewSpinReader(r, 50*time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		// Later than the spin: the second chunk must arrive through the poller.
		_, _ = w.Write([]byte("ab"))
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte("cd"))
		w.Close()
	}()
	got, err := io.ReadAll(src)
	if err != nil || string(got) != "abcd" {
		t.Fatalf("read %q, %v; want \"abcd\", nil", got, err)
	}
}

func TestSpinReaderOnAClosedFileReportsErrClosed(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	src, err := NewSpinReader(r, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := src.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // past the spin: parked in the poller
	r.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read after close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read did not return after the file was closed")
	}
}

func TestSpinDisabledReturnsTheFileItself(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	src, err := NewSpinReader(r, 0)
	if err != nil || src != io.Reader(r) {
		t.Fatalf("spin 0: got %T, %v; want the *os.File", src, err)
	}
}

func TestSpinStopsForAWhileWhenTheThreadWasPreempted(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	src, err := NewSpinReader(r, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sr := src.(*spinReader)
	// Each poll sees 100µs pass, as if another process had the CPU in between.
	var calls int
	base := time.Now()
	sr.now = func() time.Time {
		calls++
		return base.Add(time.Duration(calls) * 100 * time.Microsecond)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte("x"))
	}()
	if n, err := src.Read(make([]byte, 8)); n != 1 || err != nil {
		t.Fatalf("read %d, %v; want 1 byte", n, err)
	}
	if calls != 2 {
		t.Fatalf("the clock was read %d times; want 2 (start, then the late poll that stops the spin)", calls)
	}
	if !sr.pausedUntil.After(base) {
		t.Fatal("a preempted spin must pause spinning")
	}
	// Paused: the next read parks after its first empty poll, long before the
	// second's spin of a second would end.
	calls = 0
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte("y"))
	}()
	if n, err := src.Read(make([]byte, 8)); n != 1 || err != nil {
		t.Fatalf("read %d, %v; want 1 byte", n, err)
	}
	if calls != 1 {
		t.Fatalf("the clock was read %d times while paused; want 1 (no spin)", calls)
	}
}
