//go:build !unix

package pipe

import (
	"io"
	"os"
	"time"
)

// newSpinReader: without non-blocking reads of a pipe the reader parks in
// the poller at once.
func newSpinReader(f *os.File, _ time.Duration, _ func() bool) (io.Reader, error) {
	return f, nil
}
