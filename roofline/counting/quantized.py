"""Quantized (int8) models: their packed weights and the formulas of their kernels.

Eager-mode quantization (``torch.ao.quantization``: ``prepare``, calibrate,
``convert``; torchvision's ``models.quantization``) replaces convolutions and linear
layers by modules whose weights are *packed params*, a ``torch.ScriptObject``
(``Conv2dPackedParamsBase``, ``Conv3dPackedParamsBase``, ``LinearPackedParamsBase``),
not ``nn.Parameter`` tensors, and whose kernels are ``quantized::*`` ops that receive
that object as an argument. This module is what the rest of the counter needs of them:

* :func:`unpack` turns packed params into a :class:`Packed` (the weight and bias as
  :class:`~roofline.counting.formulas.T`, the convolution's groups, stride and
  direction). The counter hands formulas a :class:`Packed` where the op got packed
  params, so a formula still sees shapes and dtypes only, never values; and it adds
  the packed weight and bias to the op's bytes read (and weight bytes), by the
  generic rule: read once, at their dtype's size (int8 weight 1 byte an element,
  fp32 bias 4).
* :func:`packed_params` finds them in a model, so they count as its parameters.
* The formulas, registered in the one registry (:data:`formulas.REGISTRY`) when this
  module is imported (``roofline.counting.counter`` imports it).

Per element, as in ``docs/conventions.md`` (a comparison or a rounding is one FLOP):

* quantize ``q = clamp(round(x / s) + z, lo, hi)``: multiply by ``1/s``, round, add
  ``z``, clamp (2 comparisons) = :data:`QUANTIZE_FLOPS` (5);
* dequantize ``x = (q − z) · s`` = :data:`DEQUANTIZE_FLOPS` (2);
* requantize an int32 accumulator of a quantized conv or linear to the 8-bit output:
  subtract the input zero point's share (``z_x · Σw`` per output channel, precomputed
  once per weight, as fbgemm's column offsets), then quantize with the combined scale
  ``s_x · s_w / s_y`` = :data:`REQUANTIZE_FLOPS` (1 + 5 = 6);
* a fused ReLU (``conv2d_relu``, ``linear_relu``, ``add_relu``...) costs nothing: it
  only raises the clamp's lower bound to the output zero point.

Scales and zero points are not counted as bytes: the output's are scalars, and a
per-channel weight's (one scale and one zero point per output channel, 16 bytes as
torch stores them) are under 0.5% of the weight bytes of a whole model (ResNet-18:
about 9,600 channels against 11.7 MB of int8 weights, 0.3%).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import torch

from roofline.counting.formulas import (
    Args,
    Cost,
    Formula,
    T,
    _conv_class,
    _conv_dims,
    _first_out,
    _numel,
    _out_numel,
    at_rank,
    conv_macs,
    max_pool_cost,
    register,
)

QUANTIZE_FLOPS = 5
DEQUANTIZE_FLOPS = 2
REQUANTIZE_FLOPS = 1 + QUANTIZE_FLOPS

#: the script classes that hold a quantized conv's or linear layer's weights
PACKED_CLASSES = frozenset(
    {"Conv2dPackedParamsBase", "Conv3dPackedParamsBase", "LinearPackedParamsBase"}
)


class Packed(NamedTuple):
    """What a formula sees of packed params: the weight and bias (shape and dtype)
    and, for a convolution, its groups, stride and direction."""

    weight: T
    bias: T | None = None
    groups: int = 1
    stride: tuple[int, ...] = (1,)
    transposed: bool = False

    @property
    def numel(self) -> int:
        """Parameters: weight and bias elements."""
        return self.weight.numel + (self.bias.numel if self.bias is not None else 0)

    @property
    def nbytes(self) -> int:
        """Bytes of the weight and the bias, each at its own dtype's size."""
        return self.weight.nbytes + (self.bias.nbytes if self.bias is not None else 0)


def is_packed(x: Any) -> bool:
    """Whether ``x`` is the packed params of a quantized conv or linear layer."""
    if not isinstance(x, torch.ScriptObject):
        return False
    try:
        name = x._type().qualified_name()
    except Exception:  # a script object without a type name: not ours
        return False
    return name.rsplit(".", 1)[-1] in PACKED_CLASSES


def unpack(x: torch.ScriptObject) -> Packed:
    """The :class:`Packed` of packed params (:func:`is_packed`).

    ``unpack()`` gives the weight back as a quantized tensor (qint8: 1 byte an element)
    and the bias in fp32. A linear layer packed for fp16 (``quantize_dynamic`` with
    ``dtype=torch.float16``) unpacks to a float32 weight although it stores fp16: it
    is described as float16. A 1-D convolution is packed as a 2-D one with a
    ``1 x k`` kernel, which has the same element count and kernel volume.
    """
    w, b = x.unpack()
    wdtype = w.dtype if w.is_quantized else torch.float16
    weight = T(tuple(w.shape), wdtype)
    bias = T(tuple(b.shape), b.dtype) if b is not None else None
    if "Conv" not in x._type().qualified_name():
        return Packed(weight, bias)
    return Packed(
        weight,
        bias,
        groups=int(x.groups()),
        stride=tuple(int(s) for s in x.stride()),
        transposed=bool(x.transpose()),
    )


def packed_params(model: torch.nn.Module) -> Iterator[tuple[str, torch.ScriptObject]]:
    """``(module name, packed params)`` for every quantized conv and linear layer in
    ``model``, each object once, named after the module whose forward uses it.

    A quantized ``Linear`` keeps its packed params one level down, in a
    ``LinearPackedParams`` child named ``_packed_params``; they are attributed to the
    ``Linear`` itself, which runs the op.
    """
    seen: set[int] = set()
    for name, mod in model.named_modules():
        for value in vars(mod).values():
            if not is_packed(value) or id(value) in seen:
                continue
            seen.add(id(value))
            owner = name
            parent, _, leaf = name.rpartition(".")
            if leaf == "_packed_params" and type(mod).__name__ == "LinearPackedParams":
                owner = parent
            yield owner, value


# --------------------------------------------------------------------------- matrix ops


def _requantized(out: int, bias: bool) -> int:
    """Vector FLOPs after an int8 product with ``out`` outputs: the bias add (one per
    output) and the requantization to 8 bits (:data:`REQUANTIZE_FLOPS` per output)."""
    return out * (REQUANTIZE_FLOPS + (1 if bias else 0))


@register(
    "quantized.conv1d",
    "quantized.conv2d",
    "quantized.conv3d",
    "quantized.conv1d_relu",
    "quantized.conv2d_relu",
    "quantized.conv3d_relu",
    "quantized.conv_transpose1d",
    "quantized.conv_transpose2d",
    "quantized.conv_transpose3d",
)
def quantized_conv(a: Args, out: Sequence[Any]) -> Cost:
    """Quantized convolution ``y = requantize(Σ x_q · w_q + bias)``, int8 × int8 into
    an int32 accumulator: the same multiply-accumulates as the float convolution,
    ``conv_macs`` (numel(out) · C_in/groups · kernel volume; for a transposed one,
    numel(input) · C_out/groups · kernel volume), so 2 · MACs matrix FLOPs. Per output
    element, 1 for the bias when there is one plus :data:`REQUANTIZE_FLOPS` (6): the
    input zero point's share, scale, round, zero point, clamp. A fused ReLU is free
    (the clamp's lower bound). Op class ``conv`` (``depthwise_conv`` when groups =
    C_in). Bytes: the generic rule on the 8-bit input and output, plus the packed
    weight (1 byte an element) and fp32 bias, which the counter adds."""
    x, p, o = a["qx"], a["packed_weight"], _first_out(out)
    macs = conv_macs(x.shape, p.weight.shape, o.shape, p.transposed)
    return Cost(
        matrix_flops=2 * macs,
        vector_flops=_requantized(o.numel, p.bias is not None),
        op_class=_conv_class(x, p.weight, p.groups, p.transposed),
        dims=_conv_dims(x, p.weight, o, p.groups, list(p.stride)),
    )


@register("quantized.conv2d_add", "quantized.conv2d_add_relu")
def quantized_conv_add(a: Args, out: Sequence[Any]) -> Cost:
    """Quantized convolution with a fused residual add (oneDNN): the convolution
    (:func:`quantized_conv`) plus, per output element, dequantizing the added tensor
    (:data:`DEQUANTIZE_FLOPS`) and the add (1)."""
    conv = quantized_conv(a, out)
    extra = (DEQUANTIZE_FLOPS + 1) * _first_out(out).numel
    return Cost(
        matrix_flops=conv.matrix_flops,
        vector_flops=conv.vector_flops + extra,
        op_class=conv.op_class,
        dims=conv.dims,
    )


def _linear_dims(x: T, p: Packed) -> tuple[int, int, int]:
    k = p.weight.shape[-1]
    n = p.weight.shape[0]
    m = x.numel // k if k else 0
    return m, n, k


@register("quantized.linear", "quantized.linear_relu")
def quantized_linear(a: Args, out: Sequence[Any]) -> Cost:
    """Quantized linear layer ``[m, k] @ [n, k]ᵀ`` (``m`` = all leading input dims),
    int8 into int32: 2·m·n·k matrix FLOPs; per output element the bias (1) and
    :data:`REQUANTIZE_FLOPS` (6); a fused ReLU is free. Op class ``gemm``."""
    m, n, k = _linear_dims(a["X"], a["W_prepack"])
    return Cost(
        matrix_flops=2 * m * n * k,
        vector_flops=_requantized(m * n, a["W_prepack"].bias is not None),
        op_class="gemm",
        dims={"m": m, "n": n, "k": k},
    )


def _linear_dynamic(relu: bool) -> Formula:
    def fn(a: Args, out: Sequence[Any]) -> Cost:
        x, p = a["X"], a["W_prepack"]
        m, n, k = _linear_dims(x, p)
        per_out = 2 + (1 if p.bias is not None else 0) + (1 if relu else 0)
        return Cost(
            matrix_flops=2 * m * n * k,
            vector_flops=(2 + QUANTIZE_FLOPS) * x.numel + per_out * m * n,
            op_class="gemm",
            dims={"m": m, "n": n, "k": k},
        )

    fn.__name__ = "quantized_linear_relu_dynamic" if relu else "quantized_linear_dynamic"
    fn.__doc__ = """Dynamically quantized linear layer (``quantize_dynamic``): float input,
    int8 weight, float output. The input is quantized on the fly: its range (a min and
    a max, 2 comparisons an element) and QUANTIZE_FLOPS (5) an element; then the int8
    product, 2·m·n·k matrix FLOPs; per output element the input zero point's share (1),
    the dequantizing scale (1), the bias (1) and, for the ReLU variant, the ReLU (1, a
    float max). Op class ``gemm``."""
    return fn


register("quantized.linear_dynamic")(_linear_dynamic(relu=False))
register("quantized.linear_relu_dynamic")(_linear_dynamic(relu=True))


def _linear_fp16(relu: bool) -> Formula:
    def fn(a: Args, out: Sequence[Any]) -> Cost:
        m, n, k = _linear_dims(a["X"], a["W_prepack"])
        per_out = (1 if a["W_prepack"].bias is not None else 0) + (1 if relu else 0)
        return Cost(
            matrix_flops=2 * m * n * k,
            vector_flops=per_out * m * n,
            op_class="gemm",
            dims={"m": m, "n": n, "k": k},
        )

    fn.__name__ = "quantized_linear_relu_fp16" if relu else "quantized_linear_fp16"
    fn.__doc__ = """Linear layer with fp16-packed weights (``quantize_dynamic(dtype=
    torch.float16)``): float input and output, 2·m·n·k matrix FLOPs, one add per output
    for the bias (the ReLU variant's max is 1 more). Op class ``gemm``."""
    return fn


register("quantized.linear_dynamic_fp16")(_linear_fp16(relu=False))
register("quantized.linear_relu_dynamic_fp16")(_linear_fp16(relu=True))


# --------------------------------------------------------------------------- elementwise


#: the 8-bit (and int32) quantized dtypes
QUANTIZED_DTYPES = frozenset({torch.quint8, torch.qint8, torch.qint32, torch.quint4x2})


def _is_quantized(x: Any) -> bool:
    return isinstance(x, T) and x.dtype in QUANTIZED_DTYPES


def _dequant_op_quant(flops: int, op_class: str = "elementwise") -> Formula:
    """A quantized elementwise op costed as what it computes: dequantize each quantized
    tensor input (scalars, float weights and an ``out=`` tensor are not inputs) (:data:`DEQUANTIZE_FLOPS` an element of the output it feeds), the
    float op (``flops`` an output element), quantize the output
    (:data:`QUANTIZE_FLOPS`). A fused ReLU is free (the clamp's lower bound)."""

    def fn(a: Args, out: Sequence[Any]) -> Cost:
        n = _out_numel(out)
        inputs = sum(1 for k, t in a.items() if k != "out" and _is_quantized(t))
        return Cost(
            vector_flops=n * (DEQUANTIZE_FLOPS * inputs + flops + QUANTIZE_FLOPS),
            op_class=op_class,
        )

    fn.__name__ = f"quantized_elementwise_{flops}"
    fn.__doc__ = (
        f"Dequantize each tensor input ({DEQUANTIZE_FLOPS}/element), the float op "
        f"({flops}), quantize the output ({QUANTIZE_FLOPS}), per output element."
    )
    return fn


# add and mul: two quantized inputs (2 + 2), the op (1), quantize (5) = 10 an output
# element; the Scalar overloads and add_scalar/mul_scalar have one tensor input: 8
register(
    "quantized.add",
    "quantized.add_relu",
    "quantized.add_out",
    "quantized.add_relu_out",
    "quantized.mul",
    "quantized.mul_relu",
    "quantized.mul_out",
    "quantized.mul_relu_out",
    "quantized.add_scalar",
    "quantized.add_scalar_relu",
    "quantized.add_scalar_out",
    "quantized.add_scalar_relu_out",
    "quantized.mul_scalar",
    "quantized.mul_scalar_relu",
    "quantized.mul_scalar_out",
    "quantized.mul_scalar_relu_out",
)(_dequant_op_quant(1))
# hardswish 5, sigmoid 4, elu/celu 4 (exp, subtract, multiply, select), leaky_relu 2
register("quantized.hardswish")(_dequant_op_quant(5))
register("quantized.sigmoid", "quantized.elu", "quantized.celu")(_dequant_op_quant(4))
register("quantized.leaky_relu")(_dequant_op_quant(2))
# batch norm at inference x·scale + shift (2); layer/group/instance norm 7; softmax 5
register(
    "quantized.batch_norm",
    "quantized.batch_norm_relu",
    "quantized.batch_norm1d",
    "quantized.batch_norm1d_relu",
    "quantized.batch_norm2d",
    "quantized.batch_norm2d_relu",
    "quantized.batch_norm3d",
    "quantized.batch_norm3d_relu",
)(_dequant_op_quant(2, "norm"))
register("quantized.layer_norm", "quantized.group_norm", "quantized.instance_norm")(
    _dequant_op_quant(7, "norm")
)
register("quantized.softmax")(_dequant_op_quant(5, "softmax"))


@register("quantized.relu6", "quantized.clamp", "quantized.threshold")
def quantized_clamp(a: Args, out: Sequence[Any]) -> Cost:
    """ReLU6, clamp and threshold on a quantized tensor keep its scale and zero point,
    so they run on the 8-bit values: 2 comparisons per element (the bounds, taken in
    the quantized domain)."""
    return Cost(vector_flops=2 * _out_numel(out), op_class="elementwise")


@register("quantized.cat", "quantized.cat_relu", "quantized.cat_out", "quantized.cat_relu_out")
def quantized_cat(a: Args, out: Sequence[Any]) -> Cost:
    """Concatenation of quantized tensors into an output with its own scale and zero
    point: an input whose qparams differ from the output's is dequantized and
    quantized again (:data:`DEQUANTIZE_FLOPS` + :data:`QUANTIZE_FLOPS` = 7 an element);
    one whose qparams match is copied. Qparams are values, so this is the **upper
    bound**, every element requantized. Op class ``copy`` (bytes by the generic rule,
    1 byte an element)."""
    return Cost(vector_flops=(DEQUANTIZE_FLOPS + QUANTIZE_FLOPS) * _out_numel(out), op_class="copy")


def _quantize(per_element: int, what: str) -> Formula:
    def fn(a: Args, out: Sequence[Any]) -> Cost:
        x = a.get("self", a.get("input"))
        return Cost(vector_flops=per_element * (_numel(x) or _out_numel(out)))

    fn.__name__ = f"quantize_{per_element}"
    fn.__doc__ = f"""{what}: {per_element} FLOPs per element. Quantizing is
    QUANTIZE_FLOPS (5): multiply by 1/scale, round, add the zero point, clamp (2).
    Bytes by the generic rule (float read, 8-bit written)."""
    return fn


register("aten.quantize_per_tensor", "aten.quantize_per_channel")(
    _quantize(QUANTIZE_FLOPS, "Quantize a float tensor")
)
# the dynamic variant first finds the range: a min and a max, 2 comparisons an element
register("aten.quantize_per_tensor_dynamic")(
    _quantize(2 + QUANTIZE_FLOPS, "Quantize with a range found on the fly (min, max: 2)")
)
# fake quantization (QAT) quantizes and dequantizes in float
register("aten.fake_quantize_per_tensor_affine", "aten.fake_quantize_per_channel_affine")(
    _quantize(QUANTIZE_FLOPS + DEQUANTIZE_FLOPS, "Fake-quantize (quantize, dequantize: 2)")
)


@register("aten.dequantize")
def dequantize(a: Args, out: Sequence[Any]) -> Cost:
    """Dequantize: ``(q − z) · s``, :data:`DEQUANTIZE_FLOPS` (2) per element (the
    ``.tensors`` overload: per element of every tensor)."""
    return Cost(vector_flops=DEQUANTIZE_FLOPS * _out_numel(out), op_class="elementwise")


def quantized_max_pool_cost(a: Args, out: Sequence[Any], n: int) -> Cost:
    """Max pooling of a quantized tensor: as the float one
    (:func:`~roofline.counting.formulas.max_pool_cost`, one comparison per window tap
    inside the input; the ``quantized::`` schema names its input ``qx``), and max
    keeps the scale and zero point: nothing is requantized."""
    named = dict(a)
    if "self" not in named:
        named["self"] = named.get("qx")
    return max_pool_cost(named, out, n)


for _n, _names in ((1, ("quantized.max_pool1d",)), (2, ("quantized.max_pool2d",)), (3, ())):
    register(f"aten.quantized_max_pool{_n}d", *_names)(
        at_rank(quantized_max_pool_cost, _n, f"quantized_max_pool{_n}d")
    )


#: packed params already unpacked, by id, each entry holding its object: the dispatcher
#: hands a formula a fresh Python wrapper of the same packed params at every call, and
#: a dead wrapper's id is soon reused, so an entry is only trusted for its own object
PackedCache = dict[int, tuple[Any, Packed]]


def cached_unpack(x: torch.ScriptObject, cache: PackedCache) -> Packed:
    """:func:`unpack`, cached by object in ``cache``."""
    hit = cache.get(id(x))
    if hit is not None and hit[0] is x:
        return hit[1]
    p = unpack(x)
    cache[id(x)] = (x, p)
    return p


def named_packed(args: dict[str, Any], cache: PackedCache) -> dict[str, Any]:
    """``args`` with packed params replaced by their :class:`Packed`."""
    for k, v in args.items():
        if is_packed(v):
            args[k] = cached_unpack(v, cache)
    return args


def packed_bytes(values: Sequence[Any], cache: PackedCache) -> int:
    """Bytes of the packed weights and biases among an op's arguments, each once."""
    seen: set[int] = set()
    total = 0
    for v in values:
        if is_packed(v) and id(v) not in seen:
            seen.add(id(v))
            total += cached_unpack(v, cache).nbytes
    return total
