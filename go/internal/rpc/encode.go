package rpc

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Encoder builds messages in an internal buffer; the caller writes Bytes()
// to the stream and calls Reset. Not safe for concurrent use: the predictor
// has exactly one writer.
type Encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

// NewEncoder returns an empty Encoder.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.UseCompactInts(true)
	return e
}

// Bytes returns the encoded messages since the last Reset.
func (e *Encoder) Bytes() []byte { return e.buf.Bytes() }

// Len is the number of encoded bytes since the last Reset.
func (e *Encoder) Len() int { return e.buf.Len() }

// Reset empties the buffer, keeping its memory.
func (e *Encoder) Reset() { e.buf.Reset() }

// Request appends [0, msgid, method, params], encoding params with msgpack's
// reflection encoder.
func (e *Encoder) Request(msgid uint32, method string, params ...any) error {
	if err := e.header(msgid, method); err != nil {
		return err
	}
	if err := e.enc.EncodeArrayLen(len(params)); err != nil {
		return err
	}
	for i, p := range params {
		if err := e.enc.Encode(p); err != nil {
			return fmt.Errorf("rpc: encode %s param %d: %w", method, i, err)
		}
	}
	return nil
}

// Predict appends [0, msgid, "predict", [records]] with each record an array
// of float32 (the sidecar accepts float 32). This is the hot path, so it
// avoids reflection. No threshold is sent: callers decide from p themselves,
// which lets one batch carry requests with different thresholds.
func (e *Encoder) Predict(msgid uint32, records [][]float32) error {
	if err := e.header(msgid, "predict"); err != nil {
		return err
	}
	if err := e.enc.EncodeArrayLen(1); err != nil {
		return err
	}
	if err := e.enc.EncodeArrayLen(len(records)); err != nil {
		return err
	}
	for _, r := range records {
		if err := e.enc.EncodeArrayLen(len(r)); err != nil {
			return err
		}
		for _, v := range r {
			if err := e.enc.EncodeFloat32(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Response appends [1, msgid, error, result]; used by tests playing the sidecar.
func (e *Encoder) Response(msgid uint32, rpcErr *Error, result any) error {
	if err := e.enc.EncodeArrayLen(4); err != nil {
		return err
	}
	if err := e.enc.EncodeUint(uint64(TypeResponse)); err != nil {
		return err
	}
	if err := e.enc.EncodeUint(uint64(msgid)); err != nil {
		return err
	}
	if rpcErr == nil {
		if err := e.enc.EncodeNil(); err != nil {
			return err
		}
	} else {
		v := []any{rpcErr.Code, rpcErr.Message}
		details := map[string]any{}
		if rpcErr.Record >= 0 {
			details["record"] = rpcErr.Record
		}
		if rpcErr.Field != "" {
			details["field"] = rpcErr.Field
		}
		if len(details) > 0 {
			v = append(v, details)
		}
		if err := e.enc.Encode(v); err != nil {
			return err
		}
	}
	return e.enc.Encode(result)
}

// Notification appends [2, method, params].
func (e *Encoder) Notification(method string, params ...any) error {
	if err := e.enc.EncodeArrayLen(3); err != nil {
		return err
	}
	if err := e.enc.EncodeUint(uint64(TypeNotification)); err != nil {
		return err
	}
	if err := e.enc.EncodeString(method); err != nil {
		return err
	}
	if params == nil {
		params = []any{}
	}
	return e.enc.Encode(params)
}

func (e *Encoder) header(msgid uint32, method string) error {
	if err := e.enc.EncodeArrayLen(4); err != nil {
		return err
	}
	if err := e.enc.EncodeUint(uint64(TypeRequest)); err != nil {
		return err
	}
	if err := e.enc.EncodeUint(uint64(msgid)); err != nil {
		return err
	}
	return e.enc.EncodeString(method)
}
