package predictor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
