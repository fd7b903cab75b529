//go:build unix

package pipe

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"time"
)

// spinReader reads a pipe. Before parking in Go's poller it polls the
// (non-blocking) pipe for up to spin: an answer that comes back within
// microseconds is then read without the poller wake-up and thread hand-off,
// which on a small machine cost more than the model itself. The spin is
// bounded per read, so an idle reader spends at most spin of CPU once
// before it parks; while an answer is owed it polls up to owedSpin, as long
// as its trials (owedChoice) show that polling brings the answers sooner.
type spinReader struct {
	f        *os.File
	rc       syscall.RawConn
	spin     time.Duration
	owedSpin time.Duration
	owed     func() bool
	choice   *owedChoice // whether polling for an owed answer pays here
}

func newSpinReader(f *os.File, spin time.Duration, owed func() bool) (io.Reader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("pipe: raw access to %s: %w", f.Name(), err)
	}
	if owed == nil {
		owed = func() bool { return false }
	}
	return &spinReader{f: f, rc: rc, spin: spin, owedSpin: max(spin, OwedSpin), owed: owed, choice: newOwedChoice()}, nil
}

func (r *spinReader) Read(b []byte) (int, error) {
	var (
		n     int
		rerr  error
		start time.Time
		owed  bool // an answer was owed once the plain spin was over
		poll  bool // and the choice was to poll on for it
	)
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), b)
			switch {
			case rerr == syscall.EINTR:
				continue
			case rerr != syscall.EAGAIN:
				return true
			}
			now := time.Now()
			if start.IsZero() {
				start = now
			} else if waited := now.Sub(start); waited > r.spin {
				if !owed && r.owed() {
					owed, poll = true, r.choice.Poll()
				}
				if !poll || waited > r.owedSpin || !r.owed() {
					return false // park in the poller until the pipe is readable
				}
			}
			runtime.Gosched() // let the callers a previous read woke run meanwhile
		}
	})
	if owed && err == nil && rerr == nil {
		r.choice.Observe(n, time.Now())
	}
	switch {
	case err != nil:
		// The file was closed under us: the session is ending.
		return 0, &os.PathError{Op: "read", Path: r.f.Name(), Err: errors.Join(os.ErrClosed, err)}
	case rerr != nil:
		return 0, &os.PathError{Op: "read", Path: r.f.Name(), Err: rerr}
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}
