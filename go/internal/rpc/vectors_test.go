package rpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// vectorFile is tests/vectors/vectors.json (format: tests/vectors/README.md).
type vectorFile struct {
	Protocol int `json:"protocol"`
	Cases    []struct {
		Name       string `json:"name"`
		Session    string `json:"session"`
		Request    string `json:"request"`
		Mode       string `json:"mode"`
		Expect     string `json:"expect"`
		ExpectCode string `json:"expect_code"`
	} `json:"cases"`
}

// repoFile reads a file of the repository (SIGMAGATE_ROOT, or three levels up).
func repoFile(t *testing.T, parts ...string) ([]byte, error) {
	t.Helper()
	root := os.Getenv("SIGMAGATE_ROOT")
	if root == "" {
		root = filepath.Join("..", "..", "..")
	}
	return os.ReadFile(filepath.Join(append([]string{root}, parts...)...))
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	b, err := repoFile(t, "tests", "vectors", "vectors.json")
	if err != nil {
		t.Fatalf("the cross-language vectors are part of the repository: %v", err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Protocol != ProtocolVersion || len(v.Cases) == 0 {
		t.Fatalf("vectors: protocol %d (this side speaks %d), %d cases", v.Protocol, ProtocolVersion, len(v.Cases))
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every expected sidecar output decodes to exactly one well-formed message,
// and a response answers the request's msgid.
func TestDecoderReadsEveryVectorResponse(t *testing.T) {
	for _, c := range loadVectors(t).Cases {
		if c.Mode == "code" || c.Expect == "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			out := unhex(t, c.Expect)
			r := bytes.NewReader(out)
			d := NewDecoder(r)
			var m Message
			if err := d.Decode(&m); err != nil {
				t.Fatalf("decode %x: %v", out, err)
			}
			if c.Mode == "bytes" {
				if err := d.Decode(&Message{}); !errors.Is(err, io.EOF) {
					t.Fatalf("expected exactly one message, then EOF; got %v", err)
				}
			}
			var req Message
			reqOK := NewDecoder(bytes.NewReader(unhex(t, c.Request))).Decode(&req) == nil && req.Type == TypeRequest
			switch m.Type {
			case TypeResponse:
				if reqOK && req.MsgID != m.MsgID {
					t.Fatalf("response msgid %d, request msgid %d", m.MsgID, req.MsgID)
				}
				if m.Error != nil {
					if !bytes.Equal(m.Result, []byte{0xc0}) || m.Error.Code == "" || m.Error.Message == "" {
						t.Fatalf("error response %+v result %x", m.Error, m.Result)
					}
					return
				}
				if reqOK && req.Method == "predict" {
					var res PredictResult
					if err := Unmarshal(m.Result, &res); err != nil {
						t.Fatal(err)
					}
					if len(res.P) == 0 || len(res.Approve) != len(res.P) || res.Version == "" {
						t.Fatalf("predict result %+v", res)
					}
					for i, p := range res.P {
						if res.Approve[i] != (p >= res.Threshold) {
							t.Fatalf("record %d: approve %v but p %v, threshold %v", i, res.Approve[i], p, res.Threshold)
						}
					}
				}
			case TypeNotification:
				if m.Method != "error" {
					t.Fatalf("unexpected notification %q", m.Method)
				}
				var ps []map[string]any
				if err := Unmarshal(m.Params, &ps); err != nil || len(ps) != 1 || ps[0]["code"] == nil {
					t.Fatalf("error notification params %v (%v)", ps, err)
				}
			default:
				t.Fatalf("sidecar sent message type %d", m.Type)
			}
		})
	}
}

// The error array of every error response decodes into Error with the code,
// message, record and field the sidecar sent.
func TestVectorErrorArraysDecode(t *testing.T) {
	seen := 0
	for _, c := range loadVectors(t).Cases {
		if c.Mode != "bytes" {
			continue
		}
		var m Message
		if err := NewDecoder(bytes.NewReader(unhex(t, c.Expect))).Decode(&m); err != nil || m.Type != TypeResponse || m.Error == nil {
			continue
		}
		var raw []any
		_ = msgpack.Unmarshal(unhex(t, c.Expect), &raw)
		ea, ok := raw[2].([]any)
		if !ok || len(ea) < 2 || len(ea) > 3 {
			t.Fatalf("%s: error element %v is not [code, message, details?]", c.Name, raw[2])
		}
		if m.Error.Code != ea[0] || m.Error.Message != ea[1] {
			t.Errorf("%s: decoded %+v from %v", c.Name, m.Error, ea)
		}
		if len(ea) == 3 {
			details := ea[2].(map[string]any)
			if rec, ok := details["record"]; ok && int64(m.Error.Record) != toInt(rec) {
				t.Errorf("%s: record %d, sent %v", c.Name, m.Error.Record, rec)
			}
			if f, ok := details["field"]; ok && m.Error.Field != f {
				t.Errorf("%s: field %q, sent %v", c.Name, m.Error.Field, f)
			}
		}
		seen++
	}
	if seen < 5 {
		t.Fatalf("only %d error responses in the vectors", seen)
	}
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	}
	return -1
}

// Our encoder writes the vectors' array-record requests byte for byte.
func TestEncoderReproducesVectorRequests(t *testing.T) {
	n := 0
	for _, c := range loadVectors(t).Cases {
		want := unhex(t, c.Request)
		var req Message
		if NewDecoder(bytes.NewReader(want)).Decode(&req) != nil || req.Type != TypeRequest || bytes.Contains(req.Params, []byte{0x80}) {
			continue
		}
		var params []any
		if err := Unmarshal(req.Params, &params); err != nil || hasMap(params) {
			continue
		}
		e := NewEncoder()
		if err := e.Request(req.MsgID, req.Method, params...); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Bytes(), want) {
			t.Errorf("%s:\n got %x\nwant %x", c.Name, e.Bytes(), want)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d requests compared", n)
	}
}

func hasMap(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return true
	case []any:
		for _, y := range x {
			if hasMap(y) {
				return true
			}
		}
	}
	return false
}

// The codes the Go side acts on are codes of the protocol's error table, so a
// renamed code fails here rather than silently never matching.
func TestGoErrorCodesAreInTheProtocolsTable(t *testing.T) {
	doc, err := repoFile(t, "docs", "PROTOCOL.md")
	if err != nil {
		t.Fatalf("docs/PROTOCOL.md is part of the repository: %v", err)
	}
	table := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` *\\|").FindAllSubmatch(doc, -1) {
		table[string(m[1])] = true
	}
	if len(table) < 5 {
		t.Fatalf("found %d codes in docs/PROTOCOL.md's error table: the table's layout changed", len(table))
	}
	for _, code := range []string{CodeBadFeatures, CodeNoModel, CodeInternal} {
		if !table[code] {
			t.Errorf("%q is not a code of docs/PROTOCOL.md's error table", code)
		}
	}
}
