package main

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/sigmagate/sigmagate/go/featurestore"
)

// parquetRow is one record as a Parquet row. The column names are the JSON
// field names, so `train fit` reads either format with the same names; the
// symbol is dictionary-encoded (a handful of distinct values), the timestamp
// is int64 nanoseconds since the epoch, UTC (logical type TIMESTAMP(NANOS)),
// and the features are float64 like the JSON numbers they replace. Optional
// features are nullable columns: absent stays distinct from zero.
type parquetRow struct {
	Symbol     string  `parquet:"symbol,dict"`
	Timestamp  int64   `parquet:"timestamp,timestamp(nanosecond)"`
	TickRatio  float64 `parquet:"tick_ratio"`
	DepthRatio float64 `parquet:"depth_ratio"`
	PriceDist  float64 `parquet:"price_dist"`
	Price      float64 `parquet:"price"`
	VWAP       float64 `parquet:"vwap"`
	StdDev     float64 `parquet:"std_dev"`
	BidVol     float64 `parquet:"bid_vol"`
	AskVol     float64 `parquet:"ask_vol"`

	RollingVolatility *float64 `parquet:"rolling_volatility,optional"`
	BidAskSpread      *float64 `parquet:"bid_ask_spread,optional"`
	VolumeSpike       *float64 `parquet:"volume_spike,optional"`

	Simulated bool `parquet:"simulated"` // featurestore.FeatureRecord.Simulated
}

// parquetBatch rows are handed to the writer at a time; a row group holds
// rowGroupRows rows. The writer buffers one row group (about 100 bytes a row
// before compression), so memory stays constant whatever the export's size.
const (
	parquetBatch = 4096
	rowGroupRows = 1 << 19
)

// parquetSink writes records as Parquet, zstd-compressed, in row groups of
// rowGroupRows rows.
type parquetSink struct {
	w   *parquet.GenericWriter[parquetRow]
	buf []parquetRow
}

func newParquetSink(w io.Writer, rowsPerGroup int64) *parquetSink {
	return &parquetSink{
		w: parquet.NewGenericWriter[parquetRow](w,
			parquet.Compression(&parquet.Zstd),
			parquet.MaxRowsPerRowGroup(rowsPerGroup),
			parquet.CreatedBy("sigmagate export", "1", ""),
		),
		buf: make([]parquetRow, 0, parquetBatch),
	}
}

func copyOpt(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func (s *parquetSink) write(r *featurestore.FeatureRecord) error {
	s.buf = append(s.buf, parquetRow{
		Symbol: r.Symbol, Timestamp: r.Timestamp.UnixNano(),
		TickRatio: r.TickRatio, DepthRatio: r.DepthRatio, PriceDist: r.PriceDist,
		Price: r.Price, VWAP: r.VWAP, StdDev: r.StdDev, BidVol: r.BidVol, AskVol: r.AskVol,
		RollingVolatility: copyOpt(r.RollingVolatility),
		BidAskSpread:      copyOpt(r.BidAskSpread),
		VolumeSpike:       copyOpt(r.VolumeSpike),
		Simulated:         r.Simulated,
	})
	if len(s.buf) == cap(s.buf) {
		return s.flush()
	}
	return nil
}

func (s *parquetSink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	clear(s.buf) // drop the pointers to optional values
	s.buf = s.buf[:0]
	return nil
}

// close writes the last rows and the file footer. A file without a footer is
// not Parquet at all, so a failed close must fail the export.
func (s *parquetSink) close() error {
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("write parquet footer: %w", err)
	}
	return nil
}
