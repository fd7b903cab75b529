package featurestore

import (
	"encoding/json"
	"fmt"
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

// DB exposes the underlying handle for callers that need their own transactions.
func (w *Writer) DB() *bolt.DB { return w.db }

// Close releases the file and its lock.
func (w *Writer) Close() error { return w.db.Close() }
