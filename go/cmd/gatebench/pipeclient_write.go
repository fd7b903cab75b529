//go:build unix

package main

import (
	"fmt"
	"slices"
)

// sendNow writes pc's request from the caller's goroutine when nothing is
// queued, the writer is idle and a slot is free; false, having done nothing,
// otherwise.
func (c *pipeClient) sendNow(pc *pcall) bool {
	if len(c.queue) != 0 || !c.wmu.TryLock() {
		return false
	}
	defer c.wmu.Unlock()
	select {
	case c.slots <- struct{}{}:
	default:
		return false
	}
	c.send([]*pcall{pc})
	return true
}

func (c *pipeClient) writeLoop() {
	batch := make([]*pcall, 0, c.maxBatch)
	for {
		c.slots <- struct{}{}
		first, ok := <-c.queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
	drain:
		for len(batch) < c.maxBatch {
			select {
			case pc := <-c.queue:
				batch = append(batch, pc)
			default:
				break drain
			}
		}
		c.wmu.Lock()
		c.send(slices.Clone(batch))
		c.wmu.Unlock()
	}
}

// send encodes owned as one request and writes it; c.wmu must be held and a
// slot taken. On failure it frees the slot and fails every call of owned.
func (c *pipeClient) send(owned []*pcall) {
	c.id++
	id := c.id
	c.enc.Reset()
	recs := c.recs[:0]
	for _, pc := range owned {
		recs = append(recs, pc.rec)
	}
	err := c.enc.Predict(id, recs)
	if err != nil {
		err = fmt.Errorf("encode request %d: %w", id, err)
	}
	c.mu.Lock()
	if err == nil && c.broken != nil {
		err = c.broken
	}
	if err == nil {
		c.pending[id] = owned
	}
	c.mu.Unlock()
	if err == nil {
		c.records.Add(int64(len(owned)))
		c.batches.Add(1)
		if _, werr := c.stdin.Write(c.enc.Bytes()); werr != nil {
			c.mu.Lock()
			_, still := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if !still {
				return // the reader saw the child die and has failed this batch already
			}
			err = fmt.Errorf("write request %d: %w", id, werr)
		}
	}
	if err != nil {
		<-c.slots
		for _, pc := range owned {
			pc.done <- err
		}
	}
}
