package rpc

import (
	"bufio"
	"fmt"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// raw returns the bytes of the next value, checking its nesting depth.
func (d *Decoder) raw() ([]byte, error) {
	d.src.rec = d.src.rec[:0]
	d.src.recording = true
	err := d.skip(0)
	d.src.recording = false
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), d.src.rec...), nil
}

// skip consumes one value. Containers are walked here, with a depth bound,
// rather than by msgpack's recursive Skip.
func (d *Decoder) skip(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("rpc: values nested deeper than %d", maxDepth)
	}
	code, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	var n int
	switch {
	case isArray(code):
		if n, err = d.dec.DecodeArrayLen(); err != nil {
			return err
		}
	case isMap(code):
		if n, err = d.dec.DecodeMapLen(); err != nil {
			return err
		}
		n *= 2
	default:
		return d.dec.Skip()
	}
	for i := 0; i < n; i++ {
		if err := d.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

func isArray(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

func isMap(c byte) bool {
	return msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
}

func isInt(c byte) bool {
	return msgpcode.IsFixedNum(c) || (c >= msgpcode.Uint8 && c <= msgpcode.Int64)
}

// meter sits between msgpack's decoder and the buffered stream: it enforces
// the per-message size limit and, while recording, keeps the bytes consumed.
type meter struct {
	r         *bufio.Reader
	remaining int
	read      int
	recording bool
	rec       []byte
}

func (m *meter) ReadByte() (byte, error) {
	if m.remaining <= 0 {
		return 0, ErrTooLarge
	}
	b, err := m.r.ReadByte()
	if err != nil {
		return 0, err
	}
	m.remaining--
	m.read++
	if m.recording {
		m.rec = append(m.rec, b)
	}
	return b, nil
}

func (m *meter) UnreadByte() error {
	if err := m.r.UnreadByte(); err != nil {
		return err
	}
	m.remaining++
	m.read--
	if m.recording && len(m.rec) > 0 {
		m.rec = m.rec[:len(m.rec)-1]
	}
	return nil
}

func (m *meter) Read(p []byte) (int, error) {
	if m.remaining <= 0 {
		return 0, ErrTooLarge
	}
	if len(p) > m.remaining {
		p = p[:m.remaining]
	}
	n, err := m.r.Read(p)
	m.remaining -= n
	m.read += n
	if m.recording {
		m.rec = append(m.rec, p[:n]...)
	}
	return n, err
}
