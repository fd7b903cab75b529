//go:build unix

// POSIX only: a raw non-blocking write(2) fills the pipe.

package sidecar

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// pipeWriter is a Writer with options o whose stdin is a pipe the test
// reads (or not); no process behind it. A nil o.Die fails the test.
func pipeWriter(t *testing.T, o WriterOptions) (*Writer, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if o.Die == nil {
		o.Die = func(why string, err error) { t.Errorf("writer died: %s: %v", why, err) }
	}
	s, err := NewWriter(w, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

// runWriter runs s's writer goroutine; the returned func stops it and waits
// for it to return.
func runWriter(s *Writer) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() { s.Run(quit); close(done) }()
	return func() { close(quit); <-done }
}

// A caller never blocks on a full pipe: with a stopped sidecar it must
// reach its timer and fall back, not hang in write.
func TestSendNowNeverBlocksOnAFullPipe(t *testing.T) {
	s, r := pipeWriter(t, WriterOptions{Queue: make(chan *Call, 4), MaxBatch: 8, MaxInFlight: 4})
	rc, err := s.stdin.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Fill the pipe as a sidecar that stopped reading would leave it.
	junk := make([]byte, 4096)
	var full bool
	written := 0
	for !full {
		_ = rc.Write(func(fd uintptr) bool {
			n, werr := syscall.Write(int(fd), junk)
			written += max(n, 0)
			full = werr == syscall.EAGAIN
			return true
		})
	}
	c := NewCall([]float32{1, 2, 3})
	if s.SendNow(c) {
		t.Fatal("SendNow reported the request sent into a full pipe")
	}
	select {
	case <-c.done:
		t.Fatal("the call was failed; it must be left for the queue")
	default:
	}
	if len(s.pending) != 0 || len(s.slots) != 0 {
		t.Fatalf("pending %v, slots taken %d; want the attempt undone", s.pending, len(s.slots))
	}

	// Once the sidecar reads again, the same call goes out directly.
	buf := make([]byte, max(written, 1<<20))
	// Empty the pipe: exactly what was written (a short read deadline would stop
	// early on a loaded host and leave it full).
	_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(r, buf[:written]); err != nil {
		t.Fatalf("emptying the pipe (%d bytes): %v", written, err)
	}
	if !s.SendNow(c) {
		t.Fatal("SendNow refused an idle session with room in its pipe")
	}
	if len(s.pending) != 1 || len(s.slots) != 1 {
		t.Fatalf("pending %v, slots taken %d; want the call registered", s.pending, len(s.slots))
	}
	_ = r.SetReadDeadline(time.Now().Add(time.Second))
	n, err := r.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m rpc.Message
	if err := rpc.NewDecoder(bytes.NewReader(buf[:n])).Decode(&m); err != nil || m.Method != "predict" {
		t.Fatalf("wrote %q (%v); want one predict request", buf[:n], err)
	}
}

// With one request allowed in flight, an idle writer goroutine must not sit
// on the slot: the caller's own SendNow is the fast path at one goroutine.
// Owed follows the request from SendNow to Take.
func TestIdleWriterLeavesTheOnlySlotToSendNow(t *testing.T) {
	s, _ := pipeWriter(t, WriterOptions{Queue: make(chan *Call, 4), MaxBatch: 8, MaxInFlight: 1})
	defer runWriter(s)()
	time.Sleep(20 * time.Millisecond) // let Run reach its wait

	if s.Owed() {
		t.Fatal("Owed before anything was sent")
	}
	if !s.SendNow(NewCall([]float32{1, 2, 3})) {
		t.Fatal("SendNow found no free slot beside an idle writer")
	}
	if !s.Owed() {
		t.Fatal("not Owed with a request written and unanswered")
	}
	if _, ok := s.Take(1); !ok {
		t.Fatal("Take(1) found no request")
	}
	if s.Owed() {
		t.Fatal("still Owed after the answer was taken")
	}
}

// Calls that wait while the one request in flight is answered go out
// together, as one request, once its answer frees the slot.
func TestWaitingCallsLeaveAsOneBatchWhenTheSlotFrees(t *testing.T) {
	queue := make(chan *Call, 8)
	var sizes []int
	s, _ := pipeWriter(t, WriterOptions{
		Queue: queue, MaxBatch: 8, MaxInFlight: 1,
		Batch: func(n int) { sizes = append(sizes, n) },
	})
	if !s.SendNow(NewCall([]float32{1, 2, 3})) {
		t.Fatal("SendNow refused an idle writer")
	}
	defer runWriter(s)()
	for i := 0; i < 3; i++ {
		queue <- NewCall([]float32{float32(i), 0, 0})
	}
	time.Sleep(20 * time.Millisecond) // Run holds the first, waiting for the slot
	if _, ok := s.Take(1); !ok {
		t.Fatal("Take(1) found no request")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.writeMu.Lock()
		n := len(sizes)
		s.writeMu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.writeMu.Lock()
	got := append([]int(nil), sizes...)
	s.writeMu.Unlock()
	if len(got) != 2 || got[1] != 3 {
		t.Fatalf("requests of %v records; want [1 3]: the three waiting calls in one request", got)
	}
}

// A writer stopped while it holds a call waiting for a slot hands the call
// back to the shared queue, for the next session's writer.
func TestStoppedWriterRequeuesTheCallItHeld(t *testing.T) {
	queue := make(chan *Call, 4)
	s, _ := pipeWriter(t, WriterOptions{Queue: queue, MaxBatch: 8, MaxInFlight: 1})
	if !s.SendNow(NewCall([]float32{1, 2, 3})) { // takes the only slot
		t.Fatal("SendNow refused an idle writer")
	}
	stop := runWriter(s)
	held := NewCall([]float32{4, 5, 6})
	queue <- held
	time.Sleep(20 * time.Millisecond) // Run takes it and waits for the slot
	stop()
	select {
	case c := <-queue:
		if c != held {
			t.Fatal("another call came back")
		}
	default:
		t.Fatal("the held call was not handed back to the queue")
	}
	select {
	case <-held.Done():
		t.Fatalf("the call was failed (%v); it must wait for the next session", held.Err)
	default:
	}
}

// A call sent after the session ended fails at once, and its error keeps the
// session's cause for errors.Is, under ErrUnavailable.
func TestCallToAFinishedWriterFailsWithTheSessionsCause(t *testing.T) {
	s, _ := pipeWriter(t, WriterOptions{Queue: make(chan *Call, 4), MaxBatch: 8, MaxInFlight: 4})
	cause := errors.New("sidecar exited: killed by killed")
	s.Finish(cause)
	c := NewCall([]float32{1, 2, 3})
	s.SendNow(c)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a call to a finished writer was not failed")
	}
	if !errors.Is(c.Err, ErrUnavailable) || !errors.Is(c.Err, cause) || c.Reason != ReasonChildDown {
		t.Fatalf("call failed with %v (reason %s), want ErrUnavailable wrapping the session's cause", c.Err, c.Reason)
	}
}

func TestCallsOfAWriterFinishedByCloseFailAsClosed(t *testing.T) {
	s, _ := pipeWriter(t, WriterOptions{Queue: make(chan *Call, 4), MaxBatch: 8, MaxInFlight: 4})
	sent := NewCall([]float32{1, 2, 3})
	if !s.SendNow(sent) {
		t.Fatal("SendNow on an idle writer did not send")
	}
	s.Finish(ErrClosed)
	later := NewCall([]float32{1, 2, 3})
	s.SendNow(later)
	for name, c := range map[string]*Call{"in flight": sent, "sent after": later} {
		<-c.Done()
		if c.Reason != ReasonClosed || !errors.Is(c.Err, ErrClosed) {
			t.Errorf("call %s Close failed with %v (reason %s), want reason %s", name, c.Err, c.Reason, ReasonClosed)
		}
	}
}
