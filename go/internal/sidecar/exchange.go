// The session's conversation with the sidecar: the writer batches waiting
// calls into predict requests (or the idle caller sends its own, SendNow);
// the reader decodes stdout, matches answers to calls by msgid and acts on
// the handshake and the notifications.

package sidecar

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/sigmagate/sigmagate/go/internal/pipe"
	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// writeLoop takes a free in-flight slot, then every waiting call (up to
// MaxBatch) without waiting for more, and sends them as one predict request.
// While all slots are taken, calls pile up in the queue and form the next,
// larger batch — batching adapts to load with no added delay.
func (s *Session) writeLoop() {
	defer s.wg.Done()
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.dead:
			return
		}
		var first *Call
		select {
		case first = <-s.o.Queue:
		case <-s.dead:
			return
		}
		batch := make([]*Call, 0, 16)
		if !first.abandoned.Load() {
			batch = append(batch, first)
		}
	drain:
		for len(batch) < s.o.MaxBatch {
			select {
			case c := <-s.o.Queue:
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

// SendNow writes c's request from the caller's own goroutine when nothing is
// queued, the writer is idle, a slot is free and the pipe has room: the
// commonest case (one decision at a time) then skips the hand-off to the
// writer goroutine, about half a microsecond. The write never blocks (a
// caller has no timer running yet; a stopped sidecar must not hang it). It
// reports false, having sent nothing, otherwise; the call then goes through
// the queue. After true, c is answered through c.done like any other call,
// also when the session died meanwhile.
func (s *Session) SendNow(c *Call) bool {
	if len(s.o.Queue) != 0 || !s.writeMu.TryLock() {
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
	return !errors.Is(s.send([]*Call{c}, s.tryWrite), syscall.EAGAIN)
}

// writeAll writes b, waiting while the pipe is full (the writer goroutine).
func (s *Session) writeAll(b []byte) error {
	_, err := s.stdin.Write(b)
	return err
}

// tryWrite writes b at once or not at all: syscall.EAGAIN when the pipe has
// no room. A single-record request is far below PIPE_BUF, so the kernel
// writes it whole or refuses it.
func (s *Session) tryWrite(b []byte) error {
	n, err := writeNonBlocking(s.stdinRC, b)
	switch {
	case err != nil:
		return err
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
func (s *Session) send(batch []*Call, write func([]byte) error) error {
	s.msgid++
	msgid := s.msgid
	s.pendingMu.Lock()
	if s.finished {
		s.pendingMu.Unlock()
		for _, c := range batch {
			c.Fail(ReasonChildDown, fmt.Errorf("%w: %v", ErrUnavailable, s.deadErr))
		}
		return errSessionDead
	}
	s.pending[msgid] = batch
	s.pendingMu.Unlock()
	records := s.records[:0]
	for _, c := range batch {
		records = append(records, c.Features)
	}
	s.enc.Reset()
	err := s.enc.Predict(msgid, records)
	clear(records) // keep no caller's features alive
	if err != nil {
		err = fmt.Errorf("encode predict: %w", err)
		s.Die("protocol", err)
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
		s.Die("exited", err)
		return err
	}
	s.o.Hooks.Batch(len(batch))
	return nil
}

// readLoop decodes everything the sidecar writes to stdout. The first
// message must be the ready notification.
func (s *Session) readLoop() {
	defer s.wg.Done()
	src, err := pipe.NewSpinReader(s.stdout, s.o.ReadSpin)
	if err != nil {
		s.Die("protocol", err)
		return
	}
	dec := rpc.NewDecoder(src)
	var m rpc.Message
	for first := true; ; first = false {
		if err := dec.Decode(&m); err != nil {
			switch {
			case first && errors.Is(err, io.EOF):
				s.Die("exited", errors.New("sidecar closed stdout before sending ready; its log lines above say why"))
			case errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed):
				s.Die("exited", errors.New("sidecar closed stdout"))
			default:
				s.o.Hooks.Error("protocol")
				s.Die("protocol", fmt.Errorf("undecodable output from the sidecar (only protocol bytes may go to its stdout; is something printing?): %w", err))
			}
			return
		}
		if first {
			if m.Type != rpc.TypeNotification || m.Method != "ready" {
				s.o.Hooks.Error("protocol")
				s.Die("protocol", fmt.Errorf("sidecar's first message is type %d %q, want the ready notification (is something printing to its stdout?)", m.Type, m.Method))
				return
			}
			info, err := decodeInfo(m.Params)
			if err != nil {
				s.o.Hooks.Error("protocol")
				s.Die("protocol", fmt.Errorf("bad ready notification: %w", err))
				return
			}
			if info.Protocol != rpc.ProtocolVersion {
				// A restart cannot fix this, but the supervisor's backoff keeps
				// the retries (and this error in the log) slow until it is fixed.
				s.o.Hooks.Error("protocol_version")
				s.Die("protocol_version", versionMismatch(info.Protocol))
				return
			}
			s.hello.Store(info)
			s.ready <- info
			continue
		}
		switch m.Type {
		case rpc.TypeResponse:
			s.answer(&m)
		case rpc.TypeNotification:
			s.notification(&m)
		default:
			s.o.Log.Warn("ignoring a request from the sidecar", "method", m.Method)
		}
	}
}

// versionMismatch says which side to change when the sidecar speaks
// another protocol version than this predictor.
func versionMismatch(theirs int) error {
	side := "the Go side (go/predictor) is older: upgrade the bot's sigmagate Go module, or downgrade the Python side (infer)"
	if theirs < rpc.ProtocolVersion {
		side = "the Python side (infer) is older: upgrade it (`make venv` in an updated checkout, or reinstall the package), or downgrade the bot's sigmagate Go module"
	}
	return fmt.Errorf("%w: the sidecar speaks protocol version %d, this predictor speaks %d (docs/PROTOCOL.md); %s",
		ErrProtocolVersion, theirs, rpc.ProtocolVersion, side)
}

func decodeInfo(params []byte) (*rpc.Info, error) {
	var ps []rpc.Info
	if err := rpc.Unmarshal(params, &ps); err != nil {
		return nil, err
	}
	if len(ps) != 1 {
		return nil, fmt.Errorf("want 1 param, got %d", len(ps))
	}
	info := &ps[0]
	if info.Model != nil && len(info.Model.Features) == 0 {
		return nil, errors.New("model has no feature names")
	}
	return info, nil
}

// answer delivers a predict response to the calls of its batch.
func (s *Session) answer(m *rpc.Message) {
	s.pendingMu.Lock()
	batch, ok := s.pending[m.MsgID]
	delete(s.pending, m.MsgID)
	s.pendingMu.Unlock()
	if !ok {
		s.o.Log.Warn("sidecar answered an unknown msgid", "msgid", m.MsgID)
		return
	}
	<-s.slots
	if m.Error != nil {
		reason, err := ReasonError, fmt.Errorf("%w: %w", ErrSidecar, m.Error)
		if m.Error.Code == rpc.CodeNoModel {
			reason, err = ReasonNoModel, fmt.Errorf("%w: %w", ErrNoModel, m.Error)
		}
		s.o.Hooks.Error(m.Error.Code)
		for _, c := range batch {
			c.Fail(reason, err)
		}
		return
	}
	var res rpc.PredictResult
	err := s.results.decode(m.Result, &res)
	if err == nil && len(res.P) != len(batch) {
		err = fmt.Errorf("%d probabilities for %d records", len(res.P), len(batch))
	}
	if err != nil {
		s.o.Hooks.Error("protocol")
		err = fmt.Errorf("%w: bad predict result: %v", ErrSidecar, err)
		for _, c := range batch {
			c.Fail(ReasonError, err)
		}
		return
	}
	s.o.Hooks.Answered()
	for i, c := range batch {
		c.P, c.Version = res.P[i], res.Version
		c.OOD = i < len(res.OOD) && res.OOD[i]
		c.finish()
	}
}

func (s *Session) notification(m *rpc.Message) {
	switch m.Method {
	case "model_loaded":
		info, err := decodeInfo(m.Params)
		if err != nil || info.Model == nil {
			s.o.Log.Warn("bad model_loaded notification", "err", err)
			return
		}
		s.o.Hooks.ModelLoaded(s, info)
		s.nudge()
	case "reload_failed":
		var ps []rpc.ReloadFailed
		_ = rpc.Unmarshal(m.Params, &ps)
		msg := "reload failed"
		if len(ps) == 1 {
			msg = fmt.Sprintf("reload of %s failed: %s", ps[0].Path, ps[0].Error)
		}
		s.o.Hooks.Error("reload_failed")
		s.o.Hooks.ReloadFailed(msg)
		s.o.Log.Warn("sidecar reload failed; the previous model keeps serving", "detail", msg)
	case "error":
		var ps []map[string]any
		_ = rpc.Unmarshal(m.Params, &ps)
		s.o.Hooks.Error("notification")
		s.o.Log.Warn("sidecar reported an error", "params", ps)
	case "ready":
		s.o.Log.Warn("sidecar sent a second ready; ignoring it")
	}
}
