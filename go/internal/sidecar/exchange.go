// The session's conversation with the sidecar: its Writer batches waiting
// calls into predict requests (or the idle caller sends its own, SendNow);
// the reader decodes stdout, matches answers to calls by msgid and acts on
// the handshake and the notifications.

package sidecar

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sigmagate/sigmagate/go/internal/pipe"
	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// writeLoop is the session's writer goroutine (Writer.Run).
func (s *Session) writeLoop() {
	defer s.wg.Done()
	s.w.Run(s.dead)
}

// SendNow sends c from the caller's goroutine when the session is idle
// (Writer.SendNow).
func (s *Session) SendNow(c *Call) bool { return s.w.SendNow(c) }

// readLoop decodes everything the sidecar writes to stdout. The first
// message must be the ready notification.
func (s *Session) readLoop() {
	defer s.wg.Done()
	src, err := pipe.NewSpinReader(s.stdout, s.o.ReadSpin, s.w.Owed)
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
			s.serving.Store(info.Model != nil)
			// Here, not on the supervisor's goroutine: a model_loaded right
			// behind the handshake (a SIGHUP during the start) must not be
			// overtaken by it. A handshake after the session ended (its start
			// timed out) is not reported: the session serves nothing.
			select {
			case <-s.dead:
			default:
				s.o.Hooks.Ready(s, info)
			}
			close(s.ready)
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
	batch, ok := s.w.Take(m.MsgID)
	if !ok {
		s.o.Log.Warn("sidecar answered an unknown msgid", "msgid", m.MsgID)
		return
	}
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
		err = fmt.Errorf("%w: bad predict result: %w", ErrSidecar, err)
		for _, c := range batch {
			c.Fail(ReasonError, err)
		}
		return
	}
	s.o.Hooks.Answered()
	for i, c := range batch {
		c.Resolve(res.P[i], res.Version, i < len(res.OOD) && res.OOD[i])
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
		s.serving.Store(true)
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
		if s.serving.Load() {
			s.o.Log.Warn("sidecar reload failed; the previous model keeps serving", "detail", msg)
		} else {
			s.o.Log.Warn("sidecar reload failed; it has no model, so the fallback answers", "detail", msg)
		}
	case "error":
		var ps []map[string]any
		_ = rpc.Unmarshal(m.Params, &ps)
		s.o.Hooks.Error("notification")
		s.o.Log.Warn("sidecar reported an error", "params", ps)
	case "ready":
		s.o.Log.Warn("sidecar sent a second ready; ignoring it")
	}
}
