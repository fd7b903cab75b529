package sidecar

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// pipeWriter is a Writer whose stdin is a pipe the test reads (or not);
// no process behind it.
func pipeWriter(t *testing.T) (*Writer, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	s, err := NewWriter(w, WriterOptions{
		Queue: make(chan *Call, 4), MaxBatch: 8, MaxInFlight: 4,
		Die: func(why string, err error) { t.Errorf("writer died: %s: %v", why, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

// A caller never blocks on a full pipe: with a stopped sidecar it must
// reach its timer and fall back, not hang in write.
func TestSendNowNeverBlocksOnAFullPipe(t *testing.T) {
	s, r := pipeWriter(t)
	rc, err := s.stdin.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Fill the pipe as a sidecar that stopped reading would leave it.
	junk := make([]byte, 4096)
	var full bool
	for !full {
		_ = rc.Write(func(fd uintptr) bool {
			_, werr := syscall.Write(int(fd), junk)
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
	buf := make([]byte, 1<<20)
	for { // empty the pipe
		_ = r.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := r.Read(buf); err != nil {
			break
		}
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
