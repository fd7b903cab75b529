//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
)

// hogEnv makes gatebench a CPU hog instead: one thread that computes until
// its stdin closes. The busy-host runs start -busy-hogs of them beside the
// target, as another CPU-bound process on the bot's machine would be.
const hogEnv = "SIGMAGATE_GATEBENCH_HOG"

// busyTargets are measured on a busy host: sigmagate and its floor.
var busyTargets = []string{"sigmagate", "echo"}

// runHogIfAsked turns this process into a hog when hogEnv is set; it returns
// only if it is not.
func runHogIfAsked() {
	if os.Getenv(hogEnv) != "1" {
		return
	}
	runtime.GOMAXPROCS(1)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	x := uint64(1)
	for {
		for range 1 << 20 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		select {
		case <-done:
			if x == 0 { // keeps the loop from being optimised away
				fmt.Fprintln(os.Stderr, x)
			}
			os.Exit(0)
		default:
		}
	}
}

type hog struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startHogs(n int) ([]*hog, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find gatebench's own binary for the CPU hogs: %w", err)
	}
	var hogs []*hog
	for range n {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), hogEnv+"=1")
		stdin, err := cmd.StdinPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			stopHogs(hogs)
			return nil, fmt.Errorf("start a CPU hog: %w", err)
		}
		hogs = append(hogs, &hog{cmd: cmd, stdin: stdin})
	}
	return hogs, nil
}

func stopHogs(hogs []*hog) {
	for _, h := range hogs {
		_ = h.stdin.Close()
		_ = h.cmd.Wait()
	}
}

// measureBusy measures the busy targets at one goroutine, back to back,
// while -busy-hogs CPU-bound processes run.
func measureBusy(ctx context.Context, o *options, recs [][]float32, log *slog.Logger) ([]Result, error) {
	hogs, err := startHogs(o.busyHogs)
	if err != nil {
		return nil, err
	}
	defer stopHogs(hogs)
	var out []Result
	var errs []error
	for _, name := range busyTargets {
		if !o.targets[name] || ctx.Err() != nil {
			continue
		}
		log.Info("measuring on a busy host", "target", name, "hogs", o.busyHogs)
		r, err := measureTarget(ctx, o, name, 1, recs, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}
