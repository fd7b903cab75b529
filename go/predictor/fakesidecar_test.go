package predictor

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

// runFakeSidecar is a model-less sidecar in Go, used by
// BenchmarkGoSideOverhead to measure what the predictor itself costs per
// decision: it answers every predict with p = 0.5 as fast as it can. It
// announces SIGMAGATE_TEST_FAKE_PROTOCOL as its protocol version when set.
// With SIGMAGATE_TEST_FAKE_SWAP set it plays a reload that changes the
// feature order while a call is out: on the first predict it announces
// model "swapped" (fakeSwappedOrder) and answers that request and every
// later one from it, with p = the record's first value.
func runFakeSidecar() {
	out := bufio.NewWriter(os.Stdout)
	enc := rpc.NewEncoder()
	version := rpc.ProtocolVersion
	if v, err := strconv.Atoi(os.Getenv("SIGMAGATE_TEST_FAKE_PROTOCOL")); err == nil {
		version = v
	}
	_ = enc.Notification("ready", map[string]any{"protocol": version, "pid": os.Getpid(), "error": nil,
		"model": map[string]any{"version": "fake", "features": defaultFeatures, "threshold": 0.5, "variant": "fp32",
			"sha256": "", "path": "", "loaded_at": "2026-01-01T00:00:00Z"}})
	out.Write(enc.Bytes())
	out.Flush()
	swap := os.Getenv("SIGMAGATE_TEST_FAKE_SWAP") != ""
	answering := "fake"
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
			if swap {
				p[i] = params[0][i][0]
			}
			ap[i] = p[i] >= 0.5
		}
		enc.Reset()
		if swap && answering == "fake" {
			answering = "swapped"
			_ = enc.Notification("model_loaded", map[string]any{"protocol": version, "pid": os.Getpid(), "error": nil,
				"model": map[string]any{"version": answering, "features": fakeSwappedOrder, "threshold": 0.5, "variant": "fp32",
					"sha256": "", "path": "", "loaded_at": "2026-01-01T00:00:01Z"}})
		}
		_ = enc.Response(m.MsgID, nil, rpc.PredictResult{P: p, Approve: ap, Threshold: 0.5, Version: answering})
		out.Write(enc.Bytes())
		out.Flush()
	}
}

var fakeSwappedOrder = []string{"depth_ratio", "tick_ratio", "price_dist"}

// BenchmarkGoSideOverhead runs the predictor against the Go fake sidecar:
// the difference to BenchmarkPipeEchoRoundTrip is the predictor's own cost
// (queue, writer/reader goroutines, batching, timers, metrics).
func BenchmarkGoSideOverhead(b *testing.B) {
	// Hedging off: a call slower than the hedge delay (a busy machine) would
	// be answered by the fallback, and this measures the sidecar round trip.
	p, err := New(context.Background(), Config{
		Command: []string{os.Args[0], "-test.run=^$"}, Env: []string{"SIGMAGATE_TEST_FAKE_SIDECAR=1", "GOMAXPROCS=1"},
		ModelDir: b.TempDir(), Logger: discardLogger(), HedgeDelay: -1,
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

func TestSidecarOfAnotherProtocolVersionIsRefusedAndRetriedWithBackoff(t *testing.T) {
	for _, theirs := range []int{rpc.ProtocolVersion - 1, rpc.ProtocolVersion + 1} {
		t.Run(fmt.Sprint(theirs), func(t *testing.T) {
			h := &harness{reg: prometheus.NewRegistry(), log: &testutil.LogBuffer{}}
			p, err := New(context.Background(), Config{
				Command: []string{os.Args[0], "-test.run=^$"}, ModelDir: t.TempDir(),
				Env:        []string{"SIGMAGATE_TEST_FAKE_SIDECAR=1", fmt.Sprintf("SIGMAGATE_TEST_FAKE_PROTOCOL=%d", theirs)},
				Logger:     slog.New(slog.NewJSONHandler(h.log, nil)),
				Registerer: h.reg, StartTimeout: 10 * time.Second,
				RestartBackoffMin: 50 * time.Millisecond, RestartBackoffMax: 400 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			time.Sleep(1500 * time.Millisecond)
			hl := p.Health()
			side := "the Python side (infer) is older"
			if theirs > rpc.ProtocolVersion {
				side = "the Go side (go/predictor) is older"
			}
			if hl.State == StateReady || !containsAll(hl.LastError, fmt.Sprintf("protocol version %d", theirs), fmt.Sprintf("speaks %d", rpc.ProtocolVersion), side) {
				t.Fatalf("state %s, last error %q", hl.State, hl.LastError)
			}
			d, err := p.Decide(ctxT(t), []float32{0.1, 0.2, 0.3})
			if err != nil || d.Source == SourceModel {
				t.Fatalf("decision from a refused sidecar: %+v, %v", d, err)
			}
			// 50, 100, 200, 400, 400 ms of backoff between starts: a handful in
			// 1.5 s, never a tight loop.
			v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "protocol_version"})
			if v < 1 || v > 8 {
				t.Fatalf("%v restarts for protocol_version in 1.5 s; want a few, with backoff", v)
			}
			if e, _ := metricValue(t, h.reg, "sigmagate_predictor_errors_total", map[string]string{"kind": "protocol_version"}); e < 1 {
				t.Fatalf("errors_total{kind=protocol_version} = %v", e)
			}
		})
	}
}
