package replica

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sigmagate/sigmagate/go/internal/onnxpb"
)

// maxScratch bounds the per-decision working memory (float32s), which lives
// on the caller's stack: a decision allocates nothing.
const maxScratch = 256

type opcode uint8

const (
	opTrees opcode = iota
	opScaler
	opSigmoid
	opExp
	opAdd
	opSub
	opMul
	opDiv
	opSum
	opPick   // ArrayFeatureExtractor / Gather on axis 1: columns idx of a
	opConcat // columns of ins, in order
	opCopy   // Identity, Cast to float
)

// operand is a row of width w: in the scratch, or in the program's constants.
type operand struct {
	off, w int
	konst  bool
}

type step struct {
	op    opcode
	out   operand
	a, b  operand
	ins   []operand
	idx   []int
	trees *ensemble
	off   []float32 // Scaler
	scale []float32
}

// program is a graph compiled for one record at a time: a list of steps
// over rows of float32 (the batch dimension is always 1).
type program struct {
	nFeatures int
	steps     []step
	consts    []float32
	out       operand
	scratch   int
	trees     int // tree ensemble nodes, for Describe
}

// ErrUnsupported wraps every reason a graph cannot be replicated.
var ErrUnsupported = errors.New("graph cannot be replicated")

// compile turns the served graph into a program, or says why it cannot.
func compile(m *onnxpb.ModelProto, nFeatures int, inputName, outputName string) (*program, error) {
	g := m.GetGraph()
	if g == nil {
		return nil, fmt.Errorf("%w: the model has no graph", ErrUnsupported)
	}
	hasTrees := false
	for _, n := range g.GetNode() {
		hasTrees = hasTrees || strings.HasPrefix(n.GetOpType(), "TreeEnsemble")
	}
	if !hasTrees {
		return nil, fmt.Errorf("%w: the graph has no TreeEnsemble node (ops %v)", ErrUnsupported, opTypes(g))
	}
	c := compiler{p: &program{nFeatures: nFeatures}, vals: map[string]operand{}, ints: map[string][]int64{}}
	for _, t := range g.GetInitializer() {
		k, err := decodeTensor(t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		if k.ints != nil {
			c.ints[t.GetName()] = k.ints
			continue
		}
		c.vals[t.GetName()] = operand{off: len(c.p.consts), w: len(k.floats), konst: true}
		c.p.consts = append(c.p.consts, k.floats...)
	}
	var inputs []string
	for _, in := range g.GetInput() {
		if _, isInit := c.vals[in.GetName()]; !isInit && c.ints[in.GetName()] == nil {
			inputs = append(inputs, in.GetName())
		}
	}
	if len(inputs) != 1 || (inputName != "" && inputs[0] != inputName) {
		return nil, fmt.Errorf("%w: graph inputs %v, want one named %q", ErrUnsupported, inputs, inputName)
	}
	c.vals[inputs[0]] = c.alloc(nFeatures)
	for _, n := range g.GetNode() {
		if err := c.node(n); err != nil {
			return nil, fmt.Errorf("%w: node %q (%s): %w", ErrUnsupported, n.GetName(), n.GetOpType(), err)
		}
	}
	outs := g.GetOutput()
	if len(outs) != 1 || (outputName != "" && outs[0].GetName() != outputName) {
		return nil, fmt.Errorf("%w: graph has %d outputs, want one named %q", ErrUnsupported, len(outs), outputName)
	}
	o, ok := c.vals[outs[0].GetName()]
	if !ok || o.w != 1 || o.konst {
		return nil, fmt.Errorf("%w: output %q is not one computed value per record", ErrUnsupported, outs[0].GetName())
	}
	c.p.out = o
	if c.p.scratch > maxScratch {
		return nil, fmt.Errorf("%w: the graph needs %d floats of scratch per record (limit %d)", ErrUnsupported, c.p.scratch, maxScratch)
	}
	return c.p, nil
}

func opTypes(g *onnxpb.GraphProto) []string {
	var out []string
	for _, n := range g.GetNode() {
		out = append(out, n.GetOpType())
	}
	return out
}

type compiler struct {
	p    *program
	vals map[string]operand
	ints map[string][]int64
}

func (c *compiler) alloc(w int) operand {
	o := operand{off: c.p.scratch, w: w}
	c.p.scratch += w
	return o
}

func (c *compiler) in(n *onnxpb.NodeProto, i int) (operand, error) {
	if i >= len(n.GetInput()) {
		return operand{}, fmt.Errorf("missing input %d", i)
	}
	o, ok := c.vals[n.GetInput()[i]]
	if !ok {
		return operand{}, fmt.Errorf("input %q is not a float value computed before it", n.GetInput()[i])
	}
	return o, nil
}

func (c *compiler) node(n *onnxpb.NodeProto) error {
	dom := n.GetDomain()
	ml := dom == "ai.onnx.ml"
	if !ml && dom != "" && dom != "ai.onnx" {
		return fmt.Errorf("domain %q is not replicated", dom)
	}
	outs := n.GetOutput()
	if len(outs) == 0 {
		return errors.New("no outputs")
	}
	a := attrMap(n)
	s := step{}
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	s.a = x
	switch op := n.GetOpType(); {
	case ml && (op == "TreeEnsembleRegressor" || op == "TreeEnsembleClassifier"):
		if x.w != c.p.nFeatures || x.konst {
			return fmt.Errorf("input is %d wide, the model has %d features", x.w, c.p.nFeatures)
		}
		if s.trees, err = compileEnsemble(n); err != nil {
			return err
		}
		for _, nd := range s.trees.nodes {
			if int(nd.feat) >= c.p.nFeatures {
				return fmt.Errorf("a split reads feature %d of %d", nd.feat, c.p.nFeatures)
			}
		}
		s.op = opTrees
		c.p.trees += len(s.trees.nodes)
		w := 1
		if s.trees.classifier {
			w = 2
			if len(outs) != 2 {
				return errors.New("classifier without its probabilities output")
			}
			outs = outs[1:] // the label output must stay unused: nothing defines it
		}
		s.out = c.alloc(w)
	case ml && op == "Scaler":
		s.op, s.off, s.scale = opScaler, a.floats("offset"), a.floats("scale")
		if !fits(len(s.off), x.w) || !fits(len(s.scale), x.w) {
			return fmt.Errorf("offset/scale lengths %d/%d for a %d-wide input", len(s.off), len(s.scale), x.w)
		}
		s.out = c.alloc(x.w)
	case ml && op == "ArrayFeatureExtractor", !ml && op == "Gather":
		if !ml && a.int("axis", 0) != 1 {
			return fmt.Errorf("gather on axis %d (only columns, axis 1, are replicated)", a.int("axis", 0))
		}
		if len(n.GetInput()) != 2 || c.ints[n.GetInput()[1]] == nil {
			return errors.New("the indices are not an int64 initializer")
		}
		for _, i := range c.ints[n.GetInput()[1]] {
			if i < 0 || int(i) >= x.w {
				return fmt.Errorf("index %d of a %d-wide row", i, x.w)
			}
			s.idx = append(s.idx, int(i))
		}
		s.op, s.out = opPick, c.alloc(len(s.idx))
	case !ml && (op == "Sigmoid" || op == "Exp" || op == "Identity"):
		s.op = map[string]opcode{"Sigmoid": opSigmoid, "Exp": opExp, "Identity": opCopy}[op]
		s.out = c.alloc(x.w)
	case !ml && op == "Cast":
		if a.int("to", 0) != int64(onnxpb.TensorProto_FLOAT) {
			return fmt.Errorf("cast to type %d (only float32 is replicated)", a.int("to", 0))
		}
		s.op, s.out = opCopy, c.alloc(x.w)
	case !ml && (op == "Add" || op == "Sub" || op == "Mul" || op == "Div"):
		if s.b, err = c.in(n, 1); err != nil {
			return err
		}
		if !fits(s.a.w, s.b.w) && !fits(s.b.w, s.a.w) {
			return fmt.Errorf("widths %d and %d do not broadcast", s.a.w, s.b.w)
		}
		s.op = map[string]opcode{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv}[op]
		s.out = c.alloc(max(s.a.w, s.b.w))
	case !ml && (op == "Sum" || op == "Concat"):
		w := 0
		for i := range n.GetInput() {
			o, err := c.in(n, i)
			if err != nil {
				return err
			}
			s.ins = append(s.ins, o)
			if op == "Concat" {
				w += o.w
			} else {
				w = max(w, o.w)
			}
		}
		s.op = opConcat
		if op == "Sum" {
			s.op = opSum
			for _, o := range s.ins {
				if !fits(o.w, w) {
					return fmt.Errorf("widths do not broadcast to %d", w)
				}
			}
		} else if ax := a.int("axis", 0); ax != 1 && ax != -1 {
			return fmt.Errorf("concat on axis %d (only columns, axis 1, are replicated)", ax)
		}
		s.out = c.alloc(w)
	default:
		return fmt.Errorf("op %s is not replicated", op)
	}
	if len(outs) != 1 {
		return fmt.Errorf("%d outputs", len(outs))
	}
	c.vals[outs[0]] = s.out
	c.p.steps = append(c.p.steps, s)
	return nil
}

// fits: a row of width w broadcasts to width to.
func fits(w, to int) bool { return w == to || w == 1 }
