package predictor

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// runFakeSidecar is a model-less sidecar in Go, used only by
// BenchmarkGoSideOverhead to measure what the predictor itself costs per
// decision: it answers every predict with p = 0.5 as fast as it can.
func runFakeSidecar() {
	out := bufio.NewWriter(os.Stdout)
	enc := rpc.NewEncoder()
	_ = enc.Notification("ready", map[string]any{"protocol": 1, "pid": os.Getpid(), "error": nil,
		"model": map[string]any{"version": "fake", "features": defaultFeatures, "threshold": 0.5, "variant": "fp32",
			"sha256": "", "path": "", "loaded_at": "2026-01-01T00:00:00Z"}})
	out.Write(enc.Bytes())
	out.Flush()
	dec := rpc.NewDecoder(os.Stdin)
	var m rpc.Message
	for dec.Decode(&m) == nil {
		var params [][][]float64
		if err := rpc.Unmarshal(m.Params, &params); err != nil || len(params) == 0 {
			fmt.Fprintln(os.Stderr, "fake sidecar: bad params", err)
			os.Exit(1)
		}
		n := len(params[0])
		p := make([]float64, n)
		ap := make([]bool, n)
		for i := range p {
			p[i] = 0.5
			ap[i] = true
		}
		enc.Reset()
		_ = enc.Response(m.MsgID, nil, rpc.PredictResult{P: p, Approve: ap, Threshold: 0.5, Version: "fake"})
		out.Write(enc.Bytes())
		out.Flush()
	}
}

// BenchmarkGoSideOverhead runs the predictor against the Go fake sidecar:
// the difference to BenchmarkPipeEchoRoundTrip is the predictor's own cost
// (queue, writer/reader goroutines, batching, timers, metrics).
func BenchmarkGoSideOverhead(b *testing.B) {
	p, err := New(context.Background(), Config{
		Command: []string{os.Args[0], "-test.run=^$"}, Env: []string{"SIGMAGATE_TEST_FAKE_SIDECAR=1", "GOMAXPROCS=1"},
		ModelDir: b.TempDir(), Logger: discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if p.Health().State != StateReady {
		b.Fatalf("fake sidecar not ready: %+v", p.Health())
	}
	rec := []float32{0.1, 0.2, 0.3}
	for _, n := range benchConcurrency {
		b.Run(fmt.Sprintf("goroutines=%d", n), func(b *testing.B) {
			runConcurrent(b, n, func(int) error {
				d, err := p.Decide(context.Background(), rec)
				if err == nil && d.Source != SourceModel {
					err = fmt.Errorf("fallback: %v", d.Err)
				}
				return err
			})
		})
	}
}
