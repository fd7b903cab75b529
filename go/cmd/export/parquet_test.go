package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

func readParquet(t *testing.T, path string) (*parquet.File, []parquetRow) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("%s is not a Parquet file: %v", path, err)
	}
	r := parquet.NewGenericReader[parquetRow](bytes.NewReader(raw))
	defer r.Close()
	rows := make([]parquetRow, r.NumRows())
	if n, err := r.Read(rows); n != len(rows) {
		t.Fatalf("read %d of %d rows: %v", n, len(rows), err)
	}
	return f, rows
}

func TestParquetExportHoldsTheSameRecordsAsJSONLines(t *testing.T) {
	db := botDB(t)
	dir := t.TempDir()
	pq := filepath.Join(dir, "features.parquet")
	// The suffix chooses the format; 10 rows per group forces several groups.
	code, _, errOut := runExport(t, "-db", db, "-output", pq, "-row-group-rows", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"wrote 48 records (parquet)", "undecodable 2", "NaN/Inf 1", "non-positive std_dev 2", "bad key 1"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	f, rows := readParquet(t, pq)
	if g := len(f.RowGroups()); g != 5 {
		t.Errorf("%d row groups, want 5 (48 rows, 10 per group)", g)
	}
	_, out, _ := runExport(t, "-db", db)
	want := decodeLines(t, out)
	if len(rows) != len(want) {
		t.Fatalf("parquet has %d rows, JSON Lines %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.Symbol != w.Symbol || r.Timestamp != w.Timestamp.UnixNano() || r.TickRatio != w.TickRatio ||
			r.DepthRatio != w.DepthRatio || r.Price != w.Price || r.StdDev != w.StdDev || r.AskVol != w.AskVol {
			t.Fatalf("row %d: parquet %+v, JSON %+v", i, r, w)
		}
		if r.RollingVolatility != nil {
			t.Fatalf("row %d: absent rolling_volatility read back as %v", i, *r.RollingVolatility)
		}
	}
	if rows[0].Timestamp != t0.UnixNano() {
		t.Fatalf("first timestamp %d, want %d (nanoseconds kept)", rows[0].Timestamp, t0.UnixNano())
	}
}

func TestParquetColumnsHaveTypedSchema(t *testing.T) {
	db := botDB(t)
	pq := filepath.Join(t.TempDir(), "f.pq")
	if code, _, errOut := runExport(t, "-db", db, "-output", pq, "-format", "parquet"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f, _ := readParquet(t, pq)
	s := f.Schema()
	check := func(col, want string) {
		t.Helper()
		field, ok := s.Lookup(col)
		if !ok {
			t.Fatalf("no column %q in %v", col, s)
		}
		if got := field.Node.Type().String(); !strings.Contains(got, want) {
			t.Errorf("column %s has type %s, want %s", col, got, want)
		}
	}
	check("symbol", "STRING")
	check("timestamp", "TIMESTAMP(isAdjustedToUTC=true,unit=NANOS)")
	check("price", "DOUBLE")
	if field, _ := s.Lookup("volume_spike"); !field.Node.Optional() {
		t.Errorf("volume_spike is required; absent values must stay null")
	}
}

func TestParquetKeepsOptionalFeaturesAndFiltersLikeJSONLines(t *testing.T) {
	path, w := newBotDB(t)
	vol := 0.25
	a := rec("BTCUSDT", 0, 1)
	a.RollingVolatility = &vol
	if err := w.Put(a, rec("BTCUSDT", 1, 1), rec("ETHUSDT", 0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(t.TempDir(), "btc.parquet")
	if code, _, errOut := runExport(t, "-db", path, "-output", pq, "-symbol", "BTCUSDT",
		"-until", t0.Add(30*time.Minute).Format(time.RFC3339Nano)); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, rows := readParquet(t, pq)
	if len(rows) != 1 || rows[0].Symbol != "BTCUSDT" {
		t.Fatalf("filtered rows %+v, want the first BTCUSDT record only", rows)
	}
	if rows[0].RollingVolatility == nil || *rows[0].RollingVolatility != 0.25 {
		t.Fatalf("rolling_volatility = %v, want 0.25", rows[0].RollingVolatility)
	}
}

func TestParquetExportRejectsAnUnknownFormat(t *testing.T) {
	db := botDB(t)
	code, _, errOut := runExport(t, "-db", db, "-format", "csv")
	if code != 2 || !strings.Contains(errOut, "use jsonl or parquet") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// A simulator's marker survives the export in both formats (train reads it to
// record the data's provenance); a real record stays unmarked.
func TestSimulatedMarkerTravelsThroughBothFormats(t *testing.T) {
	path, w := newBotDB(t)
	sim := rec("BTCUSDT", 1, 1)
	sim.Simulated = true
	if err := w.Put(rec("BTCUSDT", 0, 1), sim); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runExport(t, "-db", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Contains(lines[0], "simulated") || !strings.Contains(lines[1], `"simulated":true`) {
		t.Fatalf("JSON Lines %q: want only the second record marked simulated", lines)
	}
	pq := filepath.Join(t.TempDir(), "f.parquet")
	if code, _, errOut := runExport(t, "-db", path, "-output", pq, "-format", "parquet"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, rows := readParquet(t, pq)
	if len(rows) != 2 || rows[0].Simulated || !rows[1].Simulated {
		t.Fatalf("parquet rows %+v: want only the second marked simulated", rows)
	}
}
