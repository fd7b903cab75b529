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

// sink receives the records that passed the filters and validation, in key
// order; write may keep r only until it returns.
type sink interface {
	write(r *featurestore.FeatureRecord) error
	close() error
}

// jsonlSink writes one JSON object per line.
type jsonlSink struct{ bw *bufio.Writer }

func newJSONLSink(w io.Writer) *jsonlSink { return &jsonlSink{bufio.NewWriterSize(w, 256<<10)} }

func (s *jsonlSink) write(r *featurestore.FeatureRecord) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.bw.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func (s *jsonlSink) close() error {
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// scan feeds every matching, valid record of bucket to out in key order and
// closes out, holding one record (and the sink's buffer) in memory at a time.
// The filters and the validation are the same for every format. Bad records
// are skipped, counted, and the first few reported through warn.
func scan(db *bolt.DB, bucket string, f filter, out sink, warn func(key []byte, why string)) (stats, error) {
	var st stats
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
			if !f.since.Before(featurestore.SortableSince) {
				// Keys of one symbol sort by time (19-digit nanoseconds); the
				// time filter below still applies to every record. An earlier
				// start has fewer digits, sorts after every key, and is no place
				// to seek to: the scan starts at the symbol's first key.
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
				if errors.Is(err, featurestore.ErrMissingField) {
					st.Invalid++
					warn(k, err.Error())
				} else if hasNonFiniteToken(v) {
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
			} else if r.Symbol != sym {
				// The filters went by the key: a value naming another symbol is corrupt.
				st.Invalid++
				warn(k, fmt.Sprintf("the value's symbol %q is not its key's %q", r.Symbol, sym))
				continue
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
			if err := out.write(&r); err != nil {
				return err
			}
			st.Written++
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	return st, out.close()
}

func inRange(t time.Time, f filter) bool {
	return (f.since.IsZero() || !t.Before(f.since)) && (f.until.IsZero() || t.Before(f.until))
}

// hasNonFiniteToken spots values written by an encoder that emits NaN or
// Infinity as bare tokens, which encoding/json rightly refuses.
func hasNonFiniteToken(v []byte) bool {
	return bytes.Contains(v, []byte("NaN")) || bytes.Contains(v, []byte("Infinity"))
}
