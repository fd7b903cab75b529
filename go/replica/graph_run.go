// Running a compiled program on one record, on a stack-allocated scratch buffer.

package replica

import (
	"math"
)

// run evaluates the program on one record.
func (p *program) run(x []float32) float32 {
	var buf [maxScratch]float32
	s := buf[:p.scratch]
	copy(s, x[:p.nFeatures])
	for i := range p.steps {
		st := &p.steps[i]
		out := s[st.out.off : st.out.off+st.out.w]
		switch st.op {
		case opTrees:
			st.trees.eval(p.view(s, st.a), out)
		case opScaler:
			a := p.view(s, st.a)
			for j := range out {
				out[j] = float32(float32(a[j]-at(st.off, j)) * at(st.scale, j))
			}
		case opSigmoid:
			for j, v := range p.view(s, st.a) {
				out[j] = float32(1 / (1 + math.Exp(-float64(v))))
			}
		case opExp:
			for j, v := range p.view(s, st.a) {
				out[j] = exp32(v)
			}
		case opCopy:
			copy(out, p.view(s, st.a))
		case opAdd, opSub, opMul, opDiv:
			a, b := p.view(s, st.a), p.view(s, st.b)
			for j := range out {
				out[j] = arith(st.op, at(a, j), at(b, j))
			}
		case opSum:
			for j := range out {
				var v float32
				for k, o := range st.ins {
					if k == 0 {
						v = at(p.view(s, o), j)
					} else {
						v = float32(v + at(p.view(s, o), j))
					}
				}
				out[j] = v
			}
		case opPick:
			a := p.view(s, st.a)
			for j, i := range st.idx {
				out[j] = a[i]
			}
		case opConcat:
			j := 0
			for _, o := range st.ins {
				j += copy(out[j:], p.view(s, o))
			}
		}
	}
	return s[p.out.off]
}

func (p *program) view(s []float32, o operand) []float32 {
	if o.konst {
		return p.consts[o.off : o.off+o.w]
	}
	return s[o.off : o.off+o.w]
}

// at is row[j] with width-1 rows broadcast.
func at(row []float32, j int) float32 {
	if len(row) == 1 {
		return row[0]
	}
	return row[j]
}

func arith(op opcode, a, b float32) float32 {
	switch op {
	case opAdd:
		return float32(a + b)
	case opSub:
		return float32(a - b)
	case opMul:
		return float32(a * b)
	default:
		return float32(a / b)
	}
}
