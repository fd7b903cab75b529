//go:build unix

// POSIX only: the sidecar is hung and killed with POSIX signals.

package predictor

// The sidecar's life under load: killed, stopped, reloaded, closed. Each test
// runs real infer processes and checks no decision fails and no process is left.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/internal/testutil"
)

// load runs Decide in a loop on n goroutines until stop is closed, and
// records what answered.
type load struct {
	model, fallback, slow atomic.Int64
	reasons               sync.Map
	versions              sync.Map
	wg                    sync.WaitGroup
	stop                  chan struct{}
}

func startLoad(t *testing.T, p *Predictor, n int, maxLatency time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	recs := randomRecords(16, 3)
	for g := 0; g < n; g++ {
		l.wg.Add(1)
		go func(g int) {
			defer l.wg.Done()
			for k := 0; ; k++ {
				select {
				case <-l.stop:
					return
				default:
				}
				d, err := p.Decide(context.Background(), recs[(g+k)%len(recs)])
				if err != nil {
					t.Errorf("Decide: %v", err)
					return
				}
				if d.Latency > maxLatency {
					l.slow.Add(1)
				}
				if d.Source == SourceModel {
					l.model.Add(1)
					l.versions.Store(d.ModelVersion, true)
				} else {
					l.fallback.Add(1)
					l.reasons.Store(d.Reason, true)
					time.Sleep(time.Millisecond) // fallback is instant; do not spin
				}
			}
		}(g)
	}
	t.Cleanup(l.end)
	return l
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func TestChildKilledMidFlightFallsBackThenRestartsAndRecovers(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	const timeout = 300 * time.Millisecond
	h := start(t, Config{ModelDir: model, DisableReplica: true, Timeout: timeout})
	l := startLoad(t, h.p, 16, timeout+300*time.Millisecond) // slack for a loaded CI machine
	testutil.WaitFor(t, 10*time.Second, "model answers under load", func() bool { return l.model.Load() > 100 })
	old := h.p.Health().PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "fallback answers after SIGKILL", func() bool { return l.fallback.Load() > 0 })
	testutil.WaitFor(t, 60*time.Second, "a restarted sidecar", func() bool {
		hl := h.p.Health()
		return hl.State == StateReady && hl.PID != old && hl.PID != 0
	})
	before := l.model.Load()
	testutil.WaitFor(t, 10*time.Second, "model answers after restart", func() bool { return l.model.Load() > before+100 })
	l.end()
	if n := l.slow.Load(); n > 0 {
		t.Errorf("%d decisions took longer than the timeout", n)
	}
	if _, ok := l.reasons.Load(ReasonChildDown); !ok {
		t.Errorf("no fallback with reason %q", ReasonChildDown)
	}
	if hl := h.p.Health(); hl.Restarts < 1 || hl.FallbacksByReason[ReasonChildDown] == 0 {
		t.Errorf("health after restart: %+v", hl)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "exited"}); v < 1 {
		t.Errorf("restarts_total{reason=exited} = %v", v)
	}
	if _, err := os.Stat(filepath.Join("/proc", itoa(old))); err == nil {
		t.Errorf("killed sidecar %d was not reaped", old)
	}
}

func TestChildStoppedTimesOutFallsBackThenIsKilledAndRestarted(t *testing.T) {
	model := tinyModel(t, "tiny-a", 1)
	const timeout = 100 * time.Millisecond
	// The hung sidecar holds its pidfile's lock until it is gone: the replacement
	// must not be started before, or it would refuse the pidfile and exit.
	pidfile := filepath.Join(t.TempDir(), "infer.pid")
	// Hedging off: this is the Timeout path (hedge_test.go has the hedged one).
	h := start(t, Config{ModelDir: model, DisableReplica: true, HedgeDelay: -1, Timeout: timeout, MaxConsecutiveTimeouts: 3,
		Args: []string{"--pidfile", pidfile}})
	rec := randomRecords(1, 4)[0]
	old := stopAfterAModelAnswer(t, h, rec)
	t0 := time.Now()
	d, _ := h.p.Decide(ctxT(t), rec)
	if d.Source != SourceHeuristic || d.Reason != ReasonTimeout || !errors.Is(d.Err, ErrTimeout) {
		t.Fatalf("stopped child: %+v", d)
	}
	if el := time.Since(t0); el < timeout || el > timeout+300*time.Millisecond {
		t.Fatalf("fallback after %v, want about the %v timeout", el, timeout)
	}
	if _, err := h.p.Predict(rec); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Predict on a stopped child: err = %v, want ErrTimeout", err)
	}
	h.p.Approve(rec, 0.5) // third timeout in a row: the child is killed
	testutil.WaitFor(t, 60*time.Second, "the hung sidecar replaced", func() bool {
		hl := h.p.Health()
		return hl.State == StateReady && hl.PID != old && hl.PID != 0
	})
	if _, err := os.Stat(filepath.Join("/proc", itoa(old))); err == nil {
		t.Errorf("stopped sidecar %d still exists", old)
	}
	if b, err := os.ReadFile(pidfile); err != nil || strings.TrimSpace(string(b)) != itoa(h.p.Health().PID) {
		t.Errorf("pidfile after the restart: %q, %v; want the new sidecar's pid %d", b, err, h.p.Health().PID)
	}
	if d, _ := h.p.Decide(ctxT(t), rec); d.Source != SourceModel {
		t.Fatalf("after restart: %+v", d)
	}
	hl := h.p.Health()
	if hl.Timeouts < 3 || hl.FallbacksByReason[ReasonTimeout] < 3 || hl.Restarts < 1 {
		t.Fatalf("health %+v", hl)
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_restarts_total", map[string]string{"reason": "unresponsive"}); v < 1 {
		t.Errorf("restarts_total{reason=unresponsive} = %v", v)
	}
}

func TestReloadUnderLoadFailsNoRequest(t *testing.T) {
	a := tinyModel(t, "tiny-a", 1)
	b := tinyModel(t, "tiny-b", 2)
	dir := t.TempDir()
	cur := linkCurrent(t, dir, a)
	// Hedging off: the test is that the sidecar answers every request
	// across a reload; hedging would let the replica answer slow ones.
	h := start(t, Config{ModelDir: cur, Timeout: 5 * time.Second, HedgeDelay: -1})
	if v := h.p.ModelVersion(); v != "tiny-a" {
		t.Fatalf("ModelVersion = %q", v)
	}
	l := startLoad(t, h.p, 8, 5*time.Second)
	testutil.WaitFor(t, 10*time.Second, "load", func() bool { return l.model.Load() > 200 })
	linkCurrent(t, dir, b)
	if err := h.p.Reload(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "tiny-b serving", func() bool { return h.p.ModelVersion() == "tiny-b" })
	n := l.model.Load()
	testutil.WaitFor(t, 10*time.Second, "load after reload", func() bool { return l.model.Load() > n+200 })
	l.end()
	if f := l.fallback.Load(); f != 0 {
		t.Fatalf("%d requests fell back during the reload", f)
	}
	for _, v := range []string{"tiny-a", "tiny-b"} {
		if _, ok := l.versions.Load(v); !ok {
			t.Errorf("no answer from %s", v)
		}
	}
	if v, _ := metricValue(t, h.reg, "sigmagate_predictor_model_info", map[string]string{"version": "tiny-b"}); v != 1 {
		t.Errorf("model_info{version=tiny-b} = %v", v)
	}
}

func TestCloseLeavesNoProcessBehind(t *testing.T) {
	h := start(t, Config{ModelDir: tinyModel(t, "tiny-a", 1)})
	pid := h.p.Health().PID
	if pid == 0 {
		t.Fatal("no pid")
	}
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	assertGroupGone(t, pid)
	if err := h.p.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	d, err := h.p.Decide(ctxT(t), []float32{0.5, 0.5, 0})
	// The heuristic would approve this; a closed gate approves nothing.
	if err != nil || d.Source != SourceReject || d.Approve || d.Reason != ReasonClosed || !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("after Close: %+v %v", d, err)
	}
	if h.p.Approve([]float32{0.9, 0.9, 0.1}, 0.65) {
		t.Fatal("Approve after Close approved")
	}
	if _, err := h.p.Predict([]float32{0.5, 0.5, 0}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Predict after Close: %v", err)
	}
	if hl := h.p.Health(); hl.State != StateClosed || hl.PID != 0 {
		t.Fatalf("health after Close: %+v", hl)
	}
}

func TestCloseKillsTheWholeProcessGroupEvenIfSIGTERMIsIgnored(t *testing.T) {
	// A stubborn "sidecar": it handshakes without a model, ignores SIGTERM
	// and SIGHUP, and has a child of its own. Close must SIGKILL the whole
	// group after the grace period.
	e := needSidecar(t)
	script := `
import signal, subprocess, sys, time, msgpack
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
subprocess.Popen(["sleep", "60"])
sys.stdout.buffer.write(msgpack.packb([2, "ready", [{"protocol": 2, "pid": 0, "model": None, "error": "stub"}]]))
sys.stdout.flush()
time.sleep(60)
`
	h := start(t, Config{Command: []string{e.python, "-c", script}, ModelDir: t.TempDir(), KillGrace: 100 * time.Millisecond})
	if s := h.p.Health().State; s != StateNoModel {
		t.Fatalf("state %s, want %s", s, StateNoModel)
	}
	pid := h.p.Health().PID
	t0 := time.Now()
	h.p.Close()
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("Close took %v with a 100ms grace", el)
	}
	assertGroupGone(t, pid)
	if !containsAll(h.log.String(), "sidecar ignored SIGTERM; sending SIGKILL") {
		t.Error("Close did not escalate to SIGKILL")
	}
}

func TestCallsWaitingAtCloseApproveNothing(t *testing.T) {
	// The heuristic approves this record: an answer from it would show.
	rec := []float32{0.9, 0.9, 0.1}
	for name, hedge := range map[string]time.Duration{"unhedged": -1, "hedged": 300 * time.Millisecond} {
		t.Run(name, func(t *testing.T) {
			h := start(t, Config{ModelDir: tinyModel(t, "tiny-a", 1), HedgeDelay: hedge, Timeout: 5 * time.Second,
				KillGrace: 200 * time.Millisecond, DisableReplica: true})
			stopAfterAModelAnswer(t, h, randomRecords(1, 4)[0])
			const n = 8
			got := make(chan Decision, n)
			for range n {
				go func() {
					d, _ := h.p.Decide(context.Background(), rec)
					got <- d
				}()
			}
			time.Sleep(100 * time.Millisecond) // all waiting on the stopped sidecar
			h.p.Close()
			for range n {
				if d := <-got; d.Approve || d.Source != SourceReject || d.Reason != ReasonClosed || !errors.Is(d.Err, ErrClosed) {
					t.Fatalf("a call waiting at Close: %+v", d)
				}
			}
		})
	}
}

func TestAModelLoadedRightBehindTheHandshakeIsWhatServes(t *testing.T) {
	// The sidecar reports model A at ready and model B in the same write
	// (a SIGHUP that arrived while it started): B serves, not A.
	e := needSidecar(t)
	script := `
import sys, time, msgpack
m = lambda v: {"version": v, "sha256": "", "features": ["tick_ratio", "depth_ratio", "price_dist"], "threshold": 0.5, "variant": "fp32", "path": "", "loaded_at": ""}
note = lambda method, v: msgpack.packb([2, method, [{"protocol": 2, "pid": 0, "model": m(v), "error": None}]])
sys.stdout.buffer.write(note("ready", "A") + note("model_loaded", "B"))
sys.stdout.flush()
time.sleep(60)
`
	for range 5 {
		h := start(t, Config{Command: []string{e.python, "-c", script}, ModelDir: t.TempDir(), DisableReplica: true, KillGrace: 50 * time.Millisecond})
		testutil.WaitFor(t, 5*time.Second, "model B served", func() bool { return h.p.ModelVersion() == "B" })
		h.p.Close()
	}
}

// escapedChildSidecar is a stub sidecar that starts a child in a session of
// its own (out of reach of the group's SIGKILL) which keeps the stub's stdout
// and stderr open, then handshakes (or, with exitAtOnce, exits first). The
// children's pids go to a file, and the test kills them at cleanup.
func escapedChildSidecar(t *testing.T, exitAtOnce bool) []string {
	t.Helper()
	e := needSidecar(t)
	pids := filepath.Join(t.TempDir(), "escaped.pids")
	t.Cleanup(func() {
		b, _ := os.ReadFile(pids)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	script := `
import subprocess, sys, time, msgpack
p = subprocess.Popen(["sleep", "60"], start_new_session=True)
with open(sys.argv[1], "a") as f:
    f.write(f"{p.pid}\n")
if sys.argv[2] == "exit":
    sys.exit(1)
sys.stdout.buffer.write(msgpack.packb([2, "ready", [{"protocol": 2, "pid": 0, "model": None, "error": "stub"}]]))
sys.stdout.flush()
time.sleep(60)
`
	mode := "serve"
	if exitAtOnce {
		mode = "exit"
	}
	return []string{e.python, "-c", script, pids, mode}
}

func TestCloseReturnsWhenAChildOutsideTheGroupHoldsThePipes(t *testing.T) {
	h := start(t, Config{Command: escapedChildSidecar(t, false), ModelDir: t.TempDir(), KillGrace: 100 * time.Millisecond})
	if s := h.p.Health().State; s != StateNoModel {
		t.Fatalf("state %s, want %s", s, StateNoModel)
	}
	closed := make(chan struct{})
	go func() { h.p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits 10s after the sidecar was killed: its escaped child holds the pipes")
	}
	if !containsAll(h.log.String(), "pipes still open after it exited") {
		t.Error("no warning about the pipes a process outside the group holds")
	}
}

func TestSidecarRestartsWhenAChildOutsideTheGroupHoldsThePipes(t *testing.T) {
	h := start(t, Config{Command: escapedChildSidecar(t, true), ModelDir: t.TempDir(), StartTimeout: time.Second})
	deadline := time.Now().Add(10 * time.Second)
	for h.p.Health().Restarts < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d restarts in 10s of a sidecar that exits at once: the supervisor waits on pipes its escaped child holds", h.p.Health().Restarts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopAfterAModelAnswer has the sidecar answer rec, then SIGSTOPs it and
// returns its pid: the hung sidecar the timeout and hedge tests start from.
func stopAfterAModelAnswer(t *testing.T, h *harness, rec []float32) int {
	t.Helper()
	if d, _ := h.p.Decide(ctxT(t), rec); d.Source != SourceModel {
		t.Fatalf("before SIGSTOP: %+v", d)
	}
	pid := h.p.Health().PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	return pid
}
