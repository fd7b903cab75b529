//go:build unix

// POSIX only: the bot is reloaded and killed with POSIX signals.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/featurestore"
	"github.com/sigmagate/sigmagate/go/internal/testutil"
	"github.com/sigmagate/sigmagate/go/predictor"
)

// TestMain runs the command itself when a test re-executes this binary with
// SIMBOT_RUN_MAIN=1, so that tests see its exit status and stderr.
func TestMain(m *testing.M) {
	if os.Getenv("SIMBOT_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A -db that names no bbolt database exits 2 naming the path, as export
// does, and leaves no file behind: bbolt's read-only open would create a
// missing one and fail on an empty one with "bad file descriptor".
func TestBadDatabaseExitsTwoNamingThePath(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.db")
	empty := filepath.Join(dir, "zero.db")
	junk := filepath.Join(dir, "notes.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{missing, "database " + missing + ": stat " + missing + ": no such file or directory; check the -db path"},
		{empty, "database " + empty + " is empty (0 bytes), not a bbolt database; check the -db path"},
		{junk, "database " + junk + " is not a bbolt database (bbolt: invalid database); check the -db path"},
		{dir, "database " + dir + " is a directory; -db takes the bbolt file"},
	} {
		cmd := exec.Command(os.Args[0], "-db", tc.path, "-duration", "1ms")
		cmd.Env = append(os.Environ(), "SIMBOT_RUN_MAIN=1")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "simbot: "+tc.want+"\n") {
			t.Errorf("-db %s: %v, output %q; want exit 2 and %q", filepath.Base(tc.path), err, out, tc.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("simbot created the missing -db file")
	}
	if st, err := os.Stat(empty); err != nil || st.Size() != 0 {
		t.Errorf("the empty -db file was changed: %v %v", st, err)
	}
}

func TestPercentilesAndApprovalRateFromDecisions(t *testing.T) {
	d := make([]time.Duration, 1000)
	for i := range d {
		d[len(d)-1-i] = time.Duration(i+1) * time.Microsecond
	}
	p := percentiles(d)
	if p["p50"] != 500 || p["p99"] != 990 || p["max"] != 1000 {
		t.Errorf("percentiles %v, want p50 500, p99 990, max 1000", p)
	}
	if r := ratio(1, 4); r != 0.25 {
		t.Errorf("ratio(1, 4) = %v", r)
	}
	if r := ratio(1, 0); r != 0 {
		t.Errorf("ratio(1, 0) = %v, want 0 with no decisions", r)
	}
}

// sidecar returns the repo root and Python, or skips when they are absent
// (they are always present under `make test`, which sets SIGMAGATE_PYTHON).
func sidecar(t *testing.T) (root, python string) {
	root = os.Getenv("SIGMAGATE_ROOT")
	if root == "" {
		wd, _ := os.Getwd()
		root = filepath.Clean(filepath.Join(wd, "..", "..", ".."))
	}
	python = os.Getenv("SIGMAGATE_PYTHON")
	if python == "" {
		python = filepath.Join(root, ".venv", "bin", "python")
	}
	if _, err := os.Stat(python); err != nil {
		if os.Getenv("SIGMAGATE_PYTHON") != "" {
			t.Fatalf("SIGMAGATE_PYTHON=%s is unusable: %v", python, err)
		}
		testutil.SkipOrFail(t, "needs the Python sidecar: %v", err)
	}
	return root, python
}

func TestKeepsDecidingThroughReloadAndSidecarKill(t *testing.T) {
	root, python := sidecar(t)
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	for i, v := range []string{"sim-a", "sim-b"} {
		args := []string{filepath.Join(root, "tests", "fixtures", "tiny_model.py"), "--out", models, "--version", v, "--seed", strconv.Itoa(i)}
		if i == 0 {
			args = append(args, "--link-current")
		}
		cmd := exec.Command(python, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tiny_model %s: %v\n%s", v, err, out)
		}
	}
	db := filepath.Join(dir, "f.db")
	w, err := featurestore.Create(db)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 200; i++ {
		x := float64(i%20)/10 - 1
		r := featurestore.FeatureRecord{Symbol: "S", Timestamp: t0.Add(time.Duration(i) * time.Second),
			TickRatio: x, DepthRatio: -x / 2, PriceDist: 2 * x, Price: 100 + 2*x, VWAP: 100, StdDev: 1}
		if err := w.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	t.Setenv("SIGMAGATE_ROOT", root)
	t.Setenv("SIGMAGATE_PYTHON", python)
	status := filepath.Join(dir, "status.json")
	// The pidfile and status file relative to this directory, as a user would
	// give them; the sidecar runs in the checkout.
	t.Chdir(dir)
	o := options{db: db, model: filepath.Join(models, "current"), pidfile: "infer.pid",
		statusFile: "status.json", workers: 4, rate: 400, duration: 20 * time.Second, timeout: time.Second,
		metricsFile: filepath.Join(dir, "metrics.prom")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		s   Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := run(ctx, o)
		done <- result{s, err}
	}()

	read := func() (version string, pid int) {
		var st struct {
			Version string `json:"version"`
			PID     int    `json:"pid"`
		}
		if b, err := os.ReadFile(status); err == nil && json.Unmarshal(b, &st) == nil {
			return st.Version, st.PID
		}
		return "", 0
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	waitFor("sim-a", func() bool { v, _ := read(); return v == "sim-a" })
	time.Sleep(time.Second)
	// Deploy B as deploy_model.sh does: switch the symlink by rename, then SIGHUP.
	tmp := filepath.Join(models, ".current.tmp")
	if err := os.Symlink("sim-b", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(models, "current")); err != nil {
		t.Fatal(err)
	}
	_, pid := read()
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("sim-b", func() bool { v, _ := read(); return v == "sim-b" })
	time.Sleep(time.Second)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor("a restarted sidecar", func() bool { v, p := read(); return p != pid && p != 0 && v == "sim-b" })
	time.Sleep(time.Second)
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	s := r.s
	if s.Versions["sim-a"] == nil || s.Versions["sim-b"] == nil {
		t.Errorf("versions seen %v, want sim-a and sim-b", keys(s.Versions))
	}
	if s.Restarts < 1 || s.Fallbacks["child_down"] == 0 {
		t.Errorf("restarts %d, fallbacks %v: the kill should show as child_down fallbacks and a restart", s.Restarts, s.Fallbacks)
	}
	if s.FinalVersion != "sim-b" || s.InvalidInput != 0 {
		t.Errorf("final version %q, invalid input %d", s.FinalVersion, s.InvalidInput)
	}
	if s.Decisions != s.ModelDecisions+s.FallbackDecisions || s.ModelDecisions == 0 {
		t.Errorf("decisions %d = model %d + fallback %d?", s.Decisions, s.ModelDecisions, s.FallbackDecisions)
	}
	prom, err := os.ReadFile(o.metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sources[predictor.SourceModel]+s.Sources[predictor.SourceReplica]+s.Sources[predictor.SourceHeuristic] != s.Decisions {
		t.Errorf("sources %v do not add up to %d decisions", s.Sources, s.Decisions)
	}
	// The kill is answered by the verified replica (or, were it not verified
	// yet, by the heuristic): either way counted by reason child_down.
	if !strings.Contains(string(prom), `sigmagate_predictor_replica_answers_total{reason="child_down"}`) &&
		!strings.Contains(string(prom), `sigmagate_predictor_fallbacks_total{reason="child_down"}`) {
		t.Errorf("metrics file counts no child_down answers")
	}
	for _, want := range []string{`sigmagate_predictor_model_info{variant="fp32",version="sim-b"} 1`} {
		if !strings.Contains(string(prom), want) {
			t.Errorf("metrics file lacks %s", want)
		}
	}
	if _, err := os.Stat(o.pidfile); err == nil {
		if b, _ := os.ReadFile(o.pidfile); strings.TrimSpace(string(b)) != "" {
			p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if p > 0 && syscall.Kill(p, 0) == nil {
				t.Errorf("sidecar pid %d still alive after simbot stopped", p)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
