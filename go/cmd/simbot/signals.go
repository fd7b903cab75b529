package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sigmagate/sigmagate/go/featurestore"
)

// loadSignals reads every valid record, ordered by time across symbols, as
// the bot's feature vectors [tick_ratio, depth_ratio, price_dist].
func loadSignals(path string) ([][]float32, int, error) {
	db, err := featurestore.OpenReadOnly(path, 5*time.Second)
	if nd := (*featurestore.NotDatabaseError)(nil); errors.As(err, &nd) {
		hint := "check the -db path"
		if nd.IsDir {
			hint = "-db takes the bbolt file"
		}
		return nil, 0, dbError{fmt.Sprintf("%v; %s", err, hint), err}
	} else if err != nil {
		return nil, 0, fmt.Errorf("%w (is a writer holding it?)", err)
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
