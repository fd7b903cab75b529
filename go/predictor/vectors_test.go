package predictor

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sigmagate/sigmagate/go/internal/rpc"
)

// TestPredictorAgreesWithProtocolVectors serves the vectors' committed model
// through the predictor and checks that every array-record predict case of
// tests/vectors gets exactly the vector's probabilities, decisions, OOD
// flags and version — the predictor sends float 32 where the vectors send
// float 64, and the answers must not change.
func TestPredictorAgreesWithProtocolVectors(t *testing.T) {
	e := needSidecar(t)
	dir := filepath.Join(e.root, "tests", "vectors")
	b, err := os.ReadFile(filepath.Join(dir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf struct {
		Cases []struct{ Name, Session, Request, Mode, Expect string }
	}
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	h := start(t, Config{ModelDir: filepath.Join(dir, "model")})
	checked := 0
	for _, c := range vf.Cases {
		if c.Session != "model" || c.Mode != "bytes" {
			continue
		}
		reqB, _ := hex.DecodeString(c.Request)
		expB, _ := hex.DecodeString(c.Expect)
		var req, resp rpc.Message
		if rpc.NewDecoder(bytes.NewReader(reqB)).Decode(&req) != nil || req.Method != "predict" {
			continue
		}
		var params []any
		if rpc.Unmarshal(req.Params, &params) != nil || len(params) == 0 {
			continue
		}
		recs, ok := arrayRecords(params[0])
		if !ok {
			continue
		}
		if rpc.NewDecoder(bytes.NewReader(expB)).Decode(&resp) != nil || resp.Error != nil {
			continue
		}
		var want rpc.PredictResult
		if err := rpc.Unmarshal(resp.Result, &want); err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			d, err := h.p.DecideThreshold(ctxT(t), r, want.Threshold)
			if err != nil || d.Source != SourceModel {
				t.Fatalf("%s record %d: %+v %v", c.Name, i, d, err)
			}
			if d.Probability != want.P[i] || d.Approve != want.Approve[i] || d.ModelVersion != want.Version ||
				(want.OOD != nil && d.OutOfDistribution != want.OOD[i]) {
				t.Errorf("%s record %d: got p=%v approve=%v ood=%v %s, vector p=%v approve=%v ood=%v %s", c.Name, i,
					d.Probability, d.Approve, d.OutOfDistribution, d.ModelVersion, want.P[i], want.Approve[i], want.OOD, want.Version)
			}
			checked++
		}
	}
	if checked < 5 {
		t.Fatalf("only %d vector records checked", checked)
	}
}

// arrayRecords converts decoded array records to float32, refusing maps and
// values that float32 cannot carry exactly as the sidecar would see them.
func arrayRecords(v any) ([][]float32, bool) {
	rs, ok := v.([]any)
	if !ok {
		return nil, false
	}
	var out [][]float32
	for _, r := range rs {
		fs, ok := r.([]any)
		if !ok {
			return nil, false
		}
		rec := make([]float32, 0, len(fs))
		for _, f := range fs {
			var x float64
			switch n := f.(type) {
			case float64:
				x = n
			case float32:
				x = float64(n)
			case int8:
				x = float64(n)
			default:
				return nil, false
			}
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, false
			}
			rec = append(rec, float32(x))
		}
		out = append(out, rec)
	}
	return out, len(out) > 0
}
