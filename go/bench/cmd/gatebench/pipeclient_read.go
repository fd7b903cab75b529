//go:build unix

package main

import (
	"bufio"
	"fmt"
	"io"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sigmagate/sigmagate/go/internal/sidecar"
)

// predictResult is the part of a `predict` answer gatebench checks.
type predictResult struct {
	P       []float64 `msgpack:"p"`
	Version string    `msgpack:"version"`
}

// readLoop decodes what the child writes until it closes stdout; then the
// conversation is over.
func (c *pipeClient) readLoop(r io.Reader) {
	dec := msgpack.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	readyOnce := sync.Once{}
	for {
		err := c.readOne(dec, func() { readyOnce.Do(func() { close(c.ready) }) })
		if err != nil {
			c.die(fmt.Errorf("read from child: %w", err))
			c.readErr <- err
			return
		}
	}
}

func (c *pipeClient) readOne(dec *msgpack.Decoder, onReady func()) error {
	if _, err := dec.DecodeArrayLen(); err != nil {
		return err
	}
	kind, err := dec.DecodeInt()
	if err != nil {
		return err
	}
	switch kind {
	case 0: // our own request, echoed: decode it as fully as a real answer would be
		id, err := dec.DecodeUint32()
		if err != nil {
			return err
		}
		if _, err := dec.DecodeString(); err != nil {
			return err
		}
		if _, err := dec.DecodeArrayLen(); err != nil {
			return err
		}
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return err
		}
		for range n {
			m, err := dec.DecodeArrayLen()
			if err != nil {
				return err
			}
			for range m {
				if _, err := dec.DecodeFloat32(); err != nil {
					return err
				}
			}
		}
		c.finish(id, n, nil)
	case 1:
		id, err := dec.DecodeUint32()
		if err != nil {
			return err
		}
		rpcErr, err := dec.DecodeInterface()
		if err != nil {
			return err
		}
		var res predictResult
		if err := dec.Decode(&res); err != nil {
			return err
		}
		var callErr error
		if rpcErr != nil {
			callErr = fmt.Errorf("sidecar error: %v", rpcErr)
		}
		c.finish(id, len(res.P), callErr)
	case 2:
		method, err := dec.DecodeString()
		if err != nil {
			return err
		}
		if err := dec.Skip(); err != nil {
			return err
		}
		if method == "ready" {
			onReady()
		}
	default:
		return fmt.Errorf("unexpected message type %d", kind)
	}
	return nil
}

// finish answers the calls of request id; the probabilities themselves are
// not checked (the echo has none), only their count.
func (c *pipeClient) finish(id uint32, n int, err error) {
	batch, ok := c.w.Take(id)
	if !ok {
		return
	}
	if err == nil && n != len(batch) {
		err = fmt.Errorf("answer %d has %d results for %d records", id, n, len(batch))
	}
	for _, call := range batch {
		if err != nil {
			call.Fail(sidecar.ReasonError, err)
		} else {
			call.Resolve(0, "", false)
		}
	}
}
