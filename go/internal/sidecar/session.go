// Package sidecar runs the `infer` sidecar as a child process and talks
// msgpack-rpc to it over stdin/stdout (docs/PROTOCOL.md): a Session is one
// child process and its conversation (pipelined, coalesced predict requests
// answered by msgid; the ready handshake and the notifications), Supervise
// keeps one session up with restarts and backoff, Detect finds the Python
// that runs it. The predictor builds its decisions, fallbacks and metrics on
// top; this package knows nothing of them beyond the Hooks it calls.
package sidecar

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// Options configure a session and the supervisor that restarts it.
type Options struct {
	// Command resolves the sidecar's argv and working directory; it is
	// called before every start, so a fixed environment is picked up.
	Command func() (argv []string, dir string, err error)
	Env     []string // added to the bot's environment

	// Queue is where callers leave calls; every session's writer takes
	// from the same queue.
	Queue chan *Call
	// MaxBatch is the most records per predict request; MaxInFlight the
	// most requests written but not answered.
	MaxBatch, MaxInFlight int
	// ReadSpin is how long the reader polls stdout before parking (pipe.NewSpinReader).
	ReadSpin time.Duration

	StartTimeout           time.Duration // from spawn to the ready notification
	KillGrace              time.Duration // from SIGTERM to SIGKILL on shutdown
	BackoffMin, BackoffMax time.Duration // restart backoff

	Log      *slog.Logger // the supervisor's and the session's own messages
	ChildLog *slog.Logger // the child's stderr lines, with its pid added

	Hooks Hooks
}

// Hooks are how a session and the supervisor report to their owner. Every
// field must be set. The session's hooks (Error, Batch, Answered, Ready,
// ModelLoaded, ReloadFailed) run on its reader or writer goroutine, Ready
// and ModelLoaded in the order the sidecar sent them; the supervisor's on
// its own.
type Hooks struct {
	// Error counts a failure by kind: "protocol", "start", "start_timeout",
	// "reload_failed", "notification", or a sidecar error code.
	Error func(kind string)
	// Batch: a predict request of n records was written.
	Batch func(n int)
	// Answered: a predict request was answered with probabilities.
	Answered func()
	// Ready: the handshake arrived (info is the ready notification).
	Ready func(s *Session, info *rpc.Info)
	// ModelLoaded: the sidecar reports serving a (new) model.
	ModelLoaded func(s *Session, info *rpc.Info)
	// ReloadFailed: a reload failed; the previous model, if any, keeps serving.
	ReloadFailed func(msg string)

	// Starting: a sidecar is about to be spawned; restartReason is why the
	// previous one ended ("" for the first start).
	Starting func(restartReason string)
	// StartFailed: it could not be spawned.
	StartFailed func(err error)
	// Spawned: the process runs; its handshake is pending.
	Spawned func(s *Session)
	// NoModel reports whether the sidecar serves without a model, so the
	// supervisor keeps asking it to reload.
	NoModel func() bool
	// Ended: the session is over and its process reaped; err says why.
	Ended func(s *Session, err error)
	// Closed: the supervisor is stopping (called before and after the
	// graceful shutdown of the last session).
	Closed func()
}

// Session is one sidecar process: its pipes, a writer goroutine that sends
// batches (an idle session's caller sends its own, SendNow), a reader
// goroutine that matches answers by msgid, a goroutine forwarding stderr,
// and one reaping the process. It lives until the child exits or is killed;
// the supervisor then starts a new one.
type Session struct {
	o   *Options
	cmd *exec.Cmd
	pid int // also the process group id where there are process groups

	stdin  *os.File
	stdout *os.File
	stderr *os.File

	ready chan struct{} // closed by the reader once the handshake is applied
	hello atomic.Pointer[rpc.Info]
	// serving: the sidecar has a model loaded (at hello, or since a model_loaded).
	serving atomic.Bool
	exited  chan struct{} // closed once the process is reaped
	dead    chan struct{} // closed by Die: stop using this session

	modelChanged chan struct{} // nudges the supervisor's no-model retry loop

	closing  atomic.Bool // shutdown in progress: an exit is expected
	deadOnce sync.Once
	deadWhy  string // restart reason label
	deadErr  error

	w       *Writer       // sends calls and holds them by msgid until answered
	results resultDecoder // used by the reader goroutine only

	wg sync.WaitGroup
}

// Start spawns the sidecar in its own process group with three pipes and
// starts the session's goroutines. o must outlive the session.
func Start(o *Options) (*Session, error) {
	argv, dir, err := o.Command()
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
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[3], files[5]
	// Own process group: signals to the bot's terminal group do not reach
	// the child directly, and Close can kill the child with everything it spawned.
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("predictor: start sidecar %q (in %q): %w; check Config.Command or SIGMAGATE_PYTHON", argv, dir, err)
	}
	files[0].Close()
	files[3].Close()
	files[5].Close()
	s := &Session{
		o: o, cmd: cmd, pid: cmd.Process.Pid,
		stdin: files[1], stdout: files[2], stderr: files[4],
		ready:  make(chan struct{}),
		exited: make(chan struct{}),
		dead:   make(chan struct{}),

		modelChanged: make(chan struct{}, 1),
	}
	s.w, err = NewWriter(s.stdin, WriterOptions{
		Queue: o.Queue, MaxBatch: o.MaxBatch, MaxInFlight: o.MaxInFlight,
		Batch: o.Hooks.Batch, Die: s.Die,
	})
	if err != nil {
		killGroup(s.pid, syscall.SIGKILL)
		_ = cmd.Wait()
		closeAll()
		return nil, fmt.Errorf("predictor: %w", err)
	}
	o.Log.Info("sidecar started", "pid", s.pid, "argv", argv, "dir", dir)
	s.wg.Add(4)
	go s.reap()
	go s.forwardStderr()
	go s.readLoop()
	go s.writeLoop()
	return s, nil
}

// PID is the child's process id (also its process group's).
func (s *Session) PID() int { return s.pid }

// Hello is the sidecar's ready notification — its pid, protocol version
// and the model it started with — or nil before the handshake.
func (s *Session) Hello() *rpc.Info { return s.hello.Load() }

// Dead is closed when the session ends; Why then says why.
func (s *Session) Dead() <-chan struct{} { return s.dead }

// Why is the reason label and the error the session ended with, valid once
// Dead is closed.
func (s *Session) Why() (string, error) { return s.deadWhy, s.deadErr }

// reap waits for the process, then kills whatever is left of its group so
// that no grandchild outlives it holding our pipes.
func (s *Session) reap() {
	defer s.wg.Done()
	err := s.cmd.Wait()
	killGroup(s.pid, syscall.SIGKILL)
	close(s.exited)
	s.Die("exited", fmt.Errorf("sidecar exited: %v", describeExit(err)))
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

// Die ends the session once: it kills the process group, fails every call
// sent but not answered (the caller falls back at once instead of waiting
// for its timeout) and wakes the supervisor. why is the restart reason label.
func (s *Session) Die(why string, err error) {
	if s.closing.Load() {
		why, err = "closed", ErrClosed
	}
	s.deadOnce.Do(func() {
		s.deadWhy, s.deadErr = why, err
		close(s.dead)
		select {
		case <-s.exited: // reap already killed the group
		default:
			killGroup(s.pid, syscall.SIGKILL)
		}
		s.w.Finish(err)
		if why != "closed" {
			s.o.Log.Warn("sidecar session ended", "pid", s.pid, "reason", why, "err", err)
		}
	})
}

// shutdown is the graceful stop: stdin EOF and SIGTERM let the sidecar
// answer what it has read; after grace, SIGKILL. It returns once the
// process is reaped.
func (s *Session) shutdown(grace time.Duration) {
	s.closing.Store(true)
	s.stdin.Close()
	killGroup(s.pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		s.o.Log.Warn("sidecar ignored SIGTERM; sending SIGKILL", "pid", s.pid, "grace", grace)
		killGroup(s.pid, syscall.SIGKILL)
		<-s.exited
	}
	s.Die("closed", ErrClosed)
}

// orphanedPipeGrace is how long the session's readers may still drain the
// sidecar's stdout and stderr after it is reaped. They normally reach EOF
// within microseconds; a process that left the sidecar's process group (a
// daemon, a setsid child) and kept the pipes would hold them forever, and
// with them Close and the supervisor's restart.
const orphanedPipeGrace = time.Second

// wait blocks until the process is reaped and every goroutine has returned,
// then releases the parent's pipe ends. Pipes still open after
// orphanedPipeGrace are held by a process out of the group's reach; closing
// our ends ends the goroutines blocked on them.
func (s *Session) wait() {
	<-s.exited
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(orphanedPipeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.o.Log.Warn("sidecar's pipes still open after it exited: a process outside its process group holds them; closing them", "pid", s.pid, "grace", orphanedPipeGrace)
		s.stdin.Close()
		s.stdout.Close()
		s.stderr.Close()
		<-done
	}
	s.stdin.Close()
	s.stdout.Close()
	s.stderr.Close()
}

// Reload asks the sidecar to re-resolve its model path and load the model
// found there (SIGHUP); the answer is a model_loaded or reload_failed
// notification.
func (s *Session) Reload() error {
	select {
	case <-s.dead:
		return fmt.Errorf("%w: sidecar pid %d is gone", ErrUnavailable, s.pid)
	default:
	}
	if err := signalReload(s.pid); err != nil {
		return fmt.Errorf("predictor: signal %v to sidecar pid %d: %w", syscall.SIGHUP, s.pid, err)
	}
	return nil
}

// nudge wakes the supervisor's no-model retry loop to re-check.
func (s *Session) nudge() {
	select {
	case s.modelChanged <- struct{}{}:
	default:
	}
}
