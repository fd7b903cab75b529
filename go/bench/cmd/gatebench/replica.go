//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/sigmagate/sigmagate/go/predictor"
)

// newReplicaTarget is the predictor with its verified in-process replica
// answering: with native = true in ModeReplica (every decision from the
// replica; the sidecar runs beside it), else as the fallback while the
// sidecar is down — it is SIGKILLed once the replica is verified and not
// restarted during the run (restart backoff of an hour), so every decision
// takes the path a bot's decisions take while the sidecar restarts.
func newReplicaTarget(ctx context.Context, o *options, logw io.Writer, native bool) (*sigmagateTarget, error) {
	cfg := predictor.Config{
		Command:  []string{o.python, "-m", "infer"},
		Dir:      o.root,
		ModelDir: o.model,
	}
	if native {
		cfg.Mode = predictor.ModeReplica
	} else {
		cfg.RestartBackoffMin, cfg.RestartBackoffMax = time.Hour, time.Hour
	}
	t, err := newPredictor(ctx, cfg, logw)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*sigmagateTarget, error) {
		_ = t.p.Close()
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for t.p.Health().Replica.Version == "" {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fail(fmt.Errorf("no verified replica: %s", t.p.Health().Replica.Why))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !native {
		pid := t.p.Health().PID
		if pid <= 0 {
			return fail(fmt.Errorf("no sidecar pid to kill"))
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fail(fmt.Errorf("kill the sidecar: %w", err))
		}
		for t.p.Health().State == predictor.StateReady {
			if time.Now().After(deadline) {
				return fail(fmt.Errorf("the killed sidecar still shows as ready"))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.wantReplica = true
	return t, nil
}
