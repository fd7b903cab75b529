// Package featurestore is the trading bot's BoltDB layout for candidate-trade
// features: one bucket, one JSON FeatureRecord per key SYMBOL_<unix-nanoseconds>.
//
// The bot writes it; go/cmd/export reads it; tests and the demo's database
// generator write it through Writer so that all of them agree on one layout.
package featurestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bucket is the name of the bbolt bucket that holds the records.
const Bucket = "features"

// FeatureRecord is one candidate trade as the bot records it. The JSON tags
// are the contract with cmd/export and `train fit`; the optional fields are
// pointers so that "absent" and "zero" stay distinct.
type FeatureRecord struct {
	Symbol     string    `json:"symbol"`
	Timestamp  time.Time `json:"timestamp"`
	TickRatio  float64   `json:"tick_ratio"`
	DepthRatio float64   `json:"depth_ratio"`
	PriceDist  float64   `json:"price_dist"`
	Price      float64   `json:"price"`
	VWAP       float64   `json:"vwap"`
	StdDev     float64   `json:"std_dev"`
	BidVol     float64   `json:"bid_vol"`
	AskVol     float64   `json:"ask_vol"`

	RollingVolatility *float64 `json:"rolling_volatility,omitempty"`
	BidAskSpread      *float64 `json:"bid_ask_spread,omitempty"`
	VolumeSpike       *float64 `json:"volume_spike,omitempty"`

	// Simulated marks a record a simulator made up (go/cmd/gendb, `train sample`);
	// a real bot never sets it. It travels through the export, and `train fit`
	// records the data's provenance from it, so a model trained on made-up data
	// says so in its manifest and the deploy script keeps it out of a live
	// models directory.
	Simulated bool `json:"simulated,omitempty"`
}

// UnmarshalJSON decodes a record as encoding/json does, except that a
// required number (every float64 field) that is absent or null is an error
// wrapping ErrMissingField: encoding/json would leave it 0, and a price,
// vwap or std_dev of 0 passes for data that labels are computed from.
func (r *FeatureRecord) UnmarshalJSON(b []byte) error {
	type plain FeatureRecord // without this method
	var aux struct {
		*plain
		TickRatio  *float64 `json:"tick_ratio"`
		DepthRatio *float64 `json:"depth_ratio"`
		PriceDist  *float64 `json:"price_dist"`
		Price      *float64 `json:"price"`
		VWAP       *float64 `json:"vwap"`
		StdDev     *float64 `json:"std_dev"`
		BidVol     *float64 `json:"bid_vol"`
		AskVol     *float64 `json:"ask_vol"`
	}
	aux.plain = (*plain)(r)
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		src  *float64
		dst  *float64
	}{
		{"tick_ratio", aux.TickRatio, &r.TickRatio}, {"depth_ratio", aux.DepthRatio, &r.DepthRatio},
		{"price_dist", aux.PriceDist, &r.PriceDist}, {"price", aux.Price, &r.Price}, {"vwap", aux.VWAP, &r.VWAP},
		{"std_dev", aux.StdDev, &r.StdDev}, {"bid_vol", aux.BidVol, &r.BidVol}, {"ask_vol", aux.AskVol, &r.AskVol},
	} {
		if f.src == nil {
			return fmt.Errorf("%w: %s is absent or null", ErrMissingField, f.name)
		}
		*f.dst = *f.src
	}
	return nil
}

// Key is the record's bbolt key, SYMBOL_<unix-nanoseconds>.
func (r FeatureRecord) Key() []byte { return []byte(FormatKey(r.Symbol, r.Timestamp)) }

// Reasons Validate gives, for errors.Is.
var (
	ErrMissingField     = errors.New("missing field")
	ErrTimeRange        = errors.New("timestamp out of range")
	ErrNonFinite        = errors.New("non-finite number")
	ErrNonPositiveStd   = errors.New("non-positive std_dev")
	ErrNonPositivePrice = errors.New("non-positive price")
)

// The times an int64 of nanoseconds since 1970 can hold.
var minTime, maxTime = time.Unix(0, math.MinInt64).UTC(), time.Unix(0, math.MaxInt64).UTC()

// Validate reports the first field that makes the record unusable for
// training: an empty symbol, a zero timestamp, a NaN or infinite number, or a
// standard deviation that is not positive (price_dist divides by it), or a price or
// VWAP that is not positive.
func (r FeatureRecord) Validate() error {
	if r.Symbol == "" {
		return fmt.Errorf("%w: symbol is empty", ErrMissingField)
	}
	if r.Timestamp.IsZero() {
		return fmt.Errorf("%w: timestamp is missing", ErrMissingField)
	}
	if r.Timestamp.Before(minTime) || r.Timestamp.After(maxTime) {
		// Keys, Parquet and train all count time in int64 nanoseconds.
		return fmt.Errorf("%w: timestamp %s is outside %s … %s", ErrTimeRange,
			r.Timestamp.Format(time.RFC3339), minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339))
	}
	fields := []struct {
		name string
		v    float64
	}{
		{"tick_ratio", r.TickRatio}, {"depth_ratio", r.DepthRatio}, {"price_dist", r.PriceDist},
		{"price", r.Price}, {"vwap", r.VWAP}, {"std_dev", r.StdDev},
		{"bid_vol", r.BidVol}, {"ask_vol", r.AskVol},
	}
	for _, o := range []struct {
		name string
		v    *float64
	}{{"rolling_volatility", r.RollingVolatility}, {"bid_ask_spread", r.BidAskSpread}, {"volume_spike", r.VolumeSpike}} {
		if o.v != nil {
			fields = append(fields, struct {
				name string
				v    float64
			}{o.name, *o.v})
		}
	}
	for _, f := range fields {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%w: %s is %v", ErrNonFinite, f.name, f.v)
		}
	}
	if r.StdDev <= 0 {
		return fmt.Errorf("%w: std_dev is %v, must be > 0", ErrNonPositiveStd, r.StdDev)
	}
	if r.Price <= 0 || r.VWAP <= 0 {
		// Labels are computed from them: train drops such records as well.
		return fmt.Errorf("%w: price %v and vwap %v must be > 0", ErrNonPositivePrice, r.Price, r.VWAP)
	}
	return nil
}

// SortableSince is the first time whose nanosecond stamp has 19 digits
// (2001-09-09): from then on (to 2262, the last time a stamp holds) a
// symbol's keys sort in time order, and a cursor can Seek to a start time.
var SortableSince = time.Unix(0, 1e18)

// FormatKey returns the key SYMBOL_<unix-nanoseconds> (see SortableSince).
func FormatKey(symbol string, t time.Time) string {
	return symbol + "_" + strconv.FormatInt(t.UnixNano(), 10)
}

// ParseKey splits a key into symbol and time. The symbol is everything before
// the last underscore, so symbols may themselves contain underscores.
func ParseKey(key []byte) (symbol string, t time.Time, err error) {
	s := string(key)
	i := strings.LastIndexByte(s, '_')
	if i <= 0 || i == len(s)-1 {
		return "", time.Time{}, fmt.Errorf("key %q is not SYMBOL_<unix-nanoseconds>", s)
	}
	ns, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("key %q: timestamp part is not an integer: %w", s, err)
	}
	return s[:i], time.Unix(0, ns).UTC(), nil
}

// SymbolPrefix is the key prefix shared by every record of symbol.
func SymbolPrefix(symbol string) []byte { return []byte(symbol + "_") }
