package rpc

import (
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

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
