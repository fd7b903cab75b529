package predictor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// Benchmarks run only under `go test -bench` (make bench), never in
// `make test`: they spawn the real sidecar and saturate the CPU.
//
//	go test -run '^$' -bench . -benchtime 20000x ./predictor
//
// Each reports p50/p99 round-trip latency per decision (µs) and decisions/s,
// at 1, 8 and 64 goroutines, for the sidecar and for a bare pipe echo
// (cmd/pipeecho) — the latency floor of any stdio sidecar.

var benchConcurrency = []int{1, 8, 64}

// runConcurrent splits b.N operations over n goroutines and reports
// latency percentiles and throughput.
func runConcurrent(b *testing.B, n int, op func(g int) error) {
	b.Helper()
	lat := make([][]time.Duration, n)
	per := b.N / n
	if per == 0 {
		per = 1
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			l := make([]time.Duration, 0, per)
			for i := 0; i < per; i++ {
				t := time.Now()
				if err := op(g); err != nil {
					errs <- err
					return
				}
				l = append(l, time.Since(t))
			}
			lat[g] = l
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	q := func(f float64) float64 { return float64(all[int(f*float64(len(all)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "decisions/s")
}

func BenchmarkSidecarRoundTrip(b *testing.B) {
	e := needSidecar(b)
	model := tinyModel(b, "tiny-a", 1)
	p, err := New(context.Background(), Config{
		Command: []string{e.python, "-m", "infer"}, Dir: e.root, ModelDir: model,
		Logger: discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if p.Health().State != StateReady {
		b.Fatalf("sidecar not ready: %+v", p.Health())
	}
	recs := randomRecords(64, 9)
	for _, n := range benchConcurrency {
		b.Run(fmt.Sprintf("goroutines=%d", n), func(b *testing.B) {
			before := p.Health().Fallbacks
			runConcurrent(b, n, func(g int) error {
				d, err := p.Decide(context.Background(), recs[g%len(recs)])
				if err != nil {
					return err
				}
				_ = d
				return nil
			})
			if f := p.Health().Fallbacks - before; f > 0 {
				b.Fatalf("%d decisions fell back during the benchmark", f)
			}
		})
	}
}

// BenchmarkPipeEchoRoundTrip sends the same single-record predict request
// through cmd/pipeecho and decodes the echoed bytes: pipes, wake-ups and
// msgpack, no model. Concurrent goroutines share one pipe as the predictor
// does, but each sends its own message (no batching).
func BenchmarkPipeEchoRoundTrip(b *testing.B) {
	bin := buildPipeEcho(b)
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()

	// One writer, one reader, waiters matched by msgid — the predictor's shape.
	var mu sync.Mutex
	waiting := map[uint32]chan struct{}{}
	go func() {
		dec := rpc.NewDecoder(stdout)
		var m rpc.Message
		for dec.Decode(&m) == nil {
			mu.Lock()
			ch := waiting[m.MsgID]
			delete(waiting, m.MsgID)
			mu.Unlock()
			if ch != nil {
				close(ch)
			}
		}
	}()
	var wmu sync.Mutex
	enc := rpc.NewEncoder()
	var next uint32
	rec := [][]float32{{0.1, 0.2, 0.3}}
	for _, n := range benchConcurrency {
		b.Run(fmt.Sprintf("goroutines=%d", n), func(b *testing.B) {
			runConcurrent(b, n, func(int) error {
				ch := make(chan struct{})
				wmu.Lock()
				next++
				id := next
				mu.Lock()
				waiting[id] = ch
				mu.Unlock()
				enc.Reset()
				_ = enc.Predict(id, rec)
				_, err := stdin.Write(enc.Bytes())
				wmu.Unlock()
				if err != nil {
					return err
				}
				<-ch
				return nil
			})
		})
	}
}

func buildPipeEcho(b *testing.B) string {
	b.Helper()
	out := filepath.Join(b.TempDir(), "pipeecho")
	cmd := exec.Command("go", "build", "-o", out, "../cmd/pipeecho")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("build pipeecho: %v\n%s", err, stderr.String())
	}
	return out
}

func discardLogger() *slog.Logger {
	if os.Getenv("SIGMAGATE_BENCH_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
