//go:build unix

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

func TestPercentilesUseNearestRank(t *testing.T) {
	lat := make([]time.Duration, 0, 1000)
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	p := percentiles(lat)
	want := Percentiles{P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000, Mean: 500.5}
	if p != want {
		t.Fatalf("percentiles = %+v, want %+v", p, want)
	}
	if (percentiles(nil) != Percentiles{}) {
		t.Fatal("percentiles of no sample must be zero")
	}
}

// cat is a real process that, like pipeecho, sends back what it reads.
func startCat(t *testing.T, lim limits) *pipeClient {
	t.Helper()
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat on PATH")
	}
	c, _, err := startPipeClient(context.Background(), []string{cat}, t.TempDir(), io.Discard, false, lim)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEchoClientAnswersEveryCallUnderConcurrency(t *testing.T) {
	c := startCat(t, limits{maxBatch: 64, maxInFlight: 2})
	recs := records(16, 1)
	r := measure(context.Background(), "echo", c, 32, plan{calls: 5000}, recs)
	if err := c.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if r.Calls != 5000 || r.Failures != 0 {
		t.Fatalf("calls=%d failures=%d (%s), want 5000 answered", r.Calls, r.Failures, r.FirstError)
	}
	if r.MeanBatch < 1 || r.MeanBatch > 64 {
		t.Fatalf("mean batch %v outside [1, maxBatch=64]", r.MeanBatch)
	}
	// Every call costs this process CPU; cat's share is a part of the whole.
	if r.CPUPerCallUS <= 0 || r.ServerCPUPerCallUS < 0 || r.ServerCPUPerCallUS > r.CPUPerCallUS {
		t.Fatalf("CPU per call %v µs, the server's %v µs: want a positive total that includes the server's",
			r.CPUPerCallUS, r.ServerCPUPerCallUS)
	}
}

// busyTarget runs a shell loop that burns CPU as its server process.
type busyTarget struct {
	cmd    *exec.Cmd
	server int // the pid it reports
}

func (b *busyTarget) call(context.Context, []float32) error { return nil }
func (b *busyTarget) close() error                          { _ = b.cmd.Process.Kill(); return b.cmd.Wait() }
func (b *busyTarget) pid() int                              { return b.server }

func TestCPUMeterCountsTheServersCPUTime(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	b := &busyTarget{cmd: cmd, server: cmd.Process.Pid}
	defer b.close()
	m := startCPUMeter(b)
	start := time.Now()
	time.Sleep(500 * time.Millisecond)
	self, server, err := m.stop()
	wall := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	// A loop that runs the whole time gets a good part of a core even on a
	// busy machine, and no more than every core: a wrong unit is off by far more.
	if server < 50*time.Millisecond || server > time.Duration(runtime.NumCPU())*wall+20*time.Millisecond {
		t.Fatalf("the busy server used %v of CPU in %v", server, wall)
	}
	if self < 0 || self > 100*time.Millisecond {
		t.Fatalf("this process, asleep, used %v of CPU in %v", self, wall)
	}
	// A server replaced during the span leaves it unmeasured.
	m = startCPUMeter(b)
	b.server = os.Getpid() // as if the sidecar had restarted under a new pid
	_, _, err = m.stop()
	if err == nil {
		t.Fatal("a replaced server process must leave the CPU time unmeasured")
	}
}

func TestCallsFailWhenTheChildDies(t *testing.T) {
	// `true` exits at once without answering: the call must fail, not hang.
	c, _, err := startPipeClient(context.Background(), []string{"true"}, t.TempDir(), io.Discard, false, limits{maxBatch: 8, maxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = c.call(ctx, []float32{0, 0, 0})
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to a dead child returned %v, want a read/write error", err)
	}
}

func TestPacedCallsIdleTheGapAfterEachAnswer(t *testing.T) {
	c := startCat(t, pipeLimits)
	defer c.close()
	start := time.Now()
	r := measurePaced(context.Background(), "echo", c, 5*time.Millisecond, 6, records(4, 1))
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Fatalf("6 calls with a 5ms gap took %v; want at least 30ms", took)
	}
	if r.Calls != 6 || r.Failures != 0 || r.GapUS != 5000 {
		t.Fatalf("got %+v; want 6 answered calls at gap 5000µs", r)
	}
	if r.LatencyUS.P50 <= 0 || r.LatencyUS.P50 > r.LatencyUS.Max {
		t.Fatalf("implausible latencies %+v", r.LatencyUS)
	}
}

func TestSparseGapsAndHogsAreParsedAndChecked(t *testing.T) {
	o, err := parseFlags([]string{"-model", "m", "-sparse-gaps", "0, 250us,2ms", "-busy-hogs", "2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 250 * time.Microsecond, 2 * time.Millisecond}
	if !slices.Equal(o.sparseGaps, want) || o.busyHogs != 2 {
		t.Fatalf("gaps %v hogs %d; want %v and 2", o.sparseGaps, o.busyHogs, want)
	}
	if o, err = parseFlags([]string{"-model", "m", "-sparse-gaps", ""}); err != nil || len(o.sparseGaps) != 0 {
		t.Fatalf("empty -sparse-gaps: %v, %v; want no sparse runs", o.sparseGaps, err)
	}
	for _, bad := range [][]string{{"-sparse-gaps", "soon"}, {"-sparse-gaps", "-1ms"}, {"-busy-hogs", "-1"}} {
		if _, err := parseFlags(append([]string{"-model", "m"}, bad...)); err == nil {
			t.Errorf("%v accepted; want an error", bad)
		}
	}
}

func TestORTBatchSizesAreParsedAndChecked(t *testing.T) {
	o, err := parseFlags([]string{"-model", "m", "-ort-batches", "1, 16,64"})
	if err != nil || !slices.Equal(o.ortBatches, []int{1, 16, 64}) {
		t.Fatalf("-ort-batches 1,16,64: %v, %v", o.ortBatches, err)
	}
	if o, err = parseFlags([]string{"-model", "m", "-ort-batches", ""}); err != nil || len(o.ortBatches) != 0 {
		t.Fatalf("empty -ort-batches: %v, %v; want no batch-cost runs", o.ortBatches, err)
	}
	for _, bad := range [][]string{{"-ort-batches", "0"}, {"-ort-batches", "8,,16"}, {"-ort-batches", "many"}, {"-concurrency", ""}} {
		if _, err := parseFlags(append([]string{"-model", "m"}, bad...)); err == nil {
			t.Errorf("%v accepted; want an error", bad)
		}
	}
}

// TestORTBatchCostsScoreEachSize runs the real onnxruntime library of the
// project's virtualenv on the committed check-vector model.
func TestORTBatchCostsScoreEachSize(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if r := os.Getenv("SIGMAGATE_ROOT"); r != "" {
		root = r
	}
	libs, _ := filepath.Glob(filepath.Join(root, ".venv", "lib", "python3*", "site-packages", "onnxruntime", "capi", "libonnxruntime.so*"))
	if len(libs) == 0 {
		testutil.SkipOrFail(t, "no libonnxruntime.so in %s/.venv (make venv installs it)", root)
	}
	ot, err := newORTTarget(libs[0], filepath.Join(root, "tests", "vectors", "model"))
	if err != nil {
		t.Fatal(err)
	}
	defer ot.close()
	recs := records(100, 1)
	costs, err := ot.batchCosts(context.Background(), recs, []int{1, 7}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(costs) != 2 {
		t.Fatalf("%d costs for 2 sizes: %+v", len(costs), costs)
	}
	for i, n := range []int{1, 7} {
		c := costs[i]
		if c.Rows != n || c.Calls < 64 || c.Calls%64 != 0 || !(c.USPerRow > 0) {
			t.Errorf("size %d: %+v; want its rows, whole rounds of 64 calls and a positive cost", n, c)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ot.batchCosts(ctx, recs, []int{4}, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v; want context.Canceled", err)
	}
}

func TestHogsStopWhenAsked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CPU-bound processes")
	}
	// The test binary is not gatebench, so run the hog loop through a real
	// gatebench binary.
	bin := filepath.Join(t.TempDir(), "gatebench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build gatebench: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), hogEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hog exited with %v; want 0 once its stdin closed", err)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("hog still running 5s after its stdin closed")
	}
}
