package sidecar

import (
	"encoding/binary"
	"math"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// resultDecoder decodes predict results on the reader goroutine. The
// sidecar's answer has one shape — a map of p, approve, threshold, version
// and ood, floats as float 64 — which is walked here without reflection or
// allocation (msgpack's reflection decoder costs about a microsecond and 18
// allocations per answer, a tenth of a pipe round trip). Anything else is
// left to rpc.Unmarshal, so both accept exactly the same inputs.
type resultDecoder struct {
	p       []float64 // reused: values are copied out before the next decode
	ood     []bool
	version string // the last version seen, reused while the bytes match
}

// decode fills res from raw; res.P and res.OOD alias the decoder's buffers
// and are valid until the next call.
func (d *resultDecoder) decode(raw []byte, res *rpc.PredictResult) error {
	if d.fast(raw, res) {
		return nil
	}
	*res = rpc.PredictResult{}
	return rpc.Unmarshal(raw, res)
}

// fast reports whether raw had the sidecar's usual shape and was decoded.
func (d *resultDecoder) fast(raw []byte, res *rpc.PredictResult) bool {
	r := reader{b: raw}
	n, ok := r.mapLen()
	if !ok || n != 5 {
		return false
	}
	var seen [5]bool
	d.p, d.ood = d.p[:0], d.ood[:0]
	*res = rpc.PredictResult{}
	for i := 0; i < n; i++ {
		key, ok := r.str()
		if !ok {
			return false
		}
		var k int
		switch string(key) { // no allocation: the compiler compares the bytes
		case "p":
			k = 0
			m, ok := r.arrayLen()
			if !ok {
				return false
			}
			for j := 0; j < m; j++ {
				x, ok := r.float()
				if !ok {
					return false
				}
				d.p = append(d.p, x)
			}
			res.P = d.p
		case "approve":
			k = 1
			if !r.boolsOrNil(func(bool) {}) {
				return false
			}
		case "threshold":
			k = 2
			x, ok := r.float()
			if !ok {
				return false
			}
			res.Threshold = x
		case "version":
			k = 3
			v, ok := r.str()
			if !ok {
				return false
			}
			if string(v) != d.version {
				d.version = string(v)
			}
			res.Version = d.version
		case "ood":
			k = 4
			isNil := r.peek() == 0xc0
			if !r.boolsOrNil(func(b bool) { d.ood = append(d.ood, b) }) {
				return false
			}
			if !isNil {
				res.OOD = d.ood
			}
		default:
			return false
		}
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return len(r.b) == 0
}

// reader walks msgpack bytes; every method reports false on any byte it
// does not expect, leaving the input to the general decoder.
type reader struct{ b []byte }

func (r *reader) peek() byte {
	if len(r.b) == 0 {
		return 0xc1 // never used by msgpack
	}
	return r.b[0]
}

func (r *reader) take(n int) ([]byte, bool) {
	if n < 0 || len(r.b) < n {
		return nil, false
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out, true
}

func (r *reader) length(fix, fixMask, c16, c32 byte) (int, bool) {
	c := r.peek()
	switch {
	case c&^fixMask == fix:
		r.b = r.b[1:]
		return int(c & fixMask), true
	case c == c16:
		h, ok := r.take(3)
		if !ok {
			return 0, false
		}
		return int(binary.BigEndian.Uint16(h[1:])), true
	case c == c32:
		h, ok := r.take(5)
		if !ok {
			return 0, false
		}
		n := binary.BigEndian.Uint32(h[1:])
		if n > rpc.MaxMessageSize { // cannot fit: let the general decoder say why
			return 0, false
		}
		return int(n), true
	}
	return 0, false
}

func (r *reader) mapLen() (int, bool)   { return r.length(0x80, 0x0f, 0xde, 0xdf) }
func (r *reader) arrayLen() (int, bool) { return r.length(0x90, 0x0f, 0xdc, 0xdd) }

func (r *reader) str() ([]byte, bool) {
	c := r.peek()
	var n int
	switch {
	case c&0xe0 == 0xa0:
		r.b = r.b[1:]
		n = int(c & 0x1f)
	case c == 0xd9:
		h, ok := r.take(2)
		if !ok {
			return nil, false
		}
		n = int(h[1])
	default: // longer strings never occur here
		return nil, false
	}
	return r.take(n)
}

func (r *reader) float() (float64, bool) {
	switch r.peek() {
	case 0xcb:
		h, ok := r.take(9)
		if !ok {
			return 0, false
		}
		return math.Float64frombits(binary.BigEndian.Uint64(h[1:])), true
	case 0xca:
		h, ok := r.take(5)
		if !ok {
			return 0, false
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(h[1:]))), true
	}
	return 0, false
}

// boolsOrNil reads nil or an array of booleans, passing each to f.
func (r *reader) boolsOrNil(f func(bool)) bool {
	if r.peek() == 0xc0 {
		r.b = r.b[1:]
		return true
	}
	n, ok := r.arrayLen()
	if !ok {
		return false
	}
	for i := 0; i < n; i++ {
		switch r.peek() {
		case 0xc2:
			f(false)
		case 0xc3:
			f(true)
		default:
			return false
		}
		r.b = r.b[1:]
	}
	return true
}
