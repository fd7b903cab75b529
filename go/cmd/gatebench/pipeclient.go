//go:build unix

package main

import (
	"context"
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
	"github.com/sigmagate/sigmagate/go/predictor"
)

// pipeClient is gatebench's own msgpack-rpc client over a child's stdin and
// stdout. It is used for two children with the same discipline, so that the
// only difference between them is what the child does with the bytes:
//   - pipeecho, which sends every request back unchanged (the floor), and
//   - infer, which answers it (sigmagate's sidecar without the predictor package).
//
// Discipline, the same as go/predictor's (and with its limits): a call that
// finds nothing queued, the writer idle and an in-flight slot free writes
// its own request; otherwise it waits in a queue, and one writer goroutine
// takes a free slot, then every call waiting (up to maxBatch), encodes them
// as one `predict` request and writes it with one write. Neither waits for
// that answer before the next write, up to maxInFlight batches
// (pipelining). One reader goroutine decodes each message, frees the slot
// and wakes the batch's callers by msgid.
type pipeClient struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	queue    chan *pcall
	slots    chan struct{}
	maxBatch int
	mu       sync.Mutex
	pending  map[uint32][]*pcall
	broken   error
	ready    chan struct{}
	readErr  chan error

	wmu  sync.Mutex   // serialises sends: enc, recs, id and stdin writes
	enc  *rpc.Encoder // the predictor's own encoder: both children get sigmagate's bytes
	recs [][]float32
	id   uint32

	records, batches atomic.Int64
}

// limits are the coalescing client's batch and pipelining limits.
type limits struct{ maxBatch, maxInFlight int }

type pcall struct {
	rec  []float32
	done chan error
}

var pcallPool = sync.Pool{New: func() any { return &pcall{done: make(chan error, 1)} }}

// startPipeClient starts argv and, when waitReady, waits for its `ready` notification.
func startPipeClient(ctx context.Context, argv []string, dir string, stderr io.Writer, waitReady bool, lim limits) (*pipeClient, time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, 0, fmt.Errorf("pipe to %s: %w", argv[0], err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, fmt.Errorf("pipe from %s: %w", argv[0], err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start %v: %w", argv, err)
	}
	c := &pipeClient{
		cmd:      cmd,
		stdin:    stdin,
		queue:    make(chan *pcall, 16384),
		slots:    make(chan struct{}, lim.maxInFlight),
		maxBatch: lim.maxBatch,
		pending:  make(map[uint32][]*pcall),
		ready:    make(chan struct{}),
		readErr:  make(chan error, 1),
		enc:      rpc.NewEncoder(),
		recs:     make([][]float32, 0, lim.maxBatch),
	}
	// Read as the predictor does (the same spin before parking), so the echo
	// floor and the direct sidecar client share the predictor's read path.
	src, err := pipe.NewSpinReader(stdout.(*os.File), predictor.DefaultReadSpin)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, 0, err
	}
	go c.readLoop(src)
	go c.writeLoop()
	if !waitReady {
		return c, 0, nil
	}
	select {
	case <-c.ready:
		return c, time.Since(start), nil
	case err := <-c.readErr:
		_ = c.close()
		return nil, 0, fmt.Errorf("%v exited before ready: %w", argv, err)
	case <-ctx.Done():
		_ = c.close()
		return nil, 0, fmt.Errorf("%v not ready: %w", argv, ctx.Err())
	}
}

func (c *pipeClient) pid() int { return c.cmd.Process.Pid }

func (c *pipeClient) batchStats() (int64, int64) { return c.records.Load(), c.batches.Load() }

func (c *pipeClient) call(ctx context.Context, rec []float32) error {
	pc := pcallPool.Get().(*pcall)
	pc.rec = rec
	if !c.sendNow(pc) {
		select {
		case c.queue <- pc:
		case <-ctx.Done():
			pcallPool.Put(pc)
			return ctx.Err()
		}
	}
	select {
	case err := <-pc.done:
		pcallPool.Put(pc)
		return err
	case <-ctx.Done():
		// The call is still owned by the reader; leave it to the garbage collector.
		return ctx.Err()
	}
}

// close ends the child the way the bot would: EOF on stdin, then a grace
// period, then SIGKILL of its process group.
func (c *pipeClient) close() error {
	close(c.queue)
	_ = c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		err := <-done
		return errors.Join(errors.New("child did not exit within 5s of EOF; killed"), err)
	}
}

// stderrFile opens a log file for a child's stderr (or discards it when path is empty).
func stderrFile(path string) (io.WriteCloser, error) {
	if path == "" {
		return nopCloser{io.Discard}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("child log: %w", err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
