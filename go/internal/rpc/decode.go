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

// rpcError decodes the error element: nil, the protocol's map, or — from
// other msgpack-rpc implementations — a bare string.
func (d *Decoder) rpcError() (*Error, error) {
	code, err := d.dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case code == msgpcode.Nil:
		return nil, d.dec.DecodeNil()
	case msgpcode.IsString(code):
		s, err := d.dec.DecodeString()
		return &Error{Code: CodeInternal, Message: s, Record: -1}, err
	case !isMap(code):
		if err := d.skip(0); err != nil {
			return nil, err
		}
		return &Error{Code: CodeInternal, Message: fmt.Sprintf("error value of msgpack code 0x%02x", code), Record: -1}, nil
	}
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	e := &Error{Record: -1}
	for i := 0; i < n; i++ {
		kc, err := d.dec.PeekCode()
		if err != nil {
			return nil, err
		}
		if !msgpcode.IsString(kc) {
			if err := d.skip(0); err != nil { // key
				return nil, err
			}
			if err := d.skip(0); err != nil { // value
				return nil, err
			}
			continue
		}
		key, err := d.dec.DecodeString()
		if err != nil {
			return nil, err
		}
		vc, err := d.dec.PeekCode()
		if err != nil {
			return nil, err
		}
		switch {
		case (key == "code" || key == "message" || key == "field") && msgpcode.IsString(vc):
			s, err := d.dec.DecodeString()
			if err != nil {
				return nil, err
			}
			switch key {
			case "code":
				e.Code = s
			case "message":
				e.Message = s
			default:
				e.Field = s
			}
		case (key == "record" || key == "field") && isInt(vc):
			v, err := d.dec.DecodeInt64()
			if err != nil {
				return nil, err
			}
			if key == "record" {
				if v >= 0 && v <= math.MaxInt32 {
					e.Record = int(v)
				}
			} else {
				e.Field = fmt.Sprint(v)
			}
		default:
			if err := d.skip(0); err != nil {
				return nil, err
			}
		}
	}
	if e.Code == "" {
		e.Code = CodeInternal
	}
	return e, nil
}

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

// Unmarshal decodes raw Params or Result bytes into v.
func Unmarshal(raw []byte, v any) error {
	return msgpack.Unmarshal(raw, v)
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
