package predictor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/pipe"
	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

const syscallSIGHUP = syscall.SIGHUP

// session is one sidecar process: its pipes, a writer goroutine that sends
// batches (an idle session's caller sends its own, sendNow), a reader
// goroutine that matches answers by msgid, a goroutine forwarding stderr,
// and one reaping the process. It lives until the child exits or is killed;
// the supervisor then starts a new one.
type session struct {
	p   *Predictor
	cmd *exec.Cmd
	pid int // also the process group id (Setpgid)

	stdin  *os.File
	stdout *os.File
	stderr *os.File

	ready  chan *rpc.Info // the handshake, delivered once by the reader
	exited chan struct{}  // closed once the process is reaped
	dead   chan struct{}  // closed by die: stop using this session
	slots  chan struct{}  // one token per predict batch in flight

	modelChanged chan struct{} // nudges the supervisor's no-model retry loop

	closing   atomic.Bool // shutdown in progress: an exit is expected
	deadOnce  sync.Once
	deadWhy   string // restart reason label
	deadErr   error
	pendingMu sync.Mutex
	pending   map[uint32][]*call
	finished  bool // under pendingMu: pending calls were failed, take no more

	results resultDecoder // used by the reader goroutine only

	writeMu sync.Mutex // serialises sends: enc, records, msgid and stdin writes
	enc     *rpc.Encoder
	records [][]float32
	msgid   uint32
	stdinRC syscall.RawConn // non-blocking writes for sendNow

	wg sync.WaitGroup
}

// spawn starts the sidecar in its own process group with three pipes.
func (p *Predictor) spawn() (*session, error) {
	argv, dir, err := p.cfg.sidecarCommand()
	if err != nil {
		return nil, err
	}
	var files [6]*os.File // inR, inW, outR, outW, errR, errW
	closeAll := func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}
	for i := 0; i < 6; i += 2 {
		if files[i], files[i+1], err = os.Pipe(); err != nil {
			closeAll()
			return nil, fmt.Errorf("predictor: create pipe: %w", err)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[3], files[5]
	// Own process group: signals to the bot's terminal group do not reach
	// the child directly, and Close can kill the child with everything it spawned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("predictor: start sidecar %q (in %q): %w; check Config.Command or SIGMAGATE_PYTHON", argv, dir, err)
	}
	files[0].Close()
	files[3].Close()
	files[5].Close()
	s := &session{
		p: p, cmd: cmd, pid: cmd.Process.Pid,
		stdin: files[1], stdout: files[2], stderr: files[4],
		ready:   make(chan *rpc.Info, 1),
		exited:  make(chan struct{}),
		dead:    make(chan struct{}),
		slots:   make(chan struct{}, p.cfg.MaxInFlight),
		pending: make(map[uint32][]*call),

		modelChanged: make(chan struct{}, 1),
		enc:          rpc.NewEncoder(),
		records:      make([][]float32, 0, p.cfg.MaxBatch),
	}
	if s.stdinRC, err = s.stdin.SyscallConn(); err != nil {
		_ = syscall.Kill(-s.pid, syscall.SIGKILL)
		_ = cmd.Wait()
		closeAll()
		return nil, fmt.Errorf("predictor: raw access to the sidecar's stdin: %w", err)
	}
	p.log.Info("sidecar started", "pid", s.pid, "argv", argv, "dir", dir)
	s.wg.Add(4)
	go s.reap()
	go s.forwardStderr()
	go s.readLoop()
	go s.writeLoop()
	return s, nil
}

// reap waits for the process, then kills whatever is left of its group so
// that no grandchild outlives it holding our pipes.
func (s *session) reap() {
	defer s.wg.Done()
	err := s.cmd.Wait()
	_ = syscall.Kill(-s.pid, syscall.SIGKILL)
	close(s.exited)
	s.die("exited", fmt.Errorf("sidecar exited: %v", describeExit(err)))
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// die ends the session once: it kills the process group, fails every call
// sent but not answered (the caller falls back at once instead of waiting
// for its timeout) and wakes the supervisor.
func (s *session) die(why string, err error) {
	if s.closing.Load() {
		why, err = "closed", ErrClosed
	}
	s.deadOnce.Do(func() {
		s.deadWhy, s.deadErr = why, err
		close(s.dead)
		select {
		case <-s.exited: // reap already killed the group
		default:
			_ = syscall.Kill(-s.pid, syscall.SIGKILL)
		}
		s.failPending(err)
		if why != "closed" {
			s.p.log.Warn("sidecar session ended", "pid", s.pid, "reason", why, "err", err)
		}
	})
}

func (s *session) failPending(err error) {
	s.pendingMu.Lock()
	pending := s.pending
	s.pending = nil
	s.finished = true
	s.pendingMu.Unlock()
	for _, batch := range pending {
		for _, c := range batch {
			c.fail(ReasonChildDown, fmt.Errorf("%w: %v", ErrUnavailable, err))
		}
	}
}

// shutdown is the graceful stop: stdin EOF and SIGTERM let the sidecar
// answer what it has read; after grace, SIGKILL. It returns once the
// process is reaped.
func (s *session) shutdown(grace time.Duration) {
	s.closing.Store(true)
	s.stdin.Close()
	_ = syscall.Kill(-s.pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		s.p.log.Warn("sidecar ignored SIGTERM; sending SIGKILL", "pid", s.pid, "grace", grace)
		_ = syscall.Kill(-s.pid, syscall.SIGKILL)
		<-s.exited
	}
	s.die("closed", ErrClosed)
}

// wait blocks until the process is reaped and every goroutine has returned,
// then releases the parent's pipe ends.
func (s *session) wait() {
	<-s.exited
	s.wg.Wait()
	s.stdin.Close()
	s.stdout.Close()
	s.stderr.Close()
}

func (s *session) signal(sig syscall.Signal) error {
	select {
	case <-s.dead:
		return fmt.Errorf("%w: sidecar pid %d is gone", ErrUnavailable, s.pid)
	default:
	}
	if err := syscall.Kill(s.pid, sig); err != nil {
		return fmt.Errorf("predictor: signal %v to sidecar pid %d: %w", sig, s.pid, err)
	}
	return nil
}

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
