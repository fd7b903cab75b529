//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"
)

// measureTarget starts a fresh instance of target name, measures it at conc
// goroutines and stops it, so no target's state leaks into the next.
func measureTarget(ctx context.Context, o *options, name string, conc int, recs [][]float32, log *slog.Logger) (Result, error) {
	logw, err := stderrFile(o.logPath(fmt.Sprintf("%s-%d.log", name, conc)))
	if err != nil {
		return Result{}, err
	}
	defer logw.Close()
	t, p, setup, err := openTarget(ctx, o, name, conc, logw)
	if err != nil {
		return Result{}, err
	}
	r := measure(ctx, name, t, conc, p, recs)
	r.SetupMS = float64(setup.Microseconds()) / 1e3
	if cerr := t.close(); cerr != nil {
		log.Warn("closing target", "target", name, "err", cerr)
	}
	return r, nil
}

// openTarget starts target name for conc goroutines; it returns how to
// measure it and how long it took to become ready.
func openTarget(ctx context.Context, o *options, name string, conc int, logw io.Writer) (target, plan, time.Duration, error) {
	p := plan{warmup: o.warmup, duration: o.duration}
	var (
		t     target
		err   error
		setup time.Duration
	)
	switch name {
	case "echo":
		if o.echo == "" {
			return nil, p, 0, errors.New("no -echo binary given")
		}
		t, _, err = startPipeClient(ctx, []string{o.echo}, o.root, logw, false, pipeLimits)
	case "infer":
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		t, setup, err = startPipeClient(sctx, o.inferArgv(o.model), o.root, logw, true, pipeLimits)
	case "onnxruntime":
		t, err = newORTTarget(o.ortLib, o.model)
	case "http":
		if o.httpURL == "" {
			return nil, p, 0, errors.New("no -http URL given")
		}
		t = newHTTPTarget(o.httpURL, conc, o.httpPID)
	case "reference":
		n, ok := o.refCalls[conc]
		if !ok {
			return nil, p, 0, fmt.Errorf("no -ref-calls entry for %d goroutines", conc)
		}
		p = plan{calls: n}
		t = &refTarget{argv: []string{o.python, filepath.Join(o.root, "bench", "reference_predict.py"), "--model", o.model}, dir: o.root}
	case "sigmagate":
		var st *sigmagateTarget
		st, err = newSigmagateTarget(ctx, o, o.model, logw)
		if err == nil {
			setup = st.newTook
			t = st
		}
	case "replica", "replica-fallback":
		var st *sigmagateTarget
		st, err = newReplicaTarget(ctx, o, logw, name == "replica")
		if err == nil {
			t = st
		}
	case "fallback":
		var st *sigmagateTarget
		st, err = newFallbackTarget(ctx, o, logw)
		if err == nil {
			t = st
		}
	default:
		err = fmt.Errorf("unknown target %q", name)
	}
	if err != nil {
		return nil, p, 0, err
	}
	return t, p, setup, nil
}
