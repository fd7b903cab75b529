package featurestore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Writer appends FeatureRecords to a bbolt file in the bot's layout. It is
// what tests and the demo's database generator use; it holds the file's
// exclusive lock until Close, as the bot does.
type Writer struct {
	db     *bolt.DB
	bucket string
}

// Create opens (creating if needed) the bbolt file at path and makes sure the
// "features" bucket exists. The lock timeout keeps a second writer from
// hanging forever when another process holds the file.
func Create(path string) (*Writer, error) {
	return CreateBucket(path, Bucket)
}

// CreateBucket is Create with a bucket name other than the default "features".
func CreateBucket(path, bucket string) (*Writer, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("featurestore: create directory for %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("featurestore: open %s (is another process holding it?): %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(bucket))
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("featurestore: create bucket %q in %s: %w", bucket, path, err)
	}
	return &Writer{db: db, bucket: bucket}, nil
}

// Put stores records in one transaction, each under its Key. A record with
// the same symbol and timestamp as an existing one replaces it.
func (w *Writer) Put(records ...FeatureRecord) error {
	return w.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(w.bucket))
		for i := range records {
			v, err := json.Marshal(&records[i])
			if err != nil {
				return fmt.Errorf("featurestore: encode record %d (%s): %w", i, records[i].Key(), err)
			}
			if err := b.Put(records[i].Key(), v); err != nil {
				return fmt.Errorf("featurestore: put %s: %w", records[i].Key(), err)
			}
		}
		return nil
	})
}

// PutRaw stores value under key as is; tests use it to plant corrupt records.
func (w *Writer) PutRaw(key, value []byte) error {
	return w.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(w.bucket)).Put(key, value)
	})
}

// Snapshot writes a consistent copy of the database to path while the writer
// keeps the file locked and keeps writing: the exporter (and a nightly
// retrain through it) cannot open a file a running bot holds, so it reads the
// copy. The copy is one read transaction's view, written beside path, synced
// and renamed over it, so a reader sees the old copy or the new one, never
// half of one. Puts go on meanwhile; ctx stops a long copy.
func (w *Writer) Snapshot(ctx context.Context, path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("featurestore: snapshot to %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("featurestore: snapshot to %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = w.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(ctxWriter{ctx, f})
		return err
	}); err != nil {
		if ctx.Err() != nil { // bbolt flattens the writer's error into text
			err = ctx.Err()
		}
		return fmt.Errorf("featurestore: snapshot to %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; a snapshot is read by the retrain's user too.
	for _, step := range []func() error{func() error { return f.Chmod(0o644) }, f.Sync, f.Close} {
		if err = step(); err != nil {
			return fmt.Errorf("featurestore: snapshot to %s: %w", path, err)
		}
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("featurestore: snapshot to %s: %w", path, err)
	}
	return nil
}

// ctxWriter fails the copy once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// DB exposes the underlying handle for callers that need their own transactions.
func (w *Writer) DB() *bolt.DB { return w.db }

// Close releases the file and its lock.
func (w *Writer) Close() error { return w.db.Close() }
