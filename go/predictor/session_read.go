// The session's reader: decodes the sidecar's stdout, matches answers to
// calls by msgid and acts on notifications.

package predictor

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sigmagate/sigmagate/go/internal/pipe"
	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// readLoop decodes everything the sidecar writes to stdout. The first
// message must be the ready notification.
func (s *session) readLoop() {
	defer s.wg.Done()
	src, err := pipe.NewSpinReader(s.stdout, s.p.cfg.ReadSpin)
	if err != nil {
		s.die("protocol", err)
		return
	}
	dec := rpc.NewDecoder(src)
	var m rpc.Message
	for first := true; ; first = false {
		if err := dec.Decode(&m); err != nil {
			switch {
			case first && errors.Is(err, io.EOF):
				s.die("exited", errors.New("sidecar closed stdout before sending ready; its log lines above say why"))
			case errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed):
				s.die("exited", errors.New("sidecar closed stdout"))
			default:
				s.p.m.error("protocol")
				s.die("protocol", fmt.Errorf("undecodable output from the sidecar (only protocol bytes may go to its stdout; is something printing?): %w", err))
			}
			return
		}
		if first {
			if m.Type != rpc.TypeNotification || m.Method != "ready" {
				s.p.m.error("protocol")
				s.die("protocol", fmt.Errorf("sidecar's first message is type %d %q, want the ready notification (is something printing to its stdout?)", m.Type, m.Method))
				return
			}
			info, err := decodeInfo(m.Params)
			if err != nil {
				s.p.m.error("protocol")
				s.die("protocol", fmt.Errorf("bad ready notification: %w", err))
				return
			}
			s.ready <- info
			continue
		}
		switch m.Type {
		case rpc.TypeResponse:
			s.answer(&m)
		case rpc.TypeNotification:
			s.notification(&m)
		default:
			s.p.log.Warn("ignoring a request from the sidecar", "method", m.Method)
		}
	}
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
func (s *session) answer(m *rpc.Message) {
	s.pendingMu.Lock()
	batch, ok := s.pending[m.MsgID]
	delete(s.pending, m.MsgID)
	s.pendingMu.Unlock()
	if !ok {
		s.p.log.Warn("sidecar answered an unknown msgid", "msgid", m.MsgID)
		return
	}
	<-s.slots
	if m.Error != nil {
		reason, err := ReasonError, fmt.Errorf("%w: %w", ErrSidecar, m.Error)
		if m.Error.Code == rpc.CodeNoModel {
			reason, err = ReasonNoModel, fmt.Errorf("%w: %w", ErrNoModel, m.Error)
		}
		s.p.m.error(m.Error.Code)
		for _, c := range batch {
			c.fail(reason, err)
		}
		return
	}
	var res rpc.PredictResult
	err := s.results.decode(m.Result, &res)
	if err == nil && len(res.P) != len(batch) {
		err = fmt.Errorf("%d probabilities for %d records", len(res.P), len(batch))
	}
	if err != nil {
		s.p.m.error("protocol")
		err = fmt.Errorf("%w: bad predict result: %v", ErrSidecar, err)
		for _, c := range batch {
			c.fail(ReasonError, err)
		}
		return
	}
	s.p.consecTimeouts.Store(0)
	for i, c := range batch {
		c.p, c.version = res.P[i], res.Version
		c.ood = i < len(res.OOD) && res.OOD[i]
		close(c.done)
	}
}

func (s *session) notification(m *rpc.Message) {
	switch m.Method {
	case "model_loaded":
		info, err := decodeInfo(m.Params)
		if err != nil || info.Model == nil {
			s.p.log.Warn("bad model_loaded notification", "err", err)
			return
		}
		s.p.setModel(s, info)
	case "reload_failed":
		var ps []rpc.ReloadFailed
		_ = rpc.Unmarshal(m.Params, &ps)
		msg := "reload failed"
		if len(ps) == 1 {
			msg = fmt.Sprintf("reload of %s failed: %s", ps[0].Path, ps[0].Error)
		}
		s.p.m.error("reload_failed")
		s.p.update(func(v *view) { v.lastErr = msg })
		s.p.log.Warn("sidecar reload failed; the previous model keeps serving", "detail", msg)
	case "error":
		var ps []map[string]any
		_ = rpc.Unmarshal(m.Params, &ps)
		s.p.m.error("notification")
		s.p.log.Warn("sidecar reported an error", "params", ps)
	case "ready":
		s.p.log.Warn("sidecar sent a second ready; ignoring it")
	}
}
