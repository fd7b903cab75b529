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
	"github.com/sigmagate/sigmagate/go/internal/sidecar"
	"github.com/sigmagate/sigmagate/go/predictor"
)

// pipeClient is gatebench's msgpack-rpc client over a child's stdin and
// stdout. It is used for two children, so that the only difference between
// them is what the child does with the bytes:
//   - pipeecho, which sends every request back unchanged (the floor), and
//   - infer, which answers it (sigmagate's sidecar without the predictor package).
//
// Its write half is the predictor's own (sidecar.Writer: SendNow from an
// idle caller, else the queue and the coalescing writer goroutine, pipelined
// up to maxInFlight batches); only the reader is gatebench's, because the
// echo child answers with the request itself and sends no ready message.
type pipeClient struct {
	cmd   *exec.Cmd
	stdin *os.File
	queue chan *sidecar.Call
	w     *sidecar.Writer

	stop     chan struct{} // ends the writer goroutine; deadErr is set before
	deadErr  error
	dieOnce  sync.Once
	ready    chan struct{}
	readErr  chan error
	finished chan struct{} // closed when both goroutines have returned

	records, batches atomic.Int64
}

// limits are the coalescing client's batch and pipelining limits.
type limits struct{ maxBatch, maxInFlight int }

// startPipeClient starts argv and, when waitReady, waits for its `ready` notification.
func startPipeClient(ctx context.Context, argv []string, dir string, stderr io.Writer, waitReady bool, lim limits) (*pipeClient, time.Duration, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, 0, fmt.Errorf("pipe to %s: %w", argv[0], err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, 0, fmt.Errorf("pipe from %s: %w", argv[0], err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, 0, fmt.Errorf("start %v: %w", argv, err)
	}
	c := &pipeClient{
		cmd:      cmd,
		stdin:    inW,
		queue:    make(chan *sidecar.Call, 16384),
		stop:     make(chan struct{}),
		ready:    make(chan struct{}),
		readErr:  make(chan error, 1),
		finished: make(chan struct{}),
	}
	c.w, err = sidecar.NewWriter(inW, sidecar.WriterOptions{
		Queue: c.queue, MaxBatch: lim.maxBatch, MaxInFlight: lim.maxInFlight,
		Batch: func(n int) { c.records.Add(int64(n)); c.batches.Add(1) },
		Die:   func(_ string, err error) { c.die(err) },
	})
	if err == nil {
		// Read as the predictor does (the same spin before parking), so the
		// echo floor and the direct sidecar client share the predictor's read path.
		var src io.Reader
		if src, err = pipe.NewSpinReader(outR, predictor.DefaultReadSpin, c.w.Owed); err == nil {
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); c.readLoop(src) }()
			go func() { defer wg.Done(); c.w.Run(c.stop) }()
			go func() { wg.Wait(); outR.Close(); close(c.finished) }()
		}
	}
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		inW.Close()
		outR.Close()
		return nil, 0, err
	}
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
	call := sidecar.NewCall(rec)
	if !c.w.SendNow(call) {
		select {
		case c.queue <- call:
		case <-c.stop:
			return c.deadErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-call.Done():
		return call.Err
	case <-c.stop:
		// A call still queued when the writer stopped is never sent.
		call.Abandon()
		return c.deadErr
	case <-ctx.Done():
		call.Abandon()
		return ctx.Err()
	}
}

// die ends the conversation once: the writer stops and every call sent and
// not answered fails with err.
func (c *pipeClient) die(err error) {
	c.dieOnce.Do(func() {
		c.deadErr = fmt.Errorf("%w: %w", sidecar.ErrUnavailable, err)
		close(c.stop)
		c.w.Finish(err)
	})
}

// close ends the child the way the bot would: EOF on stdin, then a grace
// period, then SIGKILL of its process group.
func (c *pipeClient) close() error {
	c.die(errors.New("client closed"))
	_ = c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		err = errors.Join(errors.New("child did not exit within 5s of EOF; killed"), <-done)
	}
	<-c.finished
	return err
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
