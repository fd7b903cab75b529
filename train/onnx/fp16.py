"""FP16 conversion of an ONNX graph by an allow list of ops.

Why not onnxconverter-common's convert_float_to_float16 alone: on the graphs
skl2onnx writes it either produces models onnxruntime refuses (a float→float
Cast or Identity whose output it retypes to float16 while the node still says
float; ai.onnx.ml ops such as TreeEnsembleClassifier and Scaler have no
float16 kernels) or, with Cast in its block list, never returns. Here the
rule is explicit: only ops in FP16_OPS run in float16, every other node and
the graph's inputs and outputs stay float32, and Cast nodes are inserted at
each boundary. A graph with no such ops (a tree ensemble) comes out unchanged,
and the report says that FP16 buys nothing for it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Ops with float16 CPU kernels in onnxruntime that carry the bulk of an MLP.
FP16_OPS = frozenset({"MatMul", "Gemm", "Add", "Sub", "Mul", "Relu", "Sigmoid", "Tanh"})


def _float_tensors(model: onnx.ModelProto) -> set[str]:
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    out = {
        vi.name
        for vi in [*g.input, *g.output, *g.value_info]
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT
    }
    out |= {t.name for t in g.initializer if t.data_type == TensorProto.FLOAT}
    return out


def convert_to_fp16(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Return (converted copy, number of nodes now running in float16)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    floats = _float_tensors(m)
    inits = {t.name: t for t in g.initializer}
    graph_outputs = {o.name for o in g.output}
    half: set[str] = set()  # tensors that are float16 after conversion
    casts: dict[tuple[str, int], str] = {}  # (tensor, to) -> cast output name
    new_nodes: list[onnx.NodeProto] = []
    new_inits: list[onnx.TensorProto] = []
    converted = 0

    def cast(name: str, to: int) -> str:
        key = (name, to)
        if key not in casts:
            out = f"{name}__to{'16' if to == TensorProto.FLOAT16 else '32'}"
            new_nodes.append(helper.make_node("Cast", [name], [out], to=to))
            casts[key] = out
        return casts[key]

    for node in g.node:
        as_half = node.op_type in FP16_OPS and all(i in floats for i in node.input if i)
        ins = []
        for name in node.input:
            if not name:
                ins.append(name)
            elif as_half and name in inits and name not in half:
                h = f"{name}__fp16"
                if h not in {t.name for t in new_inits}:
                    arr = numpy_helper.to_array(inits[name]).astype(np.float16)
                    new_inits.append(numpy_helper.from_array(arr, h))
                ins.append(h)
            elif as_half and name not in half:
                ins.append(cast(name, TensorProto.FLOAT16))
            elif not as_half and name in half:
                ins.append(cast(name, TensorProto.FLOAT))
            else:
                ins.append(name)
        del node.input[:]
        node.input.extend(ins)
        if as_half:
            converted += 1
            originals = list(node.output)
            outs = [f"{o}__fp16out" if o in graph_outputs else o for o in originals]
            del node.output[:]
            node.output.extend(outs)
            half.update(outs)
            new_nodes.append(node)
            # A graph output keeps its name and float32 type through a final Cast.
            for o, renamed in zip(originals, outs, strict=True):
                if o != renamed:
                    new_nodes.append(helper.make_node("Cast", [renamed], [o], to=TensorProto.FLOAT))
            continue
        new_nodes.append(node)
    del g.node[:]
    g.node.extend(new_nodes)
    used = {i for n in g.node for i in n.input}
    kept = [t for t in [*g.initializer, *new_inits] if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    del g.value_info[:]  # stale float32 annotations would contradict the new types
    return m, converted
