package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sigmagate/sigmagate/go/featurestore"
)

func TestWritesBotLayoutWithValidRecordsPerSymbol(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	end := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	o, err := parseFlags([]string{"-db", path, "-hours", "0.5", "-symbols", "AAA,BBB", "-end", end.Format(time.RFC3339), "-corrupt", "2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counts := map[string]int{}
	bad := 0
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(featurestore.Bucket))
		if b == nil {
			t.Fatalf("bucket %q missing", featurestore.Bucket)
		}
		return b.ForEach(func(k, v []byte) error {
			sym, ts, err := featurestore.ParseKey(k)
			if err != nil {
				t.Fatalf("key %q: %v", k, err)
			}
			var r featurestore.FeatureRecord
			if json.Unmarshal(v, &r) != nil {
				bad++
				return nil
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("record %s invalid: %v", k, err)
			}
			if !r.Simulated {
				t.Fatalf("record %s: not marked simulated; a model trained on it could pass for real", k)
			}
			if r.Symbol != sym || !r.Timestamp.Equal(ts) {
				t.Fatalf("record %s: symbol/time %s %v disagree with its key", k, r.Symbol, r.Timestamp)
			}
			if ts.After(end) || ts.Before(end.Add(-30*time.Minute)) {
				t.Fatalf("record %s at %v outside the span", k, ts)
			}
			if d := (r.Price - r.VWAP) / r.StdDev; math.Abs(d-r.PriceDist) > 1e-9 {
				t.Fatalf("record %s: price_dist %v != (price-vwap)/std %v", k, r.PriceDist, d)
			}
			counts[sym]++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if bad != 2 {
		t.Errorf("corrupt records: got %d, want 2", bad)
	}
	// 1800 s at a mean gap of 2 s: about 900 per symbol.
	for _, s := range []string{"AAA", "BBB"} {
		if counts[s] < 700 || counts[s] > 1100 {
			t.Errorf("%s: %d records, want about 900", s, counts[s])
		}
	}
}

// The planted signal: when flow opposes the stretch, |z| shrinks faster.
func TestPlantedSignalSpeedsReversionOnlyWhenPlanted(t *testing.T) {
	measure := func(planted bool) float64 {
		m := newMarket("X", 100, planted, newRand(7))
		var with, without, nWith, nWithout float64
		for i := 0; i < 60000; i++ {
			m.step(1)
			z0, against := m.z, -math.Copysign(1, m.z)*math.Tanh(m.flow)
			if math.Abs(z0) < 1 {
				continue
			}
			// Reversion over the next 30 s, in σ.
			saved := *m
			for j := 0; j < 30; j++ {
				m.step(1)
			}
			rev := math.Abs(z0) - math.Copysign(1, z0)*m.z
			*m = saved
			if against > 0.5 {
				with += rev
				nWith++
			} else if against < 0 {
				without += rev
				nWithout++
			}
		}
		return with/nWith - without/nWithout
	}
	dp, dn := measure(true), measure(false)
	t.Logf("extra reversion with opposing flow: planted %.3fσ, none %.3fσ", dp, dn)
	if d := dp; d < 0.3 {
		t.Errorf("planted: opposing flow adds %.3fσ of reversion, want >= 0.3", d)
	}
	if d := dn; math.Abs(d) > 0.1 {
		t.Errorf("none: opposing flow adds %.3fσ of reversion, want about 0", d)
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// -regime-change: the same seed gives the same prices, the same recorded flow
// before the cut, and after it a flow of the same spread that is unrelated to
// the one the price follows.
func TestRegimeChangeReplacesOnlyTheRecordedFlow(t *testing.T) {
	end := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	read := func(extra ...string) []featurestore.FeatureRecord {
		path := filepath.Join(t.TempDir(), "f.db")
		args := append([]string{"-db", path, "-hours", "4", "-symbols", "AAA", "-end", end.Format(time.RFC3339)}, extra...)
		o, err := parseFlags(args)
		if err != nil {
			t.Fatal(err)
		}
		if err := run(o); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var recs []featurestore.FeatureRecord
		err = db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(featurestore.Bucket)).ForEach(func(_, v []byte) error {
				var r featurestore.FeatureRecord
				if err := json.Unmarshal(v, &r); err != nil {
					return err
				}
				recs = append(recs, r)
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	base, changed := read(), read("-regime-change", "0.5")
	if len(base) != len(changed) {
		t.Fatalf("%d records with the change, %d without", len(changed), len(base))
	}
	cut := end.Add(-2 * time.Hour)
	// The observation noise is the same draw in both files, so the flow is compared
	// through depth_ratio, another noisy view of it.
	var x, y, d []float64
	for i, b := range base {
		c := changed[i]
		if !b.Timestamp.Equal(c.Timestamp) || b.Price != c.Price || b.PriceDist != c.PriceDist {
			t.Fatalf("record %d: the price path changed (%v %v vs %v %v)", i, c.Timestamp, c.Price, b.Timestamp, b.Price)
		}
		if b.Timestamp.Before(cut) {
			if b.TickRatio != c.TickRatio || b.DepthRatio != c.DepthRatio {
				t.Fatalf("record %d at %v, before the cut: flow %v/%v, want %v/%v", i, b.Timestamp, c.TickRatio, c.DepthRatio, b.TickRatio, b.DepthRatio)
			}
			continue
		}
		x, y, d = append(x, b.TickRatio), append(y, c.TickRatio), append(d, b.DepthRatio)
	}
	if len(x) < 3000 {
		t.Fatalf("%d records after the cut, want about 3600", len(x))
	}
	same, after := corr(x, d), corr(y, d)
	t.Logf("after the cut: tick_ratio vs the real flow's depth_ratio: correlation %.3f (%.3f without the change); tick_ratio spread %.3f vs %.3f", after, same, std(y), std(x))
	if same < 0.5 || math.Abs(after) > 0.2 {
		t.Errorf("after the cut, tick_ratio correlates %.3f with the real flow's depth_ratio (%.3f without the change), want about 0", after, same)
	}
	if sx, sy := std(x), std(y); math.Abs(sx-sy) > 0.15*sx {
		t.Errorf("tick_ratio spread %.3f after the change, %.3f without: the marginal changed", sy, sx)
	}
	if _, err := parseFlags([]string{"-db", "x", "-regime-change", "1.5"}); err == nil {
		t.Error("-regime-change 1.5 accepted")
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func std(v []float64) float64 {
	m, s := mean(v), 0.0
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(v)))
}

func corr(x, y []float64) float64 {
	mx, my, s := mean(x), mean(y), 0.0
	for i := range x {
		s += (x[i] - mx) * (y[i] - my)
	}
	return s / float64(len(x)) / (std(x) * std(y))
}
