package rpc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Decoder reads back-to-back msgpack-rpc messages from a stream. After any
// error other than a clean io.EOF between messages the stream is out of sync
// and the Decoder must be discarded (the predictor then restarts the child).
type Decoder struct {
	src meter
	dec *msgpack.Decoder
}

// NewDecoder reads from r through its own buffer.
func NewDecoder(r io.Reader) *Decoder {
	d := &Decoder{src: meter{r: bufio.NewReaderSize(r, 64<<10)}}
	d.dec = msgpack.NewDecoder(&d.src)
	return d
}

// Decode reads the next message into m. It returns io.EOF only when the
// stream ends cleanly between two messages.
func (d *Decoder) Decode(m *Message) error {
	*m = Message{}
	d.src.remaining = MaxMessageSize
	d.src.read = 0
	err := d.decode(m)
	if err != nil && d.src.read > 0 && errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (d *Decoder) decode(m *Message) error {
	code, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	if !isArray(code) {
		return fmt.Errorf("rpc: message is not an array (first byte 0x%02x)", code)
	}
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return fmt.Errorf("rpc: message header: %w", err)
	}
	if n < 3 || n > 4 {
		return fmt.Errorf("rpc: message has %d elements, want 3 or 4", n)
	}
	typ, err := d.dec.DecodeInt64()
	if err != nil {
		return fmt.Errorf("rpc: message type: %w", err)
	}
	m.Type = int(typ)
	switch {
	case typ == TypeRequest && n == 4:
		if m.MsgID, err = d.msgid(); err != nil {
			return err
		}
		if m.Method, err = d.method(); err != nil {
			return err
		}
		m.Params, err = d.params()
		return err
	case typ == TypeResponse && n == 4:
		if m.MsgID, err = d.msgid(); err != nil {
			return err
		}
		if m.Error, err = d.rpcError(); err != nil {
			return err
		}
		if m.Result, err = d.raw(); err != nil {
			return fmt.Errorf("rpc: response %d result: %w", m.MsgID, err)
		}
		return nil
	case typ == TypeNotification && n == 3:
		if m.Method, err = d.method(); err != nil {
			return err
		}
		m.Params, err = d.params()
		return err
	}
	return fmt.Errorf("rpc: message type %d with %d elements is not a request, response or notification", typ, n)
}

func (d *Decoder) msgid() (uint32, error) {
	v, err := d.dec.DecodeInt64()
	if err != nil {
		return 0, fmt.Errorf("rpc: msgid: %w", err)
	}
	if v < 0 || v > math.MaxUint32 {
		return 0, fmt.Errorf("rpc: msgid %d is not an unsigned 32-bit integer", v)
	}
	return uint32(v), nil
}

func (d *Decoder) method() (string, error) {
	code, err := d.dec.PeekCode()
	if err != nil {
		return "", err
	}
	if !msgpcode.IsString(code) {
		return "", fmt.Errorf("rpc: method is not a string (code 0x%02x)", code)
	}
	s, err := d.dec.DecodeString()
	if err != nil {
		return "", fmt.Errorf("rpc: method: %w", err)
	}
	return s, nil
}

func (d *Decoder) params() ([]byte, error) {
	code, err := d.dec.PeekCode()
	if err != nil {
		return nil, err
	}
	if !isArray(code) {
		return nil, fmt.Errorf("rpc: params is not an array (code 0x%02x)", code)
	}
	return d.raw()
}

// Unmarshal decodes raw Params or Result bytes into v.
func Unmarshal(raw []byte, v any) error {
	return msgpack.Unmarshal(raw, v)
}
