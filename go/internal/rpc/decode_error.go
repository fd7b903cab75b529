package rpc

import (
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// rpcError decodes the error element of a response: nil; the protocol's
// array [code, message] or [code, message, {"record", "field"}]; and, from
// other msgpack-rpc implementations or a protocol 1 sidecar, a bare string or
// a map {"code", "message", "record", "field"}.
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
	case isArray(code):
		return d.arrayError()
	case isMap(code):
		e := &Error{Record: -1}
		if err := d.errorDetails(e, true); err != nil {
			return nil, err
		}
		if e.Code == "" {
			e.Code = CodeInternal
		}
		return e, nil
	}
	if err := d.skip(0); err != nil {
		return nil, err
	}
	return &Error{Code: CodeInternal, Message: fmt.Sprintf("error value of msgpack code 0x%02x", code), Record: -1}, nil
}

// arrayError decodes [code, message, details?]. An element of another type
// is skipped; a numeric code (neovim's convention) becomes its decimal text.
func (d *Decoder) arrayError() (*Error, error) {
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return nil, err
	}
	e := &Error{Record: -1}
	for i := 0; i < n; i++ {
		c, err := d.dec.PeekCode()
		if err != nil {
			return nil, err
		}
		switch {
		case i < 2 && msgpcode.IsString(c):
			s, err := d.dec.DecodeString()
			if err != nil {
				return nil, err
			}
			if i == 0 {
				e.Code = s
			} else {
				e.Message = s
			}
		case i == 0 && isInt(c):
			v, err := d.dec.DecodeInt64()
			if err != nil {
				return nil, err
			}
			e.Code = fmt.Sprint(v)
		case i == 2 && isMap(c):
			if err := d.errorDetails(e, false); err != nil {
				return nil, err
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

// errorDetails decodes a map of error fields into e: "record" and "field"
// always, "code" and "message" too when withText (the protocol 1 error map).
func (d *Decoder) errorDetails(e *Error, withText bool) error {
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		kc, err := d.dec.PeekCode()
		if err != nil {
			return err
		}
		if !msgpcode.IsString(kc) {
			if err := d.skip(0); err != nil { // key
				return err
			}
			if err := d.skip(0); err != nil { // value
				return err
			}
			continue
		}
		key, err := d.dec.DecodeString()
		if err != nil {
			return err
		}
		vc, err := d.dec.PeekCode()
		if err != nil {
			return err
		}
		text := key == "field" || (withText && (key == "code" || key == "message"))
		switch {
		case text && msgpcode.IsString(vc):
			s, err := d.dec.DecodeString()
			if err != nil {
				return err
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
				return err
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
				return err
			}
		}
	}
	return nil
}
