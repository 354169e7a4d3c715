"""Turn the ONNX graphs shipped in pip packages into fast torch modules, once, at start.

onnx2torch does the conversion, but it refuses two things these graphs contain (opset 18 and
``Reshape(allowzero=1)``) and it spells GELU as five separate elementwise modules, which on CPU
cost as much time as all the convolutions of the safety classifier. The fixes live here; the
tests check every converted module against onnxruntime on the same input.
"""

from __future__ import annotations

import math
import operator

import onnx
import torch
from onnx import version_converter
from onnx2torch import convert
from onnx2torch.node_converters.activations import OnnxErf
from onnx2torch.node_converters.binary_math_operations import (
    _TORCH_FUNCTION_FROM_ONNX_TYPE as ONNX_BINARY_OPS,
)
from onnx2torch.node_converters.binary_math_operations import OnnxBinaryMathOperation
from torch import fx

# onnx2torch converts opset <= 17 (opset 18 moved the Reduce* axes to an input).
_ONNX2TORCH_MAX_OPSET = 17


def onnx_to_torch(model_bytes: bytes) -> torch.nn.Module:
    """An eval-mode torch module computing what the ONNX graph computes."""
    model = onnx.load_from_string(model_bytes)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset > _ONNX2TORCH_MAX_OPSET:
        model = version_converter.convert_version(model, _ONNX2TORCH_MAX_OPSET)
    _drop_reshape_allowzero(model)
    module: fx.GraphModule = convert(model)
    fuse_gelu(module)
    return module.eval()


def _drop_reshape_allowzero(model: onnx.ModelProto) -> None:
    # allowzero=1 differs from 0 only when a target shape holds a literal 0. The safety graph
    # reshapes to (batch, positive constants), and onnx2torch refuses the attribute.
    for node in model.graph.node:
        if node.op_type == "Reshape":
            for attribute in node.attribute:
                if attribute.name == "allowzero":
                    attribute.i = 0


def fuse_gelu(module: fx.GraphModule) -> int:
    """Replace each ``x * (0.5 * (1 + erf(x / sqrt(2))))`` by one exact ``F.gelu(x)``."""
    fused = 0
    for erf in list(module.graph.nodes):
        chain = _gelu_chain(module, erf)
        if chain is None:
            continue
        x, nodes = chain
        with module.graph.inserting_before(nodes[-1]):
            gelu = module.graph.call_function(torch.nn.functional.gelu, (x,))
        nodes[-1].replace_all_uses_with(gelu)
        for node in reversed(nodes):
            module.graph.erase_node(node)
        fused += 1
    module.graph.lint()
    module.delete_all_unused_submodules()
    module.recompile()
    return fused


def _gelu_chain(module: fx.GraphModule, erf: fx.Node) -> tuple[fx.Node, list[fx.Node]] | None:
    """(x, [div, erf, add, mul_half, mul_x]) when ``erf`` sits in an exported GELU, else None."""
    if erf.op != "call_module" or not isinstance(module.get_submodule(str(erf.target)), OnnxErf):
        return None
    div = erf.args[0]
    add = _only_user(erf)
    mul_half = _only_user(add) if add is not None else None
    mul_x = _only_user(mul_half) if mul_half is not None else None
    if not isinstance(div, fx.Node) or add is None or mul_half is None or mul_x is None:
        return None
    x = div.args[0]
    if not isinstance(x, fx.Node):
        return None
    matches = (
        _is(_constant_operand(module, div, "Div", x), math.sqrt(2.0)),
        _is(_constant_operand(module, add, "Add", erf), 1.0),
        _is(_constant_operand(module, mul_half, "Mul", add), 0.5),
        _binary_op(module, mul_x) == "Mul" and set(mul_x.args) == {x, mul_half},
    )
    return (x, [div, erf, add, mul_half, mul_x]) if all(matches) else None


def _only_user(node: fx.Node) -> fx.Node | None:
    return next(iter(node.users)) if len(node.users) == 1 else None


def _is(value: float | None, expected: float) -> bool:
    return value is not None and math.isclose(value, expected, rel_tol=1e-6)


def _binary_op(module: fx.GraphModule, node: fx.Node) -> str | None:
    """'Add', 'Sub', 'Mul' or 'Div' for a plain (broadcasting) onnx2torch binary op."""
    if node.op != "call_module":
        return None
    submodule = module.get_submodule(str(node.target))
    if not isinstance(submodule, OnnxBinaryMathOperation) or submodule.broadcast == 1:
        return None
    names = [k for k, f in ONNX_BINARY_OPS.items() if f is submodule.math_op_function]
    return names[0] if names else None


def _constant_operand(
    module: fx.GraphModule, node: fx.Node, op: str, operand: fx.Node
) -> float | None:
    """The scalar constant that ``node`` combines with ``operand`` by ``op``, if that is what
    it does (for Div, ``operand`` must be the dividend)."""
    if _binary_op(module, node) != op or len(node.args) != 2 or operand not in node.args:
        return None
    if op == "Div" and node.args[0] is not operand:
        return None
    other = node.args[1] if node.args[0] is operand else node.args[0]
    if not isinstance(other, fx.Node) or other.op != "get_attr":
        return None
    value = operator.attrgetter(str(other.target))(module)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        return None
    return float(value)
