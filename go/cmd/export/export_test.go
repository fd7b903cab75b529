package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigmagate/sigmagate/go/featurestore"
	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 11, 20, 0, 0, 0, 123456789, time.UTC)

func rec(sym string, i int, std float64) featurestore.FeatureRecord {
	return featurestore.FeatureRecord{
		Symbol: sym, Timestamp: t0.Add(time.Duration(i) * time.Hour),
		TickRatio: 0.1 * float64(i%7), DepthRatio: -0.05 * float64(i%5), PriceDist: 0.3,
		Price: 100 + float64(i), VWAP: 100, StdDev: std, BidVol: 10, AskVol: 12,
	}
}

// newBotDB creates an empty database in the bot's layout and its writer.
func newBotDB(t *testing.T) (string, *featurestore.Writer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bot.db")
	w, err := featurestore.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, w
}

// botDB writes a database in the bot's layout: 48 good records for two
// symbols, and one record of each kind the exporter must skip.
func botDB(t *testing.T) string {
	t.Helper()
	path, w := newBotDB(t)
	defer w.Close()
	for i := 0; i < 24; i++ {
		if err := w.Put(rec("BTCUSDT", i, 1.5), rec("ETHUSDT", i, 0.8)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Put(rec("BTCUSDT", 100, 0), rec("BTCUSDT", 101, -1)); err != nil { // non-positive std_dev
		t.Fatal(err)
	}
	raw := map[string]string{
		featurestore.FormatKey("BTCUSDT", t0.Add(102*time.Hour)): `{"symbol":"BTCUSDT","timestamp":`, // truncated
		featurestore.FormatKey("BTCUSDT", t0.Add(103*time.Hour)): "\x00\x01garbage",
		featurestore.FormatKey("BTCUSDT", t0.Add(104*time.Hour)): `{"symbol":"BTCUSDT","timestamp":"2026-11-24T08:00:00Z","tick_ratio":NaN,"std_dev":1}`,
		"not-a-key": `{}`,
	}
	for k, v := range raw {
		if err := w.PutRaw([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func runExport(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e, func() time.Time { return t0.Add(24 * time.Hour) })
	return code, o.String(), e.String()
}

func decodeLines(t *testing.T, s string) []featurestore.FeatureRecord {
	t.Helper()
	var out []featurestore.FeatureRecord
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var r featurestore.FeatureRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func TestExportWritesGoodRecordsAndCountsSkippedOnes(t *testing.T) {
	db := botDB(t)
	code, out, errOut := runExport(t, "-db", db)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs := decodeLines(t, out)
	if len(recs) != 48 {
		t.Fatalf("%d records, want 48\n%s", len(recs), errOut)
	}
	if recs[0].Symbol != "BTCUSDT" || !recs[0].Timestamp.Equal(t0) || recs[0].StdDev != 1.5 {
		t.Fatalf("first record %+v", recs[0])
	}
	for _, want := range []string{"wrote 48 records", "undecodable 2", "NaN/Inf 1", "non-positive std_dev 2", "bad key 1"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, `"timestamp":"2026-11-20T00:00:00.123456789Z"`) {
		t.Errorf("timestamps are not RFC 3339 with nanoseconds: %.200s", out)
	}
}

func TestExportFiltersBySymbolAndTime(t *testing.T) {
	db := botDB(t)
	code, out, errOut := runExport(t, "-db", db, "-symbol", "ETHUSDT", "-since", "2026-11-20T05:00:00Z", "-until", "2026-11-20T10:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs := decodeLines(t, out)
	if len(recs) != 5 {
		t.Fatalf("%d records, want hours 5..9 of ETHUSDT", len(recs))
	}
	for i, r := range recs {
		if r.Symbol != "ETHUSDT" || r.Timestamp.Hour() != 5+i {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	// -days counts back from now (t0 + 24h): the last 6 hours of each symbol.
	_, out, _ = runExport(t, "-db", db, "-days", "1")
	if n := len(decodeLines(t, out)); n != 48 {
		t.Fatalf("-days 1: %d records", n)
	}
	_, out, _ = runExport(t, "-db", db, "-since", "2026-11-20T18:00:00Z")
	if n := len(decodeLines(t, out)); n != 12 {
		t.Fatalf("-since 18:00: %d records, want 12", n)
	}
}

func TestExportToFileIsAtomicAndReadableByTrain(t *testing.T) {
	db := botDB(t)
	out := filepath.Join(t.TempDir(), "features.jsonl")
	if code, _, errOut := runExport(t, "-db", db, "-output", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 {
		t.Fatalf("left temporary files: %v", ents)
	}
	if st, err := os.Stat(out); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o644 {
		t.Fatalf("output mode %v, want 0644 (the trainer may be another user)", st.Mode().Perm())
	}
	missing := filepath.Join(t.TempDir(), "no-such-dir", "z.jsonl")
	code, _, errOut := runExport(t, "-db", db, "-output", missing)
	if want := "create " + missing + ": no such file or directory"; code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("output into a missing directory: exit %d, %q; want exit 1 and %q", code, errOut, want)
	}
	root, _ := filepath.Abs("../../..")
	py := os.Getenv("SIGMAGATE_PYTHON")
	if py == "" {
		py = filepath.Join(root, ".venv", "bin", "python")
	}
	if _, err := os.Stat(filepath.Join(root, "train", "data", "load.py")); err != nil {
		t.Skipf("train package not found under %s", root)
	}
	if _, err := os.Stat(py); err != nil {
		t.Skipf("no Python at %s for the train reader check", py)
	}
	cmd := exec.Command(py, "-c", `
import sys
from train.data.load import read_records
r = read_records(sys.argv[1], ["tick_ratio", "depth_ratio", "price_dist"])
print(len(r), r.bad, int(r.ts_ns[0]))`, out)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr // progress bars and logs; only stdout carries the answer
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("train.data.load.read_records: %v\n%s", err, stderr.String())
	}
	if got, want := strings.TrimSpace(string(b)), "48 0 "+strconv.FormatInt(t0.UnixNano(), 10); got != want {
		t.Fatalf("train read %q, want %q", got, want)
	}
}

func TestExportMissingFileOrBucketExitsTwo(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.db")
	code, _, errOut := runExport(t, "-db", missing)
	if code != 2 || !strings.Contains(errOut, "check the -db path") {
		t.Fatalf("missing file: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("missing file: export created it")
	}
	db := botDB(t)
	code, _, errOut = runExport(t, "-db", db, "-bucket", "trades")
	if code != 2 || !strings.Contains(errOut, `no bucket "trades"`) {
		t.Fatalf("missing bucket: exit %d: %s", code, errOut)
	}
	if code, _, _ := runExport(t); code != 2 {
		t.Fatalf("no -db: exit %d", code)
	}
	if code, _, _ := runExport(t, "-db", db, "-days", "1", "-since", "2026-01-01"); code != 2 {
		t.Fatalf("-days with -since: exit %d", code)
	}
}

// An empty file is what bbolt's read-only open would otherwise try to
// initialise; either file is a wrong -db, named as such.
func TestExportEmptyOrNonBboltFileExitsTwoNamingIt(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "zero.db")
	junk := filepath.Join(dir, "notes.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{empty: "is empty (0 bytes), not a bbolt database", junk: "is not a bbolt database"} {
		code, _, errOut := runExport(t, "-db", path)
		if code != 2 || !strings.Contains(errOut, path+" "+want) || !strings.Contains(errOut, "check the -db path") {
			t.Errorf("%s: exit %d: %s", filepath.Base(path), code, errOut)
		}
	}
	if st, err := os.Stat(empty); err != nil || st.Size() != 0 {
		t.Errorf("the empty file was changed: %v %v", st, err)
	}
}

func TestExportOnALockedDatabaseFailsFastWithAClearMessage(t *testing.T) {
	path := botDB(t)
	// The bot holds the database open read-write: an exclusive flock.
	bot, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	start := time.Now()
	code, _, errOut := runExport(t, "-db", path, "-lock-timeout", "200ms")
	if code != 1 || !strings.Contains(errOut, "locked by another process") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %v with a 200ms lock timeout", el)
	}
}

func TestExportSkipsRecordsLackingARequiredNumberOutOfTimesRangeOrUnderAnotherKey(t *testing.T) {
	path, w := newBotDB(t)
	good := rec("BTCUSDT", 0, 1.5)
	far := rec("BTCUSDT", 3, 1.5)
	far.Timestamp = time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC) // beyond int64 nanoseconds
	farValue, _ := json.Marshal(far)
	goodValue, _ := json.Marshal(rec("BTCUSDT", 4, 1.5))
	raw := map[string]string{
		featurestore.FormatKey("BTCUSDT", t0.Add(time.Hour)):   `{"symbol":"BTCUSDT","timestamp":"2026-11-20T01:00:00Z","std_dev":1}`,
		featurestore.FormatKey("BTCUSDT", t0.Add(2*time.Hour)): `{"symbol":"BTCUSDT","timestamp":"2026-11-20T02:00:00Z","tick_ratio":0.1,"depth_ratio":0.2,"price_dist":0.3,"price":null,"vwap":null,"std_dev":1,"bid_vol":1,"ask_vol":1}`,
		featurestore.FormatKey("BTCUSDT", t0.Add(3*time.Hour)): string(farValue),
		featurestore.FormatKey("BTCUSDT", t0.Add(4*time.Hour)): strings.Replace(string(goodValue), `"BTCUSDT"`, `"ETHUSDT"`, 1),
	}
	for k, v := range raw {
		if err := w.PutRaw([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Put(good); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for _, format := range []string{"jsonl", "parquet"} {
		out := filepath.Join(t.TempDir(), "x."+format)
		code, _, errOut := runExport(t, "-db", path, "-output", out)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errOut)
		}
		for _, want := range []string{"wrote 1 records", "other invalid 4", "tick_ratio is absent or null", "price is absent or null", "timestamp 2500-01-01T00:00:00Z is outside", `the value's symbol "ETHUSDT" is not its key's "BTCUSDT"`} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", format, want, errOut)
			}
		}
	}
}

func TestExportBySymbolFromBeforeKeysSortByTimeFindsEveryRecord(t *testing.T) {
	db := botDB(t)
	for _, args := range [][]string{{"-since", "2000-01-01"}, {"-days", "10000"}} {
		code, out, errOut := runExport(t, append([]string{"-db", db, "-symbol", "ETHUSDT"}, args...)...)
		if n := len(decodeLines(t, out)); code != 0 || n != 24 {
			t.Fatalf("%v: exit %d, %d records, want 24: %s", args, code, n, errOut)
		}
	}
}

func TestExportRefusesOptionsThatWouldMisleadIt(t *testing.T) {
	db := botDB(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-days", "200000"}, "-days 200000 is beyond what a time can reach back"},
		{[]string{"-lock-timeout", "0s"}, "-lock-timeout 0s must be positive"},
	} {
		code, _, errOut := runExport(t, append([]string{"-db", db}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestExportReplacesOnlyARegularFileAndKeepsItsMode(t *testing.T) {
	db := botDB(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere.jsonl")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runExport(t, "-db", db, "-output", link)
	if code != 2 || !strings.Contains(errOut, "is not a regular file") {
		t.Fatalf("export to a link: exit %d: %s", code, errOut)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	if code, _, errOut := runExport(t, "-db", db, "-output", target); code != 0 {
		t.Fatalf("export over a file: exit %d: %s", code, errOut)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after export: %v %v, want 0600 kept", fi.Mode().Perm(), err)
	}
}
