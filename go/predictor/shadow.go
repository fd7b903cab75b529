package predictor

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ShadowConfig tunes shadow scoring: a candidate model (deployed with
// `scripts/deploy_model.sh --shadow`) runs in a second sidecar and scores
// every model decision's features after the live answer is returned, so the
// deploy script can promote it on live evidence. The zero value is the
// documented defaults.
type ShadowConfig struct {
	// Disable turns shadow scoring off even when a shadow model exists.
	Disable bool
	// QueueSize bounds the decisions waiting for the shadow. Default 4096; a
	// full queue drops the decision from the comparison (counted), never
	// delays the live one.
	QueueSize int
	// Every is how often the queued decisions are sent to the shadow, all
	// at once so that its sidecar scores them as one batch. Default 20ms: the
	// shadow wakes 50 times a second whatever the decision rate, which keeps
	// its CPU, and so its effect on the live sidecar, small.
	Every time.Duration
	// ReportEvery is how often shadow-report.json is rewritten. Default 10s.
	ReportEvery time.Duration
	// Poll is how often the shadow path is checked for a new, changed or
	// removed shadow model. Default 2s.
	Poll time.Duration
}

func (c ShadowConfig) withDefaults() ShadowConfig {
	if c.QueueSize <= 0 {
		c.QueueSize = 4096
	}
	if c.Every <= 0 {
		c.Every = 20 * time.Millisecond
	}
	if c.ReportEvery <= 0 {
		c.ReportEvery = 10 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	return c
}

// ShadowReportFile is the report's name, written next to the shadow model's
// path (models/shadow-report.json beside the models/shadow symlink).
const ShadowReportFile = "shadow-report.json"

// shadowWatcher follows the shadow path and runs one shadowRun per shadow
// model found there.
type shadowWatcher struct {
	p      *Predictor
	cfg    ShadowConfig
	link   string // the shadow path checked every Poll
	report string
	m      *shadowMetrics
	cur    atomic.Pointer[shadowRun]
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newShadowWatcher(p *Predictor) *shadowWatcher {
	link := p.cfg.ShadowModelDir
	if link == "" && p.cfg.ModelDir != "" {
		link = filepath.Join(filepath.Dir(p.cfg.ModelDir), "shadow")
	}
	if p.cfg.Shadow.Disable || link == "" {
		return nil
	}
	if abs, err := filepath.Abs(link); err == nil {
		link = abs
	}
	return &shadowWatcher{p: p, cfg: p.cfg.Shadow.withDefaults(), link: link,
		report: filepath.Join(filepath.Dir(link), ShadowReportFile), m: newShadowMetrics(),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// offer queues a live model decision for the shadow: a non-blocking send,
// nothing when no shadow runs. Unless owned, features are copied first: the
// shadow reads them later, on its own goroutine.
func (w *shadowWatcher) offer(features []float32, owned bool, names []string, d *Decision) {
	if w == nil {
		return
	}
	r := w.cur.Load()
	if r == nil {
		return
	}
	if !owned {
		features = slices.Clone(features)
	}
	select {
	case r.queue <- shadowJob{f: features, names: names, p: d.Probability, threshold: d.Threshold, approve: d.Approve, version: d.ModelVersion}:
	default:
		r.dropped.Add(1)
		w.m.dropped.Inc()
	}
}

func (w *shadowWatcher) start() {
	if w != nil {
		go w.run()
	}
}

func (w *shadowWatcher) close() {
	if w == nil {
		return
	}
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

func (w *shadowWatcher) snapshot() ShadowStatus {
	if w == nil {
		return ShadowStatus{}
	}
	if r := w.cur.Load(); r != nil {
		return r.status()
	}
	return ShadowStatus{ReportFile: w.report}
}

func (w *shadowWatcher) run() {
	defer close(w.done)
	target := ""
	poll := time.NewTicker(w.cfg.Poll)
	defer poll.Stop()
	rep := time.NewTicker(w.cfg.ReportEvery)
	defer rep.Stop()
	check := func() {
		t, err := filepath.EvalSymlinks(w.link)
		if err != nil {
			t = "" // no shadow (or a dangling link): nothing to score
		}
		if t == target {
			return
		}
		if old := w.cur.Swap(nil); old != nil {
			old.stop()
			w.p.log.Info("shadow model stopped", "path", old.target, "decisions", old.status().Decisions)
		}
		target = t
		w.m.active.Set(0)
		if t == "" {
			return
		}
		r := w.startRun(t)
		if r == nil {
			return // Close came first
		}
		r.renice()
		w.cur.Store(r)
		w.m.active.Set(1)
	}
	check()
	for {
		select {
		case <-w.stop:
			if old := w.cur.Swap(nil); old != nil {
				old.stop()
			}
			return
		case <-poll.C:
			check()
			if r := w.cur.Load(); r != nil {
				r.renice()
			}
		case <-rep.C:
			if r := w.cur.Load(); r != nil {
				r.writeReport(false)
			}
		}
	}
}

// startRun starts a second predictor (sidecar) on the shadow model. It
// shares the live predictor's settings but owns no pidfile or status file
// (those name the live sidecar, which the deploy script signals), no
// metrics registry, no drift monitor and no shadow of its own.
func (w *shadowWatcher) startRun(target string) *shadowRun {
	cfg := w.p.cfg
	cfg.ModelDir, cfg.ShadowModelDir = target, ""
	cfg.PIDFile, cfg.StatusFile = "", ""
	cfg.Shadow.Disable, cfg.Drift.Window, cfg.Registerer = true, -1, nil
	// The candidate is judged on its sidecar's answers (score counts only
	// those): in replica mode its own replica would answer instead.
	cfg.Mode = ModeSidecar
	// No spinning on either side of the shadow's pipe: a spin buys latency the
	// shadow does not need with CPU the live sidecar does.
	cfg.Args = append(stripArgs(cfg.Args, "--pidfile", "--status-file", "--spin-us"), "--spin-us", "0")
	cfg.ReadSpin = -1
	cfg.Logger = w.p.cfg.Logger.With("role", "shadow")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // New waits for the shadow's ready; Close must not wait that long
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	pred, err := New(ctx, cfg)
	if err != nil {
		cancel()
		w.p.log.Warn("cannot start the shadow model; live decisions are unaffected", "path", target, "err", err)
		return nil
	}
	r := &shadowRun{w: w, target: target, pred: pred, ctx: ctx, cancel: cancel,
		queue: make(chan shadowJob, w.cfg.QueueSize), quit: make(chan struct{})}
	r.started = time.Now()
	r.wg.Add(1)
	go r.dispatch()
	w.p.log.Info("shadow model scoring live decisions", "path", target, "version", pred.ModelVersion(), "report", w.report)
	select {
	case <-w.stop:
		r.stop()
		return nil
	default:
		return r
	}
}

// shadowNice is the shadow sidecar's scheduling niceness: when the host is
// short of CPU, the live sidecar runs first.
const shadowNice = 10

// renice lowers the shadow sidecar's priority (its whole process group),
// once per process: a restarted shadow sidecar is reniced at the next poll.
func (r *shadowRun) renice() {
	pid := r.pred.Health().PID
	if pid <= 0 || pid == r.nicedPID {
		return
	}
	r.nicedPID = pid
	if err := lowerGroupPriority(pid, shadowNice); err != nil {
		r.w.p.log.Info("cannot lower the shadow sidecar's priority", "pid", pid, "err", err)
	}
}

// stripArgs removes flags (with their values) from a sidecar argv.
func stripArgs(args []string, flags ...string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a, skip := args[i], false
		for _, f := range flags {
			if a == f {
				skip = true
				i++ // and its value
			} else if strings.HasPrefix(a, f+"=") {
				skip = true
			}
		}
		if !skip {
			out = append(out, a)
		}
	}
	return out
}
