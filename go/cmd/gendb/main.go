// Command gendb simulates the trading bot's feature recording: it writes a
// bbolt file in the bot's layout (package featurestore) with irregular ticks
// for several symbols, prices that mean-revert around a drifting VWAP, and —
// with -signal planted — a known relation between order-flow imbalance and the
// speed of reversion, so that a model trained on it has something real to
// find. With -signal none the features carry no information about the future
// price path (the leakage check). With -regime-change FRAC, from that fraction
// of the span on the recorded order flow is an independent copy of the same
// process: the features keep their distributions, the prices their path, and
// only the link between them is gone (what the outcome monitor must catch and
// the drift monitor cannot).
//
//	gendb -db build/demo/features.db -hours 12 -symbols BTCUSDT,ETHUSDT,SOLUSDT
package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/sigmagate/sigmagate/go/featurestore"
)

type options struct {
	db      string
	symbols []string
	hours   float64
	meanGap float64
	end     time.Time
	seed    uint64
	planted bool
	regime  float64 // fraction of the span from which the recorded flow is decoupled; <0: never
	corrupt int
	batch   int
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendb:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "gendb:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("gendb", flag.ContinueOnError)
	var o options
	var symbols, end, signal string
	var ago time.Duration
	fs.StringVar(&o.db, "db", "", "bbolt file to write (created; records are added to an existing file)")
	fs.StringVar(&symbols, "symbols", "BTCUSDT,ETHUSDT,SOLUSDT", "comma-separated symbols")
	fs.Float64Var(&o.hours, "hours", 12, "simulated time span per symbol, in hours")
	fs.Float64Var(&o.meanGap, "mean-gap", 2, "mean seconds between recorded ticks (exponential gaps)")
	fs.StringVar(&end, "end", "", "RFC 3339 end of the span (default: now minus -ago)")
	fs.DurationVar(&ago, "ago", 0, "end the span this long before now (ignored with -end)")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed; the same seed and -end give the same file")
	fs.StringVar(&signal, "signal", "planted", "planted: flow imbalance speeds up reversion; none: no relation")
	fs.Float64Var(&o.regime, "regime-change", -1, "from this fraction of the span (0..1) on, record an independent copy of the order flow (the features→outcome link breaks, no feature's distribution changes); negative: never")
	fs.IntVar(&o.corrupt, "corrupt", 0, "also write this many undecodable records, as a buggy bot might")
	fs.IntVar(&o.batch, "batch", 1000, "records per write transaction")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.db == "" {
		return o, errors.New("-db is required")
	}
	for _, s := range strings.Split(symbols, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.symbols = append(o.symbols, s)
		}
	}
	if len(o.symbols) == 0 {
		return o, errors.New("-symbols is empty")
	}
	if o.hours <= 0 || o.meanGap <= 0 || o.batch <= 0 {
		return o, errors.New("-hours, -mean-gap and -batch must be positive")
	}
	if o.regime > 1 {
		return o, fmt.Errorf("-regime-change must be at most 1, got %g", o.regime)
	}
	switch signal {
	case "planted":
		o.planted = true
	case "none":
	default:
		return o, fmt.Errorf("-signal must be planted or none, got %q", signal)
	}
	o.end = time.Now().UTC().Add(-ago)
	if end != "" {
		t, err := time.Parse(time.RFC3339, end)
		if err != nil {
			return o, fmt.Errorf("-end: %w", err)
		}
		o.end = t.UTC()
	}
	return o, nil
}

func run(o options) error {
	w, err := featurestore.Create(o.db)
	if err != nil {
		return err
	}
	defer w.Close()
	span := time.Duration(o.hours * float64(time.Hour))
	start := o.end.Add(-span)
	total := 0
	for i, sym := range o.symbols {
		rng := rand.New(rand.NewPCG(o.seed, uint64(i)+1))
		m := newMarket(sym, basePrice(i), o.planted, rng)
		if o.regime >= 0 {
			// The decoy's own stream: the market's draws, hence its price path, stay those
			// of the same seed without the change.
			m.decoy = rand.New(rand.NewPCG(o.seed, uint64(i)+1<<32))
			m.decoupleFrom = start.Add(time.Duration(o.regime * float64(span)))
		}
		n, err := m.record(w, start, o.end, o.meanGap, o.batch)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "gendb: %s: %d records\n", sym, n)
		total += n
	}
	for i := 0; i < o.corrupt; i++ {
		key := featurestore.FormatKey(o.symbols[0], start.Add(time.Duration(i)*time.Millisecond+time.Nanosecond))
		if err := w.PutRaw([]byte(key), []byte(`{"symbol":"`+o.symbols[0]+`","tick_ratio":`)); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "gendb: wrote %d records (+%d corrupt) for %d symbols, %s .. %s, to %s\n",
		total, o.corrupt, len(o.symbols), start.Format(time.RFC3339), o.end.Format(time.RFC3339), o.db)
	return nil
}

func basePrice(i int) float64 {
	prices := []float64{64000, 3200, 150, 580, 95} // σ stays above train's default --min-std 0.1
	return prices[i%len(prices)] * (1 + 0.1*float64(i/len(prices)))
}

// market is one symbol's state. The price is VWAP + z·σ: z, the distance in
// standard deviations, follows an Ornstein-Uhlenbeck process. Order flow is a
// latent AR(1) variable; tick_ratio and depth_ratio are noisy views of it.
// With the planted signal, order flow pushes the price its way, and flow that
// pushes against the stretch (sellers while the price is above VWAP) also
// multiplies the reversion speed.
type market struct {
	symbol  string
	rng     *rand.Rand
	planted bool
	vwap    float64
	sigma   float64 // current standard deviation of price around VWAP
	logVol  float64 // log of the volatility regime multiplier
	baseSig float64
	z       float64
	flow    float64
	// -regime-change: decoyFlow follows the same law as flow from its own stream and
	// replaces it in the recorded features from decoupleFrom on.
	decoy        *rand.Rand
	decoyFlow    float64
	decoupleFrom time.Time
}

const (
	theta0   = 1.0 / 300 // baseline reversion speed, per second
	thetaMax = 1.0 / 15  // added speed when flow fully opposes the stretch
	zNoise   = 0.12      // z diffusion per √second
	push     = 0.03      // planted: σ per second that full order flow pushes the price its way
	flowTau  = 30.0      // seconds for order flow to forget
)

func newMarket(symbol string, price float64, planted bool, rng *rand.Rand) *market {
	return &market{symbol: symbol, rng: rng, planted: planted, vwap: price, baseSig: price * 0.0015, sigma: price * 0.0015}
}

func (m *market) step(dt float64) {
	r := m.rng
	// Order flow: AR(1) with exact discretisation.
	a := math.Exp(-dt / flowTau)
	m.flow = m.flow*a + math.Sqrt(1-a*a)*0.9*r.NormFloat64()
	if m.decoy != nil {
		m.decoyFlow = m.decoyFlow*a + math.Sqrt(1-a*a)*0.9*m.decoy.NormFloat64()
	}
	theta, drift := theta0, 0.0
	if m.planted && m.z != 0 {
		against := -math.Copysign(1, m.z) * math.Tanh(m.flow)
		theta += thetaMax * math.Max(0, against)
		drift = push * math.Tanh(m.flow) / theta // OU with a constant pull: mean drift/θ·(1−e)
	}
	e := math.Exp(-theta * dt)
	m.z = m.z*e + drift*(1-e) + zNoise*math.Sqrt((1-e*e)/(2*theta))*r.NormFloat64()
	// Slow volatility regime and a VWAP that drifts much less than price moves.
	m.logVol = m.logVol*math.Exp(-dt/3600) + 0.01*math.Sqrt(dt)*r.NormFloat64()
	m.sigma = m.baseSig * math.Exp(m.logVol)
	m.vwap += 0.002 * m.sigma * math.Sqrt(dt) * r.NormFloat64()
}

func (m *market) observe(t time.Time) featurestore.FeatureRecord {
	r := m.rng
	price := m.vwap + m.z*m.sigma
	f := math.Tanh(m.flow)
	if m.decoy != nil && !t.Before(m.decoupleFrom) {
		f = math.Tanh(m.decoyFlow)
	}
	tick := clamp(f+0.25*r.NormFloat64(), -1, 1)
	depth := clamp(0.7*f+0.35*r.NormFloat64(), -1, 1)
	total := m.vwap * 0.05 * math.Exp(0.5*r.NormFloat64())
	vol := m.sigma / m.vwap
	spread := m.vwap * 0.0001 * (1 + math.Abs(r.NormFloat64()))
	spike := math.Exp(0.4 * r.NormFloat64())
	return featurestore.FeatureRecord{
		Symbol: m.symbol, Timestamp: t,
		TickRatio: round(tick, 4), DepthRatio: round(depth, 4),
		PriceDist: (price - m.vwap) / m.sigma,
		Price:     price, VWAP: m.vwap, StdDev: m.sigma,
		BidVol: total * (1 + depth) / 2, AskVol: total * (1 - depth) / 2,
		RollingVolatility: &vol, BidAskSpread: &spread, VolumeSpike: &spike,
		Simulated: true, // made-up market: models trained on it must say so
	}
}

// record walks from start to end with exponential gaps (bursts and lulls, as
// real ticks come) and writes what the bot would have recorded.
func (m *market) record(w *featurestore.Writer, start, end time.Time, meanGap float64, batch int) (int, error) {
	t := start
	buf := make([]featurestore.FeatureRecord, 0, batch)
	n := 0
	for {
		gap := m.rng.ExpFloat64() * meanGap
		// Nanosecond jitter keeps keys unique without a second clock.
		t = t.Add(time.Duration(gap*float64(time.Second)) + time.Duration(1+m.rng.IntN(1000)))
		if !t.Before(end) {
			break
		}
		m.step(gap)
		buf = append(buf, m.observe(t))
		if len(buf) == batch {
			if err := w.Put(buf...); err != nil {
				return n, err
			}
			n += len(buf)
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if err := w.Put(buf...); err != nil {
			return n, err
		}
		n += len(buf)
	}
	return n, nil
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
