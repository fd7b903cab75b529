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
