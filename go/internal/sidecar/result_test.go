package sidecar

import (
	"bytes"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// encodeResult encodes v as the sidecar would (a map, floats as float 64).
func encodeResult(t testing.TB, v any) []byte {
	t.Helper()
	enc := rpc.NewEncoder()
	if err := enc.Response(1, nil, v); err != nil {
		t.Fatal(err)
	}
	var m rpc.Message
	if err := rpc.NewDecoder(bytes.NewReader(enc.Bytes())).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m.Result
}

func TestResultDecoderMatchesReflectionDecoder(t *testing.T) {
	cases := map[string]any{
		"one record with ood": map[string]any{"p": []float64{0.25}, "approve": []bool{false}, "threshold": 0.65, "version": "v1", "ood": []bool{true}},
		"batch without ood":   map[string]any{"p": []float64{0.1, 0.9, 0.5}, "approve": []bool{false, true, false}, "threshold": 0.5, "version": "v2", "ood": nil},
		"float32 values":      map[string]any{"p": []float32{0.75}, "approve": []bool{true}, "threshold": float32(0.5), "version": "v3", "ood": nil},
		"integer threshold":   map[string]any{"p": []float64{0.75}, "approve": []bool{true}, "threshold": 1, "version": "v4", "ood": nil},
		"missing ood":         map[string]any{"p": []float64{0.75}, "approve": []bool{true}, "threshold": 0.5, "version": "v5"},
		"extra key":           map[string]any{"p": []float64{0.75}, "approve": []bool{true}, "threshold": 0.5, "version": "v6", "ood": nil, "x": 1},
		"nil probabilities":   map[string]any{"p": nil, "approve": nil, "threshold": 0.5, "version": "v7", "ood": nil},
		"long version":        map[string]any{"p": []float64{0.5}, "approve": []bool{true}, "threshold": 0.5, "version": string(make([]byte, 300)), "ood": nil},
	}
	var d resultDecoder
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			raw := encodeResult(t, v)
			var want, got rpc.PredictResult
			wantErr := rpc.Unmarshal(raw, &want)
			gotErr := d.decode(raw, &got)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("errors differ: reflection %v, fast %v", wantErr, gotErr)
			}
			if !sameResult(want, got) {
				t.Fatalf("results differ:\nreflection %+v\nfast       %+v", want, got)
			}
		})
	}
	// The usual shape takes the fast path.
	raw := encodeResult(t, cases["one record with ood"])
	var res rpc.PredictResult
	if !d.fast(raw, &res) || res.P[0] != 0.25 || !res.OOD[0] || res.Version != "v1" {
		t.Fatalf("the sidecar's usual answer missed the fast path: %+v", res)
	}
}

func TestResultDecoderReusesTheVersionString(t *testing.T) {
	var d resultDecoder
	raw := encodeResult(t, map[string]any{"p": []float64{0.5}, "approve": []bool{true}, "threshold": 0.5, "version": "same", "ood": nil})
	var res rpc.PredictResult
	if err := d.decode(raw, &res); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.decode(raw, &res) }); n != 0 {
		t.Fatalf("decoding a usual answer allocates %v times, want 0", n)
	}
}

// FuzzResultDecoder: on any bytes, the fast decoder either defers to the
// reflection decoder or agrees with it.
func FuzzResultDecoder(f *testing.F) {
	f.Add(encodeResult(f, map[string]any{"p": []float64{0.25}, "approve": []bool{false}, "threshold": 0.65, "version": "v1", "ood": []bool{true}}))
	f.Add(encodeResult(f, map[string]any{"p": []float64{0.1, 0.2}, "approve": []bool{false, false}, "threshold": 0.65, "version": "v1", "ood": nil}))
	f.Add([]byte{0x85, 0xa1, 'p', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var d resultDecoder
		var got rpc.PredictResult
		if !d.fast(raw, &got) {
			return
		}
		var want rpc.PredictResult
		if err := rpc.Unmarshal(raw, &want); err != nil {
			t.Fatalf("fast path accepted % x, reflection decoder refused it: %v", raw, err)
		}
		if !sameResult(want, got) {
			t.Fatalf("results differ on % x:\nreflection %+v\nfast       %+v", raw, want, got)
		}
	})
}

// sameResult compares the fields the predictor uses, treating nil and
// empty slices alike (the fast path reuses its buffers).
func sameResult(a, b rpc.PredictResult) bool {
	norm := func(r rpc.PredictResult) rpc.PredictResult {
		if len(r.P) == 0 {
			r.P = nil
		}
		if len(r.OOD) == 0 && r.OOD != nil {
			r.OOD = []bool{}
		}
		r.Approve = nil
		return r
	}
	a, b = norm(a), norm(b)
	return slices.EqualFunc(a.P, b.P, sameFloat) && sameFloat(a.Threshold, b.Threshold) && a.Version == b.Version &&
		len(a.OOD) == len(b.OOD) && (a.OOD == nil) == (b.OOD == nil) && reflect.DeepEqual(a.OOD, b.OOD)
}

// sameFloat compares bit patterns, so that NaN equals NaN.
func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// BenchmarkResultDecode compares the predictor's result decoder with
// msgpack's reflection decoder on a one-record answer.
func BenchmarkResultDecode(b *testing.B) {
	raw := encodeResult(b, map[string]any{"p": []float64{0.25}, "approve": []bool{false}, "threshold": 0.65, "version": "20261124T020000Z-3f2a1c9b", "ood": []bool{false}})
	b.Run("fast", func(b *testing.B) {
		var d resultDecoder
		var res rpc.PredictResult
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = d.decode(raw, &res)
		}
	})
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var res rpc.PredictResult
			_ = rpc.Unmarshal(raw, &res)
		}
	})
}
