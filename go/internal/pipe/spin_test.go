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
	src, err := NewSpinReader(r, 50*time.Microsecond, nil)
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
	src, err := NewSpinReader(r, time.Millisecond, nil)
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
	src, err := NewSpinReader(r, 0, nil)
	if err != nil || src != io.Reader(r) {
		t.Fatalf("spin 0: got %T, %v; want the *os.File", src, err)
	}
}
