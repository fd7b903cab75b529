//go:build unix

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sigmagate/sigmagate/go/manifest"
)

// ortTarget is the other way to serve the model: Go calls onnxruntime's C
// API in process, one row per call (no batching, no sidecar), on the graph
// the sidecar serves with the session options the sidecar uses. Only the
// benchmark links it (cgo, a shared library from the onnxruntime wheel): it
// is the comparison, not a product path.
type ortTarget struct {
	sess     *ort.DynamicAdvancedSession
	features int
	outShape ort.Shape
	bufs     sync.Pool // *ortBufs: one row's input and output tensors per concurrent call
}

type ortBufs struct {
	in  *ort.Tensor[float32]
	out *ort.Tensor[float32]
}

// newBufs makes the input and output tensors of a call scoring n rows.
func (t *ortTarget) newBufs(n int) (*ortBufs, error) {
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), int64(t.features)))
	if err != nil {
		return nil, fmt.Errorf("input tensor: %w", err)
	}
	shape := t.outShape.Clone()
	shape[0] = int64(n)
	out, err := ort.NewEmptyTensor[float32](shape)
	if err != nil {
		_ = in.Destroy()
		return nil, fmt.Errorf("output tensor: %w", err)
	}
	return &ortBufs{in: in, out: out}, nil
}

func (b *ortBufs) destroy() {
	_ = b.in.Destroy()
	_ = b.out.Destroy()
}

var ortInit sync.Once

// newORTTarget loads model's served variant into one onnxruntime session,
// initialising onnxruntime from lib (libonnxruntime.so) once per process.
func newORTTarget(lib, model string) (*ortTarget, error) {
	if lib == "" {
		return nil, fmt.Errorf("no -ort-lib given (libonnxruntime.so, e.g. from the onnxruntime wheel's capi/)")
	}
	var initErr error
	ortInit.Do(func() {
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(); err != nil {
			initErr = fmt.Errorf("onnxruntime from %s: %w", lib, err)
		}
	})
	if initErr != nil {
		return nil, initErr
	}
	if !ort.IsInitialized() {
		return nil, fmt.Errorf("onnxruntime from %s did not initialise", lib)
	}
	m, err := manifest.Load(model)
	if err != nil {
		return nil, err
	}
	v, err := m.Served()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxruntime session options: %w", err)
	}
	defer opts.Destroy()
	// infer/model.py's options: one thread per run, sequential, every graph
	// optimisation, no spinning of idle intra-op threads.
	for _, set := range []func() error{
		func() error { return opts.SetIntraOpNumThreads(1) },
		func() error { return opts.SetInterOpNumThreads(1) },
		func() error { return opts.SetExecutionMode(ort.ExecutionModeSequential) },
		func() error { return opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll) },
		func() error { return opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0") },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("onnxruntime session options: %w", err)
		}
	}
	sess, err := ort.NewDynamicAdvancedSession(m.Path(v.File), []string{m.InputName}, []string{m.OutputName}, opts)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime session for %s: %w", m.Path(v.File), err)
	}
	// The output's shape as the graph declares it ([N] or [N, 1]), for one row.
	_, outs, err := ort.GetInputOutputInfo(m.Path(v.File))
	if err != nil {
		_ = sess.Destroy()
		return nil, fmt.Errorf("onnxruntime outputs of %s: %w", m.Path(v.File), err)
	}
	var outShape ort.Shape
	for _, o := range outs {
		if o.Name == m.OutputName {
			outShape = o.Dimensions.Clone()
		}
	}
	if len(outShape) == 0 {
		_ = sess.Destroy()
		return nil, fmt.Errorf("%s has no tensor output %q", m.Path(v.File), m.OutputName)
	}
	for i := range outShape {
		outShape[i] = 1 // the batch dimension (and any other free one) for one row
	}
	return &ortTarget{sess: sess, features: len(m.Features), outShape: outShape}, nil
}

func (t *ortTarget) call(_ context.Context, rec []float32) error {
	b, _ := t.bufs.Get().(*ortBufs)
	if b == nil {
		var err error
		if b, err = t.newBufs(1); err != nil {
			return err
		}
	}
	copy(b.in.GetData(), rec)
	if err := t.sess.Run([]ort.Value{b.in}, []ort.Value{b.out}); err != nil {
		return fmt.Errorf("onnxruntime run: %w", err)
	}
	p := b.out.GetData()[0]
	t.bufs.Put(b)
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("onnxruntime answered %v, not a probability", p)
	}
	return nil
}

// close ends the session; the pooled tensors go with the process (the
// pool cannot be walked), a few hundred bytes per goroutine that ran.
func (t *ortTarget) close() error { return t.sess.Destroy() }

// BatchCost is what one onnxruntime call costs per row when it scores Rows
// rows of the benchmark's feature vectors at once, from one goroutine with
// nothing else running. At one row it is the in-process target's call; at
// the predictor's batch sizes it is the sidecar's onnxruntime call, whose
// per-row cost is the walk down every tree, which batching cannot spare.
type BatchCost struct {
	Rows     int     `json:"rows"`
	Calls    int     `json:"calls"`
	USPerRow float64 `json:"us_per_row"`
}

// batchCosts measures BatchCost for each size in sizes, each for about
// each, cycling through recs so that consecutive calls see different rows
// (the same rows over and over would let the CPU learn every branch).
func (t *ortTarget) batchCosts(ctx context.Context, recs [][]float32, sizes []int, each time.Duration) ([]BatchCost, error) {
	var out []BatchCost
	for _, n := range sizes {
		c, err := t.batchCost(ctx, recs, n, each)
		if err != nil {
			return out, fmt.Errorf("%d rows a call: %w", n, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func (t *ortTarget) batchCost(ctx context.Context, recs [][]float32, n int, each time.Duration) (BatchCost, error) {
	b, err := t.newBufs(n)
	if err != nil {
		return BatchCost{}, err
	}
	defer b.destroy()
	x, next := b.in.GetData(), 0
	run := func() error {
		for i := range n {
			copy(x[i*t.features:], recs[next])
			next = (next + 1) % len(recs)
		}
		return t.sess.Run([]ort.Value{b.in}, []ort.Value{b.out})
	}
	for range 100 { // warm-up: first calls allocate onnxruntime's per-shape state
		if err := run(); err != nil {
			return BatchCost{}, fmt.Errorf("onnxruntime run: %w", err)
		}
	}
	calls, start := 0, time.Now()
	for ctx.Err() == nil {
		// The clock is read every 64 calls: a 1-row call is a few µs.
		for range 64 {
			if err := run(); err != nil {
				return BatchCost{}, fmt.Errorf("onnxruntime run: %w", err)
			}
		}
		calls += 64
		if time.Since(start) >= each {
			break
		}
	}
	took := time.Since(start)
	if ctx.Err() != nil {
		return BatchCost{}, ctx.Err()
	}
	for _, p := range b.out.GetData() {
		if !(p >= 0 && p <= 1) {
			return BatchCost{}, fmt.Errorf("onnxruntime answered %v, not a probability", p)
		}
	}
	return BatchCost{Rows: n, Calls: calls, USPerRow: took.Seconds() * 1e6 / float64(calls*n)}, nil
}
