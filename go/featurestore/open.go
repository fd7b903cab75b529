package featurestore

import (
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// NotDatabaseError: the path names no bbolt database — missing, a
// directory, empty, or another kind of file. Error says which.
type NotDatabaseError struct {
	Path  string
	IsDir bool
	msg   string
	err   error // the cause, if any
}

func (e *NotDatabaseError) Error() string { return e.msg }
func (e *NotDatabaseError) Unwrap() error { return e.err }

var errEmptyFile = errors.New("empty file")

// OpenReadOnly opens the bbolt file at path for reading, waiting up to
// lockTimeout for a writer's lock (bolt.ErrTimeout then). It never creates
// or writes the file: bbolt's own read-only open creates a missing one and
// fails on an empty one with "bad file descriptor". A path that is no
// database gives a *NotDatabaseError.
func OpenReadOnly(path string, lockTimeout time.Duration) (*bolt.DB, error) {
	notDB := func(err error, format string, args ...any) error {
		return &NotDatabaseError{Path: path, msg: fmt.Sprintf("database "+path+format, args...), err: err}
	}
	if st, err := os.Stat(path); err != nil {
		return nil, notDB(err, ": %v", err)
	} else if st.IsDir() {
		return nil, &NotDatabaseError{Path: path, IsDir: true, msg: "database " + path + " is a directory"}
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: lockTimeout, OpenFile: openExisting})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, errEmptyFile):
		return nil, notDB(err, " is empty (0 bytes), not a bbolt database")
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrVersionMismatch), errors.Is(err, bolt.ErrChecksum):
		return nil, notDB(err, " is not a bbolt database (bbolt: %v)", err)
	}
	return nil, fmt.Errorf("open database %s: %w", path, err)
}

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
