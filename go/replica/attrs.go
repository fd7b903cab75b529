package replica

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sigmagate/sigmagate/go/internal/onnxpb"
)

// attrs indexes a node's attributes by name.
type attrs map[string]*onnxpb.AttributeProto

func attrMap(n *onnxpb.NodeProto) attrs {
	a := make(attrs, len(n.GetAttribute()))
	for _, x := range n.GetAttribute() {
		a[x.GetName()] = x
	}
	return a
}

func (a attrs) int(name string, def int64) int64 {
	if x, ok := a[name]; ok {
		return x.GetI()
	}
	return def
}

func (a attrs) str(name, def string) string {
	if x, ok := a[name]; ok {
		return string(x.GetS())
	}
	return def
}

func (a attrs) ints(name string) []int64     { return a[name].GetInts() }
func (a attrs) floats(name string) []float32 { return a[name].GetFloats() }
func (a attrs) strs(name string) [][]byte    { return a[name].GetStrings() }

// constant is an initializer's values, flattened: float32 tensors as
// floats, int64 tensors as ints.
type constant struct {
	floats []float32
	ints   []int64
}

func decodeTensor(t *onnxpb.TensorProto) (constant, error) {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return constant{}, fmt.Errorf("initializer %s is stored outside the graph", t.GetName())
	}
	n := int64(1)
	for _, d := range t.GetDims() {
		n *= d
	}
	raw := t.GetRawData()
	switch onnxpb.TensorProto_DataType(t.GetDataType()) {
	case onnxpb.TensorProto_FLOAT:
		if raw == nil {
			return constant{floats: t.GetFloatData()}, nil
		}
		if int64(len(raw)) != 4*n {
			return constant{}, fmt.Errorf("initializer %s: %d raw bytes for %d floats", t.GetName(), len(raw), n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return constant{floats: out}, nil
	case onnxpb.TensorProto_INT64:
		if raw == nil {
			return constant{ints: t.GetInt64Data()}, nil
		}
		if int64(len(raw)) != 8*n {
			return constant{}, fmt.Errorf("initializer %s: %d raw bytes for %d int64s", t.GetName(), len(raw), n)
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return constant{ints: out}, nil
	}
	return constant{}, fmt.Errorf("initializer %s has data type %d; only float32 and int64 are replicated", t.GetName(), t.GetDataType())
}
