package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sigmagate/sigmagate/go/featurestore"
)

// loadSignals reads every valid record, ordered by time across symbols, as
// the bot's feature vectors [tick_ratio, depth_ratio, price_dist].
func loadSignals(path string) ([][]float32, int, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, 0, dbError{fmt.Sprintf("database %s: %v; check the -db path", path, err), err}
	} else if st.IsDir() {
		return nil, 0, dbError{fmt.Sprintf("database %s is a directory; -db takes the bbolt file", path), nil}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second, OpenFile: openExisting})
	switch {
	case err == nil:
	case errors.Is(err, errEmptyFile):
		return nil, 0, dbError{fmt.Sprintf("database %s is empty (0 bytes), not a bbolt database; check the -db path", path), err}
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrVersionMismatch), errors.Is(err, bolt.ErrChecksum):
		return nil, 0, dbError{fmt.Sprintf("database %s is not a bbolt database (bbolt: %v); check the -db path", path, err), err}
	default:
		return nil, 0, fmt.Errorf("open %s (is a writer holding it?): %w", path, err)
	}
	defer db.Close()
	type rec struct {
		t time.Time
		f []float32
	}
	var recs []rec
	skipped := 0
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(featurestore.Bucket))
		if b == nil {
			return fmt.Errorf("%s has no bucket %q", path, featurestore.Bucket)
		}
		return b.ForEach(func(k, v []byte) error {
			var r featurestore.FeatureRecord
			if json.Unmarshal(v, &r) != nil || r.Validate() != nil {
				skipped++
				return nil
			}
			recs = append(recs, rec{r.Timestamp, []float32{float32(r.TickRatio), float32(r.DepthRatio), float32(r.PriceDist)}})
			return nil
		})
	})
	if err != nil {
		return nil, 0, err
	}
	if len(recs) == 0 {
		return nil, skipped, fmt.Errorf("%s: no valid records to replay", path)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].t.Before(recs[j].t) })
	out := make([][]float32, len(recs))
	for i, r := range recs {
		out[i] = r.f
	}
	return out, skipped, nil
}

// dbError is a -db that names no bbolt database (missing, empty, another
// kind of file): a bad argument, reported with exit status 2.
type dbError struct {
	msg string
	err error // the cause, if any
}

func (e dbError) Error() string { return e.msg }
func (e dbError) Unwrap() error { return e.err }

var errEmptyFile = errors.New("empty file")

// openExisting is bbolt's OpenFile for a read-only open. bbolt adds O_CREATE,
// so a path that vanished since the check would be created, and it
// initialises an empty file, a write that fails on the read-only descriptor
// as "bad file descriptor".
func openExisting(name string, flag int, mode os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag&^os.O_CREATE, mode)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Size() == 0 {
		err = fmt.Errorf("%s: %w", name, errEmptyFile)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
