package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sigmagate/sigmagate/go/featurestore"
	bolt "go.etcd.io/bbolt"
)

// filter selects records. Zero times mean unbounded.
type filter struct {
	symbol       string
	since, until time.Time // since inclusive, until exclusive
}

// stats counts what the export did; skipped records are counted by reason.
type stats struct {
	Scanned     int `json:"scanned"`
	Written     int `json:"written"`
	BadKey      int `json:"bad_key"`
	Undecodable int `json:"undecodable"`
	NonFinite   int `json:"non_finite"`
	BadStdDev   int `json:"non_positive_std"`
	Invalid     int `json:"invalid"`
}

func (s stats) skipped() int { return s.BadKey + s.Undecodable + s.NonFinite + s.BadStdDev + s.Invalid }

// errNoBucket is reported with exit status 2.
var errNoBucket = errors.New("bucket not found")

// export streams the matching records of bucket as JSON Lines to w, in key
// order, holding one record in memory at a time. Bad records are skipped,
// counted, and the first few reported through warn.
func export(db *bolt.DB, bucket string, f filter, w io.Writer, warn func(key []byte, why string)) (stats, error) {
	var st stats
	bw := bufio.NewWriterSize(w, 256<<10)
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return fmt.Errorf("%w: %q", errNoBucket, bucket)
		}
		c := b.Cursor()
		var prefix []byte
		var k, v []byte
		if f.symbol != "" {
			prefix = featurestore.SymbolPrefix(f.symbol)
			seek := prefix
			if !f.since.IsZero() {
				// Keys of one symbol sort by time (19-digit nanoseconds); the
				// time filter below still applies to every record.
				seek = []byte(featurestore.FormatKey(f.symbol, f.since))
			}
			k, v = c.Seek(seek)
		} else {
			k, v = c.First()
		}
		for ; k != nil; k, v = c.Next() {
			if prefix != nil && !bytes.HasPrefix(k, prefix) {
				break
			}
			if v == nil { // a nested bucket, not a record
				continue
			}
			st.Scanned++
			sym, ts, err := featurestore.ParseKey(k)
			if err != nil {
				st.BadKey++
				warn(k, err.Error())
				continue
			}
			if (f.symbol != "" && sym != f.symbol) || !inRange(ts, f) {
				continue
			}
			var r featurestore.FeatureRecord
			if err := json.Unmarshal(v, &r); err != nil {
				if hasNonFiniteToken(v) {
					st.NonFinite++
					warn(k, "value contains NaN or Infinity")
				} else {
					st.Undecodable++
					warn(k, "undecodable JSON: "+err.Error())
				}
				continue
			}
			if r.Timestamp.IsZero() {
				r.Timestamp = ts
			}
			if r.Symbol == "" {
				r.Symbol = sym
			}
			if err := r.Validate(); err != nil {
				switch {
				case errors.Is(err, featurestore.ErrNonPositiveStd):
					st.BadStdDev++
				case errors.Is(err, featurestore.ErrNonFinite):
					st.NonFinite++
				default:
					st.Invalid++
				}
				warn(k, err.Error())
				continue
			}
			r.Timestamp = r.Timestamp.UTC()
			line, err := json.Marshal(&r)
			if err != nil {
				st.Invalid++
				warn(k, err.Error())
				continue
			}
			line = append(line, '\n')
			if _, err := bw.Write(line); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			st.Written++
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write output: %w", err)
	}
	return st, nil
}

func inRange(t time.Time, f filter) bool {
	return (f.since.IsZero() || !t.Before(f.since)) && (f.until.IsZero() || t.Before(f.until))
}

// hasNonFiniteToken spots values written by an encoder that emits NaN or
// Infinity as bare tokens, which encoding/json rightly refuses.
func hasNonFiniteToken(v []byte) bool {
	return bytes.Contains(v, []byte("NaN")) || bytes.Contains(v, []byte("Infinity"))
}
