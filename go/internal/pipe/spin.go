// Package pipe holds the low-latency read side of a child process's stdout.
package pipe

import (
	"io"
	"os"
	"time"
)

// OwedSpin is how long a reader keeps polling while owed (NewSpinReader)
// reports that an answer is due, when polling pays. An owed answer usually
// comes within the child's batch time, tens to a few hundred microseconds;
// parking instead costs a wake-up on each side, which on a small VM is worth
// more than the model, and under load turns every batch into two. Polling
// does not pay on a host short of CPU (it takes the CPU the child needs to
// answer) nor when answers are rare: the reader finds out by trial
// (owedChoice). The cap bounds what a stalled child costs the reader: one
// millisecond of CPU, then it parks.
const OwedSpin = time.Millisecond

// NewSpinReader reads f, polling it for up to spin before each park, and
// for up to max(spin, OwedSpin) while owed (when not nil) reports true and
// its trials show that polling pays; with
// spin <= 0, or where non-blocking pipe reads are not available (not unix),
// it returns f itself. f must be a pipe end Go polls (os.Pipe,
// exec.Cmd.StdoutPipe). Read errors after f is closed wrap os.ErrClosed.
func NewSpinReader(f *os.File, spin time.Duration, owed func() bool) (io.Reader, error) {
	if spin <= 0 {
		return f, nil
	}
	return newSpinReader(f, spin, owed)
}
