// Package pipe holds the low-latency read side of a child process's stdout.
package pipe

import (
	"io"
	"os"
	"time"
)

// NewSpinReader reads f, polling it for up to spin before each park; with
// spin <= 0, or where non-blocking pipe reads are not available (not unix),
// it returns f itself. f must be a pipe end Go polls (os.Pipe,
// exec.Cmd.StdoutPipe). Read errors after f is closed wrap os.ErrClosed.
func NewSpinReader(f *os.File, spin time.Duration) (io.Reader, error) {
	if spin <= 0 {
		return f, nil
	}
	return newSpinReader(f, spin)
}
