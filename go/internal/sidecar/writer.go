// The write half of a conversation with a msgpack-rpc child: calls are
// registered by msgid and written as predict requests, either by the idle
// caller itself (SendNow) or by one writer goroutine that coalesces what
// waits in the queue (Run). A Session embeds one; so does the benchmark
// client that drives an echo child the same way, which is why it is exported.

package sidecar

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// Writer sends calls to a child's stdin and remembers them by msgid until
// the reader hands each answer back through Take.
type Writer struct {
	queue    chan *Call
	maxBatch int
	slots    chan struct{} // one token per predict batch in flight
	stdin    *os.File
	stdinRC  syscall.RawConn // non-blocking writes for SendNow
	onBatch  func(n int)
	die      func(why string, err error)

	pendingMu sync.Mutex
	pending   map[uint32][]*Call
	finished  bool  // under pendingMu: Finish failed the pending calls, take no more
	finishErr error // under pendingMu: what Finish failed them with, ErrUnavailable and why

	writeMu sync.Mutex // serialises sends: enc, records, msgid and stdin writes
	enc     *rpc.Encoder
	records [][]float32
	msgid   uint32
}

// WriterOptions configure a Writer.
type WriterOptions struct {
	Queue                 chan *Call // where callers leave calls
	MaxBatch, MaxInFlight int        // records per request; requests written but not answered
	// Batch (optional): a request of n records was written.
	Batch func(n int)
	// Die: encoding or writing failed; the conversation is over (the owner
	// ends it, which includes calling Finish).
	Die func(why string, err error)
}

// NewWriter writes to stdin, a pipe (its raw handle serves SendNow's
// non-blocking writes).
func NewWriter(stdin *os.File, o WriterOptions) (*Writer, error) {
	rc, err := stdin.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw access to the child's stdin: %w", err)
	}
	batch := o.Batch
	if batch == nil {
		batch = func(int) {}
	}
	return &Writer{
		queue: o.Queue, maxBatch: o.MaxBatch,
		slots: make(chan struct{}, o.MaxInFlight),
		stdin: stdin, stdinRC: rc, onBatch: batch, die: o.Die,
		pending: make(map[uint32][]*Call),
		enc:     rpc.NewEncoder(),
		records: make([][]float32, 0, o.MaxBatch),
	}, nil
}

// Run is the writer goroutine, until stop is closed or a write fails. It
// takes a waiting call, a free in-flight slot, then every other waiting
// call (up to MaxBatch) without waiting for more, and sends them as one predict request. While
// all slots are taken, calls pile up in the queue and form the next, larger
// batch — batching adapts to load with no added delay.
func (w *Writer) Run(stop <-chan struct{}) {
	for {
		var first *Call
		select {
		case first = <-w.queue:
		case <-stop:
			return
		}
		// The slot only once there is a call: an idle writer holding one
		// would leave SendNow none (with MaxInFlight 1, ever).
		select {
		case w.slots <- struct{}{}:
		case <-stop:
			w.requeue(first)
			return
		}
		batch := make([]*Call, 0, 16)
		if !first.abandoned.Load() {
			batch = append(batch, first)
		}
	drain:
		for len(batch) < w.maxBatch {
			select {
			case c := <-w.queue:
				if !c.abandoned.Load() {
					batch = append(batch, c)
				}
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			<-w.slots
			continue
		}
		w.writeMu.Lock()
		err := w.send(batch, w.writeAll)
		w.writeMu.Unlock()
		if err != nil {
			return // the conversation is over (writeAll never finds the pipe full)
		}
	}
}

// requeue hands c back to the queue, for the next session's writer, when
// this conversation ends before c was sent; with the queue full, c fails as
// its session's calls do.
func (w *Writer) requeue(c *Call) {
	select {
	case w.queue <- c:
	default:
		c.Fail(ReasonChildDown, fmt.Errorf("%w: the sidecar session ended", ErrUnavailable))
	}
}

// SendNow writes c's request from the caller's own goroutine when nothing is
// queued, the writer is idle, a slot is free and the pipe has room: the
// commonest case (one decision at a time) then skips the hand-off to the
// writer goroutine, about half a microsecond. The write never blocks (a
// caller has no timer running yet; a stopped child must not hang it). It
// reports false, having sent nothing, otherwise; the call then goes through
// the queue. After true, c is answered through c.done like any other call,
// also when the conversation ended meanwhile.
func (w *Writer) SendNow(c *Call) bool {
	if len(w.queue) != 0 || !w.writeMu.TryLock() {
		return false
	}
	defer w.writeMu.Unlock()
	select {
	case w.slots <- struct{}{}:
	default:
		return false
	}
	// Sent, or the conversation is over and c failed: either way c is
	// answered. Only a full pipe leaves c untouched, for the queue.
	return !errors.Is(w.send([]*Call{c}, w.tryWrite), syscall.EAGAIN)
}

// Owed reports whether a request was written and not yet answered (or is
// being written): the reader then keeps polling for the answer
// (pipe.OwedSpin) rather than park. A slot is held exactly that long, since
// an idle writer holds none.
func (w *Writer) Owed() bool { return len(w.slots) > 0 }

// Take hands the reader the calls sent under msgid and frees their slot;
// false when msgid is unknown (never sent, already answered, or failed by
// Finish).
func (w *Writer) Take(msgid uint32) ([]*Call, bool) {
	w.pendingMu.Lock()
	batch, ok := w.pending[msgid]
	delete(w.pending, msgid)
	w.pendingMu.Unlock()
	if ok {
		<-w.slots
	}
	return batch, ok
}

// Finish ends the conversation for the writer: every call sent and not
// answered fails with ErrUnavailable wrapping err, and every later send
// fails its calls at once with the same error. The reason is ReasonClosed
// when err is ErrClosed (the owner shut the session down: its callers
// approve nothing), else ReasonChildDown (an outage: they fall back).
func (w *Writer) Finish(err error) {
	down := fmt.Errorf("%w: %w", ErrUnavailable, err)
	w.pendingMu.Lock()
	pending := w.pending
	w.pending = nil
	if !w.finished {
		w.finished, w.finishErr = true, down
	}
	w.pendingMu.Unlock()
	// Outside the lock: a failed call may run a hedged caller's callback.
	for _, batch := range pending {
		for _, c := range batch {
			c.Fail(downReason(down), down)
		}
	}
}

// downReason is the reason a call fails with when its session is over.
func downReason(err error) string {
	if errors.Is(err, ErrClosed) {
		return ReasonClosed
	}
	return ReasonChildDown
}

// writeAll writes b, waiting while the pipe is full (the writer goroutine).
func (w *Writer) writeAll(b []byte) error {
	_, err := w.stdin.Write(b)
	return err
}

// tryWrite writes b at once or not at all: syscall.EAGAIN when the pipe has
// no room. A single-record request is far below PIPE_BUF, so the kernel
// writes it whole or refuses it.
func (w *Writer) tryWrite(b []byte) error {
	n, err := writeNonBlocking(w.stdinRC, b)
	switch {
	case err != nil:
		return err
	case n != len(b):
		return io.ErrShortWrite // cannot happen below PIPE_BUF; the conversation ends if it does
	}
	return nil
}

// errSessionDead: send found the conversation over and failed the batch's calls.
var errSessionDead = errors.New("predictor: session ended")

// send registers batch under a new msgid and writes it as one predict
// request with write; w.writeMu must be held and a slot taken. It returns
// nil once the request is written. Otherwise nothing was sent, and either
// the error is write's syscall.EAGAIN (the pipe is full: the batch is
// unregistered, the slot freed and the calls untouched), or the
// conversation is over and every call of the batch has been failed (here,
// or by Finish).
func (w *Writer) send(batch []*Call, write func([]byte) error) error {
	w.msgid++
	msgid := w.msgid
	w.pendingMu.Lock()
	if w.finished {
		down := w.finishErr
		w.pendingMu.Unlock()
		for _, c := range batch {
			c.Fail(downReason(down), down)
		}
		return errSessionDead
	}
	w.pending[msgid] = batch
	w.pendingMu.Unlock()
	records := w.records[:0]
	for _, c := range batch {
		records = append(records, c.Features)
	}
	w.enc.Reset()
	err := w.enc.Predict(msgid, records)
	clear(records) // keep no caller's features alive
	if err != nil {
		err = fmt.Errorf("encode predict: %w", err)
		w.die("protocol", err)
		return err
	}
	if err := write(w.enc.Bytes()); err != nil {
		if errors.Is(err, syscall.EAGAIN) {
			w.pendingMu.Lock()
			_, mine := w.pending[msgid]
			delete(w.pending, msgid)
			w.pendingMu.Unlock()
			if !mine {
				// The conversation ended meanwhile and Finish failed the batch.
				return errSessionDead
			}
			<-w.slots
			return err
		}
		err = fmt.Errorf("write to sidecar stdin: %w", err)
		w.die("exited", err)
		return err
	}
	w.onBatch(len(batch))
	return nil
}
