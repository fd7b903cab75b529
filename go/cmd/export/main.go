// Command export writes the bot's feature records (a bbolt file in the
// featurestore layout) as JSON Lines or Parquet for `train fit`.
//
//	export -db bot.db -output data/features.jsonl [-symbol BTCUSDT] [-days 30 | -since T -until T]
//	export -db bot.db -output data/features.parquet   # -format parquet, chosen by the suffix
//
// It opens the database read-only and streams it in key order in constant
// memory. Records that cannot be decoded, that hold NaN or ±Inf, or whose
// std_dev is not positive are skipped and counted on stderr.
//
// Exit status: 0 done; 1 the export failed (e.g. the database is locked);
// 2 bad arguments, a missing, empty or non-bbolt database file, or a missing
// bucket.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/sigmagate/sigmagate/go/featurestore"
	bolt "go.etcd.io/bbolt"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, time.Now))
}

// usageError is reported with exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbPath := fs.String("db", "", "bbolt database written by the bot (required)")
	output := fs.String("output", "-", "output file, - for stdout")
	format := fs.String("format", "", "jsonl or parquet (default: parquet if -output ends in .parquet, else jsonl)")
	rowGroup := fs.Int64("row-group-rows", rowGroupRows, "parquet: rows per row group (memory grows with it)")
	symbol := fs.String("symbol", "", "export only this symbol (default: all)")
	days := fs.Int("days", 0, "export only the last N days (exclusive with -since)")
	since := fs.String("since", "", "first time to export, inclusive: RFC 3339 or YYYY-MM-DD (UTC)")
	until := fs.String("until", "", "time to stop at, exclusive: RFC 3339 or YYYY-MM-DD (UTC)")
	bucket := fs.String("bucket", featurestore.Bucket, "bucket holding the records")
	lockTimeout := fs.Duration("lock-timeout", 2*time.Second, "how long to wait for the database lock")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "export: "+format+"\n", a...)
		return code
	}
	f, err := buildFilter(*symbol, *days, *since, *until, now())
	if err != nil {
		return fail(2, "%v", err)
	}
	switch *format {
	case "":
		*format = "jsonl"
		if ext := filepath.Ext(*output); ext == ".parquet" || ext == ".pq" {
			*format = "parquet"
		}
	case "jsonl", "parquet":
	default:
		return fail(2, "-format %q: use jsonl or parquet", *format)
	}
	if *rowGroup <= 0 {
		return fail(2, "-row-group-rows %d must be positive", *rowGroup)
	}
	if *lockTimeout <= 0 { // bbolt would read 0 as "wait for ever"
		return fail(2, "-lock-timeout %v must be positive", *lockTimeout)
	}
	if *dbPath == "" {
		return fail(2, "-db is required: the bot's bbolt file, e.g. -db /var/lib/bot/features.db")
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected arguments %q; every option is a flag (-h lists them)", fs.Args())
	}
	db, err := featurestore.OpenReadOnly(*dbPath, *lockTimeout)
	if err != nil {
		var nd *featurestore.NotDatabaseError
		switch {
		case errors.As(err, &nd) && nd.IsDir:
			return fail(2, "%v; -db takes the bbolt file", err)
		case errors.As(err, &nd):
			return fail(2, "%v; check the -db path", err)
		case errors.Is(err, bolt.ErrTimeout):
			return fail(1, "database %s is locked by another process (the running bot holds bbolt's exclusive lock) — waited %v. "+
				"Stop the bot, or export from the copy it keeps (featurestore.Writer.Snapshot; the example bot's -snapshot)", *dbPath, *lockTimeout)
		}
		return fail(1, "%v", err)
	}
	defer db.Close()

	var out io.Writer = stdout
	var tmp *os.File
	mode := os.FileMode(0o644) // an export is read by whoever trains on it
	if *output != "-" {
		// The export replaces the file by a rename: a link, a pipe or a device
		// there would be replaced, not written to.
		if st, err := os.Lstat(*output); err == nil {
			if !st.Mode().IsRegular() {
				return fail(2, "-output %s exists and is not a regular file (%v); name a file, or - for stdout", *output, st.Mode().Type())
			}
			mode = st.Mode().Perm()
		}
		// Write next to the target and rename at the end, so that a failed
		// export never leaves a truncated file where train would read it.
		tmp, err = os.CreateTemp(filepath.Dir(*output), "."+filepath.Base(*output)+".*")
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the temporary name means nothing to the user
			}
			return fail(1, "create %s: %v", *output, err)
		}
		defer os.Remove(tmp.Name())
		out = tmp
	}
	warned := 0
	warn := func(key []byte, why string) {
		if warned < 10 {
			fmt.Fprintf(stderr, "export: skipping record %q: %s\n", key, why)
		} else if warned == 10 {
			fmt.Fprintln(stderr, "export: (further skipped records are only counted)")
		}
		warned++
	}
	start := time.Now()
	var sk sink = newJSONLSink(out)
	if *format == "parquet" {
		sk = newParquetSink(out, *rowGroup)
	}
	st, err := scan(db, *bucket, f, sk, warn)
	if err != nil {
		if errors.Is(err, errNoBucket) {
			return fail(2, "database %s has no bucket %q; the bot writes to %q (see -bucket)", *dbPath, *bucket, featurestore.Bucket)
		}
		return fail(1, "%v", err)
	}
	if tmp != nil {
		// CreateTemp makes the file 0600: give it the mode of the file it replaces.
		if err := tmp.Chmod(mode); err != nil {
			return fail(1, "write %s: %v", *output, err)
		}
		// On disk before the rename: after a crash the name holds the old export
		// or the whole new one.
		if err := tmp.Sync(); err != nil {
			return fail(1, "write %s: %v", *output, err)
		}
		if err := tmp.Close(); err != nil {
			return fail(1, "write %s: %v", *output, err)
		}
		if err := os.Rename(tmp.Name(), *output); err != nil {
			return fail(1, "write %s: %v", *output, err)
		}
	}
	fmt.Fprintf(stderr, "export: wrote %d records (%s) to %s in %v; scanned %d, skipped %d (undecodable %d, NaN/Inf %d, non-positive std_dev %d, bad key %d, other invalid %d)\n",
		st.Written, *format, *output, time.Since(start).Round(time.Millisecond), st.Scanned, st.skipped(),
		st.Undecodable, st.NonFinite, st.BadStdDev, st.BadKey, st.Invalid)
	return 0
}

// maxDays is the most days a time.Duration holds (about 292 years).
const maxDays = int(math.MaxInt64 / int64(24*time.Hour))

func buildFilter(symbol string, days int, since, until string, now time.Time) (filter, error) {
	f := filter{symbol: symbol}
	var err error
	if days < 0 {
		return f, usageError{fmt.Sprintf("-days %d must be positive", days)}
	}
	if days > maxDays {
		return f, usageError{fmt.Sprintf("-days %d is beyond what a time can reach back (%d); leave it out to export every record", days, maxDays)}
	}
	if days > 0 && since != "" {
		return f, usageError{"-days and -since both set a start time; use one"}
	}
	if days > 0 {
		f.since = now.Add(-time.Duration(days) * 24 * time.Hour)
	}
	if since != "" {
		if f.since, err = parseTime(since); err != nil {
			return f, usageError{"-since: " + err.Error()}
		}
	}
	if until != "" {
		if f.until, err = parseTime(until); err != nil {
			return f, usageError{"-until: " + err.Error()}
		}
	}
	if !f.since.IsZero() && !f.until.IsZero() && !f.since.Before(f.until) {
		return f, usageError{fmt.Sprintf("-since %s is not before -until %s", since, until)}
	}
	return f, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-11-24T02:00:00Z) nor a date (2026-11-24)", s)
}
