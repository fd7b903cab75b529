package featurestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func countRecords(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open the snapshot while the writer holds the original: %v", err)
	}
	defer db.Close()
	n := 0
	if err := db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket([]byte(Bucket)).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSnapshotIsReadableWhileTheWriterHoldsTheFileAndKeepsWriting(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "bot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	t0 := time.Unix(1700000000, 0).UTC()
	for i := range 100 {
		if err := w.Put(FeatureRecord{Symbol: "BTCUSDT", Timestamp: t0.Add(time.Duration(i) * time.Second), StdDev: 1}); err != nil {
			t.Fatal(err)
		}
	}
	snap := filepath.Join(dir, "bot.snapshot.db")
	ctx := context.Background()

	// Puts go on during the copies; each copy holds some prefix of them, whole.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 100; i < 600; i++ {
			if err := w.Put(FeatureRecord{Symbol: "ETHUSDT", Timestamp: t0.Add(time.Duration(i) * time.Second), StdDev: 1}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	last := 0
	for range 5 {
		if err := w.Snapshot(ctx, snap); err != nil {
			t.Fatal(err)
		}
		n := countRecords(t, snap)
		if n < 100 || n > 600 || n < last {
			t.Fatalf("snapshot holds %d records (previous %d), want a growing count in [100, 600]", n, last)
		}
		last = n
	}
	wg.Wait()
	if err := w.Snapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if n := countRecords(t, snap); n != 600 {
		t.Fatalf("final snapshot holds %d records, want 600", n)
	}
	st, err := os.Stat(snap)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("snapshot mode %v, want 0644 (the retrain may run as another user)", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".bot.snapshot.db.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestSnapshotStoppedByItsContextKeepsThePreviousCopy(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "bot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Put(FeatureRecord{Symbol: "BTCUSDT", Timestamp: time.Unix(1700000000, 0), StdDev: 1}); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "bot.snapshot.db")
	if err := w.Snapshot(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	if err := w.Put(FeatureRecord{Symbol: "BTCUSDT", Timestamp: time.Unix(1700000001, 0), StdDev: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Snapshot(ctx, snap); !errors.Is(err, context.Canceled) {
		t.Fatalf("Snapshot with a cancelled context: %v, want context.Canceled", err)
	}
	if n := countRecords(t, snap); n != 1 {
		t.Fatalf("the previous snapshot holds %d records after a cancelled one, want 1", n)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".bot.snapshot.db.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
