package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Error is a manifest that must not be used. Field is the JSON path of the
// value at fault ("default_threshold", "variants.fp32.sha256"), or "" when
// the document itself is at fault (not JSON, not an object). modelformat's
// ManifestError carries the same path for the same fault: the conformance
// cases in tests/vectors/manifests hold both to it.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Msg }

func fault(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// object is a JSON object that keeps its key order, so that checks run in
// document order, as modelformat's do.
type object struct {
	keys []string
	vals map[string]any
}

func (o *object) get(k string) (any, bool) { v, ok := o.vals[k]; return v, ok }

// decodeStrict parses b into objects, arrays, json.Number, string, bool and
// nil, refusing what encoding/json lets through: a key given twice in one
// object (it keeps the last, other readers the first) and trailing data.
func decodeStrict(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec, "")
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("data after the manifest object")
		}
	}
	var e *Error
	if err != nil && !errors.As(err, &e) {
		line := 1 + bytes.Count(b[:min(int(dec.InputOffset()), len(b))], []byte("\n"))
		return nil, fault("", "line %d: invalid JSON: %v", line, err)
	}
	return v, err
}

func decodeValue(dec *json.Decoder, at string) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string) // the decoder only yields string keys here
				if _, dup := o.vals[k]; dup {
					return nil, fault(at+k, "key %q is given twice; remove one (readers disagree on which one wins)", at+k)
				}
				v, err := decodeValue(dec, at+k+".")
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, k)
				o.vals[k] = v
			}
			_, err := dec.Token() // '}'
			return o, err
		case '[':
			var list []any
			for dec.More() {
				v, err := decodeValue(dec, at)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token() // ']'
			return list, err
		}
	}
	return tok, nil
}

// typeName names a decoded value's JSON type in errors, as modelformat does.
func typeName(v any) string {
	switch n := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		if isInt(n) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// isInt: a JSON integer is written without fraction or exponent (Python's
// json reads 1.0 and 1e3 as floats, so they are not integers anywhere).
func isInt(n json.Number) bool {
	_, err := strconv.ParseInt(string(n), 10, 64)
	return err == nil
}
