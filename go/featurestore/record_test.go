package featurestore

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestKeyRoundTripsSymbolAndNanoseconds(t *testing.T) {
	ts := time.Date(2026, 11, 24, 2, 0, 3, 123456789, time.UTC)
	for _, sym := range []string{"BTCUSDT", "ETH_USDT"} {
		k := FormatKey(sym, ts)
		s, got, err := ParseKey([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if s != sym || !got.Equal(ts) {
			t.Fatalf("ParseKey(%q) = %q %v, want %q %v", k, s, got, sym, ts)
		}
	}
	if k := FormatKey("BTCUSDT", ts); k != "BTCUSDT_1795485603123456789" {
		t.Fatalf("FormatKey = %q", k)
	}
}

func TestParseKeyRejectsMalformedKeys(t *testing.T) {
	for _, k := range []string{"", "BTCUSDT", "_123", "BTCUSDT_", "BTCUSDT_12x"} {
		if _, _, err := ParseKey([]byte(k)); err == nil {
			t.Errorf("ParseKey(%q) succeeded", k)
		}
	}
}

func TestRecordJSONUsesContractFieldNames(t *testing.T) {
	v := 0.5
	r := FeatureRecord{Symbol: "BTCUSDT", Timestamp: time.Unix(1700000000, 0).UTC(), StdDev: 1, VolumeSpike: &v}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"symbol", "timestamp", "tick_ratio", "depth_ratio", "price_dist", "price", "vwap", "std_dev", "bid_vol", "ask_vol", "volume_spike"} {
		if _, ok := m[f]; !ok {
			t.Errorf("field %q missing from %s", f, b)
		}
	}
	for _, f := range []string{"rolling_volatility", "bid_ask_spread"} {
		if _, ok := m[f]; ok {
			t.Errorf("absent optional field %q was written: %s", f, b)
		}
	}
	if m["timestamp"] != "2023-11-14T22:13:20Z" {
		t.Errorf("timestamp = %v, want RFC 3339", m["timestamp"])
	}
}

func TestValidateRejectsNaNInfAndNonPositiveStdPriceOrVWAP(t *testing.T) {
	good := FeatureRecord{Symbol: "X", Timestamp: time.Unix(1, 0), StdDev: 1, Price: 100, VWAP: 100}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	bad := []FeatureRecord{good, good, good, good, good, good, good}
	bad[0].TickRatio = math.NaN()
	bad[1].Price = math.Inf(1)
	bad[2].StdDev = 0
	bad[3].BidAskSpread = &nan
	bad[4].Symbol = ""
	bad[5].Price = 0
	bad[6].VWAP = -1
	for i, r := range bad {
		if err := r.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, r)
		}
	}
}

func TestWriterStoresRecordsUnderTheirKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "bot.db")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(0, 1700000000123456789).UTC()
	rec := FeatureRecord{Symbol: "BTCUSDT", Timestamp: ts, TickRatio: 0.25, StdDev: 2}
	if err := w.Put(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(Bucket)).Get([]byte("BTCUSDT_1700000000123456789"))
		if v == nil {
			t.Fatal("record not found under its key")
		}
		var got FeatureRecord
		if err := json.Unmarshal(v, &got); err != nil {
			return err
		}
		if got.TickRatio != 0.25 || !got.Timestamp.Equal(ts) {
			t.Fatalf("got %+v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
