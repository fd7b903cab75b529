package predictor

import (
	"bytes"
	"testing"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

func microResp(b *testing.B) []byte {
	enc := rpc.NewEncoder()
	ood := false
	_ = enc.Response(7, nil, map[string]any{"p": []float64{0.123}, "approve": []bool{false}, "threshold": 0.65, "version": "20261124T020000Z-3f2a1c9b", "ood": []bool{ood}})
	return append([]byte(nil), enc.Bytes()...)
}

func BenchmarkMicroDecodeMessage(b *testing.B) {
	raw := bytes.Repeat(microResp(b), b.N)
	var m rpc.Message
	dec := rpc.NewDecoder(bytes.NewReader(raw))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = dec.Decode(&m)
	}
}

func BenchmarkMicroUnmarshalResult(b *testing.B) {
	raw := microResp(b)
	var m rpc.Message
	_ = rpc.NewDecoder(bytes.NewReader(raw)).Decode(&m)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var res rpc.PredictResult
		_ = rpc.Unmarshal(m.Result, &res)
	}
}

func BenchmarkMicroEncodePredict(b *testing.B) {
	enc := rpc.NewEncoder()
	rec := [][]float32{{0.1, 0.2, 0.3}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		enc.Reset()
		_ = enc.Predict(1, rec)
	}
}
