package rpc

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func decodeAll(t *testing.T, b []byte) []Message {
	t.Helper()
	d := NewDecoder(bytes.NewReader(b))
	var out []Message
	for {
		var m Message
		err := d.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode message %d: %v", len(out), err)
		}
		out = append(out, m)
	}
}

func TestPredictRequestDecodesToFloat32Records(t *testing.T) {
	e := NewEncoder()
	recs := [][]float32{{0.5, -0.25, 1.75}, {1, 2, 3}}
	if err := e.Predict(7, recs); err != nil {
		t.Fatal(err)
	}
	var got []any
	if err := msgpack.Unmarshal(e.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []any{int8(0), int8(7), "predict", []any{[]any{[]any{float32(0.5), float32(-0.25), float32(1.75)}, []any{float32(1), float32(2), float32(3)}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	ms := decodeAll(t, e.Bytes())
	if len(ms) != 1 || ms[0].Type != TypeRequest || ms[0].MsgID != 7 || ms[0].Method != "predict" {
		t.Fatalf("decoded %+v", ms)
	}
}

func TestBackToBackMessagesDecodeInOrder(t *testing.T) {
	e := NewEncoder()
	if err := e.Notification("ready", map[string]any{"protocol": 1, "pid": 42, "model": nil, "error": "no model"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Response(3, nil, map[string]any{"p": []float64{0.25, 0.75}, "version": "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Response(1<<32-1, &Error{Code: CodeBadFeatures, Message: "NaN", Record: 2, Field: "price_dist"}, nil); err != nil {
		t.Fatal(err)
	}
	ms := decodeAll(t, e.Bytes())
	if len(ms) != 3 {
		t.Fatalf("got %d messages", len(ms))
	}
	var params []Info
	if err := Unmarshal(ms[0].Params, &params); err != nil {
		t.Fatal(err)
	}
	if ms[0].Type != TypeNotification || ms[0].Method != "ready" || params[0].PID != 42 || params[0].Model != nil || *params[0].Error != "no model" {
		t.Fatalf("ready = %+v %+v", ms[0], params)
	}
	var res PredictResult
	if err := Unmarshal(ms[1].Result, &res); err != nil {
		t.Fatal(err)
	}
	if ms[1].MsgID != 3 || ms[1].Error != nil || !reflect.DeepEqual(res.P, []float64{0.25, 0.75}) || res.Version != "v1" {
		t.Fatalf("response = %+v %+v", ms[1], res)
	}
	want := &Error{Code: CodeBadFeatures, Message: "NaN", Record: 2, Field: "price_dist"}
	if ms[2].MsgID != 1<<32-1 || !reflect.DeepEqual(ms[2].Error, want) {
		t.Fatalf("error response = %+v %+v", ms[2], ms[2].Error)
	}
	if got := ms[2].Error.Error(); got != "infer: bad_features: NaN (record 2, field price_dist)" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestErrorShapesFromOtherImplementationsAndProtocol1(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want Error
	}{
		{"array without details", []any{"no_model", "none loaded"}, Error{Code: "no_model", Message: "none loaded", Record: -1}},
		{"array with details", []any{"bad_features", "NaN", map[string]any{"record": 3, "field": "tick_ratio"}}, Error{Code: "bad_features", Message: "NaN", Record: 3, Field: "tick_ratio"}},
		{"neovim numeric type", []any{1, "validation"}, Error{Code: "1", Message: "validation", Record: -1}},
		{"protocol 1 map", map[string]any{"code": "bad_features", "message": "NaN", "record": 1, "field": "price_dist"}, Error{Code: "bad_features", Message: "NaN", Record: 1, Field: "price_dist"}},
		{"empty array", []any{}, Error{Code: CodeInternal, Record: -1}},
		{"array of odd types", []any{nil, 5, []any{1}, "extra"}, Error{Code: CodeInternal, Record: -1}},
	}
	for _, c := range cases {
		b, _ := msgpack.Marshal([]any{1, 9, c.in, nil})
		ms := decodeAll(t, b)
		if ms[0].Error == nil || *ms[0].Error != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, ms[0].Error, c.want)
		}
	}
}

func TestStringErrorFromOtherImplementationsIsKept(t *testing.T) {
	b, _ := msgpack.Marshal([]any{1, 9, "boom", nil})
	ms := decodeAll(t, b)
	if ms[0].Error == nil || ms[0].Error.Message != "boom" {
		t.Fatalf("got %+v", ms[0].Error)
	}
}

func TestMalformedMessagesAreRejected(t *testing.T) {
	cases := map[string]any{
		"not an array":          map[string]any{"a": 1},
		"too short":             []any{1, 2},
		"unknown type":          []any{5, 1, nil, nil},
		"response with 3 items": []any{1, 1, nil},
		"negative msgid":        []any{1, -1, nil, nil},
		"msgid over 32 bits":    []any{1, uint64(1) << 33, nil, nil},
		"method not a string":   []any{2, 5, []any{}},
		"params not an array":   []any{2, "ready", map[string]any{}},
	}
	for name, v := range cases {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m Message
		if err := NewDecoder(bytes.NewReader(b)).Decode(&m); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%s: decoded %+v, want an error", name, m)
		}
	}
}

func TestTruncatedMessageIsUnexpectedEOF(t *testing.T) {
	e := NewEncoder()
	_ = e.Response(1, nil, []float64{1, 2, 3})
	b := e.Bytes()
	var m Message
	err := NewDecoder(bytes.NewReader(b[:len(b)-3])).Decode(&m)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestMessageOverOneMiBIsRejected(t *testing.T) {
	big := make([]float64, MaxMessageSize/8)
	e := NewEncoder()
	_ = e.Response(1, nil, big)
	var m Message
	if err := NewDecoder(bytes.NewReader(e.Bytes())).Decode(&m); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	// Just under the limit passes, and the limit is per message.
	e.Reset()
	ok := make([]byte, MaxMessageSize-64)
	_ = e.Response(1, nil, ok)
	_ = e.Response(2, nil, ok)
	if ms := decodeAll(t, e.Bytes()); len(ms) != 2 {
		t.Fatalf("got %d messages", len(ms))
	}
}

func TestDeepNestingIsRejectedWithoutRecursingFar(t *testing.T) {
	b := []byte{0x94, 0x01, 0x01, 0xc0}
	for i := 0; i < 100000; i++ {
		b = append(b, 0x91)
	}
	b = append(b, 0xc0)
	var m Message
	if err := NewDecoder(bytes.NewReader(b)).Decode(&m); err == nil {
		t.Fatal("decoded a 100000-deep result")
	}
}

func TestFloatParamsSurviveRoundTrip(t *testing.T) {
	e := NewEncoder()
	vals := []float32{math.MaxFloat32, math.SmallestNonzeroFloat32, -0}
	_ = e.Predict(1, [][]float32{vals})
	ms := decodeAll(t, e.Bytes())
	var params [][][]float32
	if err := Unmarshal(ms[0].Params, &params); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(params[0][0], vals) {
		t.Fatalf("got %v", params[0][0])
	}
}

// FuzzDecodeMessage feeds arbitrary bytes to the decoder: it must never
// panic, must stop at every message boundary it reports, and a message it
// accepts must be well formed.
func FuzzDecodeMessage(f *testing.F) {
	e := NewEncoder()
	_ = e.Predict(1, [][]float32{{1, 2, 3}})
	f.Add(append([]byte(nil), e.Bytes()...))
	e.Reset()
	_ = e.Response(2, &Error{Code: "bad_features", Message: "x", Record: 0, Field: "0"}, nil)
	_ = e.Notification("ready", map[string]any{"protocol": 1})
	f.Add(append([]byte(nil), e.Bytes()...))
	f.Add([]byte{0x94, 0x01, 0xce, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xdd, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0x93, 0x02, 0xdb, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(bytes.NewReader(data))
		for i := 0; i < 64; i++ {
			var m Message
			if err := d.Decode(&m); err != nil {
				return
			}
			switch m.Type {
			case TypeRequest, TypeNotification:
				if len(m.Params) == 0 || !isArray(m.Params[0]) {
					t.Fatalf("accepted params %x", m.Params)
				}
			case TypeResponse:
				if len(m.Result) == 0 {
					t.Fatal("accepted a response with no result bytes")
				}
				if m.Error != nil && m.Error.Code == "" {
					t.Fatal("error without a code")
				}
			default:
				t.Fatalf("accepted type %d", m.Type)
			}
			// Captured bytes must be exactly one complete MessagePack value.
			for _, raw := range [][]byte{m.Params, m.Result} {
				if raw == nil {
					continue
				}
				r := bytes.NewReader(raw)
				if err := msgpack.NewDecoder(r).Skip(); err != nil || r.Len() != 0 {
					t.Fatalf("captured bytes %x are not one value (err %v, %d left)", raw, err, r.Len())
				}
			}
		}
	})
}
