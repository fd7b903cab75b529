// The session's writer: batches waiting calls into predict requests, and
// the idle caller's own send (sendNow).

package predictor

import (
	"errors"
	"fmt"
	"io"
	"syscall"
)

// writeLoop takes a free in-flight slot, then every waiting call (up to
// MaxBatch) without waiting for more, and sends them as one predict request.
// While all slots are taken, calls pile up in the queue and form the next,
// larger batch — batching adapts to load with no added delay.
func (s *session) writeLoop() {
	defer s.wg.Done()
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.dead:
			return
		}
		var first *call
		select {
		case first = <-s.p.queue:
		case <-s.dead:
			return
		}
		batch := make([]*call, 0, 16)
		if !first.abandoned.Load() {
			batch = append(batch, first)
		}
	drain:
		for len(batch) < s.p.cfg.MaxBatch {
			select {
			case c := <-s.p.queue:
				if !c.abandoned.Load() {
					batch = append(batch, c)
				}
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			<-s.slots
			continue
		}
		s.writeMu.Lock()
		err := s.send(batch, s.writeAll)
		s.writeMu.Unlock()
		if err != nil {
			return // the session is dead (writeAll never finds the pipe full)
		}
	}
}

// sendNow writes c's request from the caller's own goroutine when nothing is
// queued, the writer is idle, a slot is free and the pipe has room: the
// commonest case (one decision at a time) then skips the hand-off to the
// writer goroutine, about half a microsecond. The write never blocks (a
// caller has no timer running yet; a stopped sidecar must not hang it). It
// reports false, having sent nothing, otherwise; the call then goes through
// the queue. After true, c is answered through c.done like any other call,
// also when the session died meanwhile.
func (s *session) sendNow(c *call) bool {
	if len(s.p.queue) != 0 || !s.writeMu.TryLock() {
		return false
	}
	defer s.writeMu.Unlock()
	select {
	case s.slots <- struct{}{}:
	default:
		return false
	}
	// Sent, or the session is dead and c failed: either way c is answered.
	// Only a full pipe leaves c untouched, for the queue.
	return !errors.Is(s.send([]*call{c}, s.tryWrite), syscall.EAGAIN)
}

// writeAll writes b, waiting while the pipe is full (the writer goroutine).
func (s *session) writeAll(b []byte) error {
	_, err := s.stdin.Write(b)
	return err
}

// tryWrite writes b at once or not at all: syscall.EAGAIN when the pipe has
// no room. A single-record request is far below PIPE_BUF, so the kernel
// writes it whole or refuses it.
func (s *session) tryWrite(b []byte) error {
	var n int
	var werr error
	err := s.stdinRC.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				return true
			}
		}
	})
	switch {
	case err != nil:
		return err
	case werr != nil:
		return werr
	case n != len(b):
		return io.ErrShortWrite // cannot happen below PIPE_BUF; the session ends if it does
	}
	return nil
}

// errSessionDead: send found the session dead and failed the batch's calls.
var errSessionDead = errors.New("predictor: session ended")

// send registers batch under a new msgid and writes it as one predict
// request with write; s.writeMu must be held and a slot taken. It returns
// nil once the request is written. Otherwise nothing was sent, and either
// the error is write's syscall.EAGAIN (the pipe is full: the batch is
// unregistered, the slot freed and the calls untouched), or the session is
// dead and every call of the batch has been failed.
func (s *session) send(batch []*call, write func([]byte) error) error {
	s.msgid++
	msgid := s.msgid
	s.pendingMu.Lock()
	if s.finished {
		s.pendingMu.Unlock()
		for _, c := range batch {
			c.fail(ReasonChildDown, fmt.Errorf("%w: %v", ErrUnavailable, s.deadErr))
		}
		return errSessionDead
	}
	s.pending[msgid] = batch
	s.pendingMu.Unlock()
	records := s.records[:0]
	for _, c := range batch {
		records = append(records, c.features)
	}
	s.enc.Reset()
	err := s.enc.Predict(msgid, records)
	clear(records) // keep no caller's features alive
	if err != nil {
		err = fmt.Errorf("encode predict: %w", err)
		s.die("protocol", err)
		return err
	}
	if err := write(s.enc.Bytes()); err != nil {
		if errors.Is(err, syscall.EAGAIN) {
			s.pendingMu.Lock()
			_, mine := s.pending[msgid]
			delete(s.pending, msgid)
			s.pendingMu.Unlock()
			if !mine {
				// The session died meanwhile and has failed the batch already.
				return errSessionDead
			}
			<-s.slots
			return err
		}
		err = fmt.Errorf("write to sidecar stdin: %w", err)
		s.die("exited", err)
		return err
	}
	s.p.m.batchSize.Observe(float64(len(batch)))
	return nil
}
