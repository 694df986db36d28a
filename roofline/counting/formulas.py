"""Per-op cost formulas: one registry, small pure functions of shapes.

Each formula receives the op's arguments by schema name (tensors replaced by
:class:`T`, a shape and a dtype) and its outputs, and returns a :class:`Cost`. The
derivation of every count sits in the formula's docstring.

Conventions (see ``docs/conventions.md``):

* One multiply or one add is one FLOP; a multiply-accumulate (MAC) is 2 FLOPs.
* A transcendental function (exp, log, erf, tanh, sqrt, rsqrt) counts as one FLOP,
  as does a comparison (max, relu). So ``sigmoid(x) = 1 / (1 + exp(-x))`` is 4 FLOPs
  per element: negate, exp, add, divide.
* **Matrix** FLOPs are the work that can run on tensor cores: convolutions, matrix
  products, the two products inside attention. Everything else is **vector** FLOPs.
* Bytes follow the eager, unfused rule and are computed by the counter, not here:
  each distinct input tensor read once, each output written once. A formula may
  override that where the rule is wrong for the op (an embedding reads only the rows
  it gathers, ``copy_`` does not read its destination, a fill reads nothing).

Ops that move no data and do no arithmetic (views, metadata) are in
:data:`FREE_OPS`. Ops in neither place are reported as *uncounted*, with their bytes
still counted: nothing is silently zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import torch


class T(NamedTuple):
    """What a formula sees of a tensor: its shape and dtype, and for a broadcast
    tensor (a stride-0 dimension: ``expand``) how many distinct elements it holds."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    #: distinct elements in memory when fewer than ``numel`` (a broadcast tensor)
    distinct: int | None = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * _itemsize(self.dtype)

    @property
    def stored(self) -> int:
        """The elements a read of the whole tensor moves: a broadcast dimension once."""
        return self.numel if self.distinct is None else self.distinct

    @property
    def stored_bytes(self) -> int:
        return self.stored * _itemsize(self.dtype)


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype, device="meta").element_size()


@dataclass(frozen=True)
class Cost:
    """What one op costs. ``None`` bytes mean: use the counter's generic rule.
    ``unread`` names arguments (by their schema names) whose tensors the op does not
    read, as a backward's operands that only an unrequested gradient needs: the
    generic rule leaves them out of the bytes read and of the weight bytes. ``reads``
    gives, for an argument holding one tensor, the bytes the op reads of it in place
    of its whole size (a gather's source: only the rows it gathers); the generic
    rule counts them, as read and, when the tensor is a parameter or buffer, as
    weight bytes, and reads the other arguments whole. Either applies to a tensor
    only when no other argument also passes it (then it is read whole). A
    ``bytes_read`` total instead bounds the weight bytes by it, which cannot say
    which operand a part came from: no formula here sets one (an op that reads part
    of an operand names it in ``reads``, one that reads none of it in ``unread``)."""

    matrix_flops: int = 0
    vector_flops: int = 0
    op_class: str = "elementwise"
    bytes_read: int | None = None
    bytes_written: int | None = None
    dims: Mapping[str, int] = field(default_factory=dict)
    unread: tuple[str, ...] = ()
    reads: Mapping[str, int] = field(default_factory=dict)


Args = Mapping[str, Any]
Formula = Callable[[Args, Sequence[Any]], Cost]


@dataclass(frozen=True)
class Entry:
    fn: Formula
    name: str


REGISTRY: dict[str, Entry] = {}

#: Ops that cost nothing: views and reshapes (no data moves), metadata queries,
#: allocations without initialisation. Everything here is free *by definition*; an
#: op is only added when it truly moves no bytes and does no arithmetic.
FREE_OPS: frozenset[str] = frozenset(
    {
        # views / aliases
        "aten.view",
        "aten._unsafe_view",
        "aten._reshape_alias",
        "aten.reshape",
        "aten.expand",
        "aten.expand_as",
        "aten.permute",
        "aten.transpose",
        "aten.t",
        "aten.numpy_T",
        "aten.squeeze",
        "aten.unsqueeze",
        "aten.as_strided",
        "aten.as_strided_",
        "aten.squeeze_",
        "aten.unsqueeze_",
        "aten.transpose_",
        "aten.t_",
        "aten.detach_",
        "aten.slice",
        "aten.select",
        "aten.alias",
        "aten.detach",
        "aten.split",
        "aten.split_with_sizes",
        "aten.unsafe_split",
        "aten.unsafe_split_with_sizes",
        "aten.chunk",
        "aten.unbind",
        "aten.narrow",
        "aten.diagonal",
        "aten.unfold",
        "aten.view_as_real",
        "aten.view_as_complex",
        "aten._conj",
        "aten.lift_fresh",
        "aten._nested_tensor_from_mask_left_aligned",
        # metadata and bookkeeping
        "prim.device",
        "prim.layout",
        "aten.sym_size",
        "aten.sym_stride",
        "aten.sym_numel",
        "aten.sym_storage_offset",
        "aten.is_same_size",
        "aten.is_nonzero",
        "aten.is_pinned",
        "aten._has_compatible_shallow_copy_type",
        "aten._fused_sdp_choice",
        "aten.set_",
        "aten._local_scalar_dense",
        "aten._linalg_check_errors",
        "aten.resize_",
        "aten.resize_as_",
        "aten.record_stream",
        # allocation without initialisation (no memory traffic)
        "aten.empty",
        "aten.empty_like",
        "aten.empty_strided",
        "aten.new_empty",
        "aten.new_empty_strided",
    }
)


def register(*names: str) -> Callable[[Formula], Formula]:
    """Register ``fn`` as the formula for each op name (packet or overload), e.g.
    ``aten.add``, ``aten.add.Tensor``, ``torchvision.nms``."""

    def deco(fn: Formula) -> Formula:
        for n in names:
            if n in REGISTRY:
                raise ValueError(f"two formulas for {n}")
            if n in FREE_OPS:
                raise ValueError(f"{n} is in FREE_OPS and cannot have a formula")
            REGISTRY[n] = Entry(fn, fn.__name__)
        return fn

    return deco


def lookup(op: torch._ops.OpOverload) -> Entry | None:
    """The formula for an op: by overload name first (``aten.add.Tensor``), then packet;
    an in-place op with no formula of its own (``cos_``, ``addmm_``, ``cumsum_``) takes
    its out-of-place form's: the same arithmetic per output element, arguments of the
    same names, and the same generic bytes (``self`` and the other inputs read, ``self``
    written). In-place ops whose bytes differ (the scatters) are registered apart."""
    full = _op_name(op)
    packet, overload = full.rsplit(".", 1)
    entry = REGISTRY.get(full) or REGISTRY.get(packet)
    if entry is None and packet.endswith("_") and not packet.endswith("__"):
        entry = REGISTRY.get(f"{packet[:-1]}.{overload}") or REGISTRY.get(packet[:-1])
    return entry


def is_free(op: torch._ops.OpOverload) -> bool:
    """True for views and metadata ops, which cost nothing."""
    full = _op_name(op)
    return full in FREE_OPS or full.rsplit(".", 1)[0] in FREE_OPS


def _op_name(op: Any) -> str:
    # "aten.convolution.default"
    return f"{op.namespace}.{op._schema.name.split('::')[-1]}.{op._overloadname}"


# --------------------------------------------------------------------------- helpers


def _numel(x: Any) -> int:
    return x.numel if isinstance(x, T) else 0


def _out_numel(out: Sequence[Any]) -> int:
    return sum(_numel(o) for o in out)


def _first_out(out: Sequence[Any]) -> T:
    for o in out:
        if isinstance(o, T):
            return o
    raise ValueError("op has no tensor output")


def _tensor_args(a: Args) -> list[T]:
    found: list[T] = []
    for v in a.values():
        if isinstance(v, T):
            found.append(v)
        elif isinstance(v, list | tuple):
            found.extend(x for x in v if isinstance(x, T))
    return found


# --------------------------------------------------------------------------- matmul


def real_ops(x: T) -> tuple[int, int]:
    """Real FLOPs of one multiply-accumulate and of one add on ``x``'s dtype. A MAC
    is 2 on real numbers; on complex ones ``(a + bi)(c + di)`` is 4 real multiplies
    and 2 adds, accumulated with 2 more adds: 8 (4 real MACs, as the FFTs count a
    complex multiply 6 and an add 2), and an add is 2."""
    return (8, 2) if x.dtype.is_complex else (2, 1)


def _scaled_add(a: Args, x: T, n: int) -> int:
    """Vector FLOPs of ``beta·input + alpha·(product)`` over ``n`` outputs: the add (none
    when ``beta`` is 0: torch ignores ``input`` then), and one multiply for each of
    ``beta`` and ``alpha`` that is not 1 (complex: :func:`real_ops`' add, 6 a
    multiply)."""
    beta, alpha = a.get("beta", 1), a.get("alpha", 1)
    _, add = real_ops(x)
    mul = COMPLEX_ELEMENTWISE_FLOPS["mul"] if x.dtype.is_complex else 1
    flops = 0 if beta == 0 else add * n + (mul * n if beta != 1 else 0)
    return flops + (mul * n if alpha != 1 else 0)


@register("aten.mm", "aten._scaled_mm", "aten._int_mm")
def mm(a: Args, out: Sequence[Any]) -> Cost:
    """``[m, k] @ [k, n]``: m·n outputs, each k MACs → 2·m·n·k FLOPs (complex: 8·m·n·k,
    :func:`real_ops`)."""
    m, k = a["self"].shape
    n = a["mat2"].shape[-1]
    mac, _ = real_ops(a["self"])
    return Cost(matrix_flops=mac * m * n * k, op_class="gemm", dims={"m": m, "n": n, "k": k})


@register("aten.addmm")
def addmm(a: Args, out: Sequence[Any]) -> Cost:
    """``bias + [m, k] @ [k, n]``: 2·m·n·k matrix FLOPs, plus m·n adds for the bias
    (complex: 8·m·n·k and 2·m·n, :func:`real_ops`; ``beta``/``alpha``:
    :func:`_scaled_add`)."""
    m, k = a["mat1"].shape
    n = a["mat2"].shape[-1]
    mac, _ = real_ops(a["mat1"])
    return Cost(
        matrix_flops=mac * m * n * k,
        vector_flops=_scaled_add(a, a["mat1"], m * n),
        op_class="gemm",
        dims={"m": m, "n": n, "k": k},
    )


@register("aten.bmm")
def bmm(a: Args, out: Sequence[Any]) -> Cost:
    """``[b, m, k] @ [b, k, n]``: b independent products → 2·b·m·n·k FLOPs (complex:
    8·b·m·n·k, :func:`real_ops`)."""
    b, m, k = a["self"].shape
    n = a["mat2"].shape[-1]
    mac, _ = real_ops(a["self"])
    return Cost(
        matrix_flops=mac * b * m * n * k, op_class="gemm", dims={"b": b, "m": m, "n": n, "k": k}
    )


@register("aten.baddbmm")
def baddbmm(a: Args, out: Sequence[Any]) -> Cost:
    """``input + [b, m, k] @ [b, k, n]``: 2·b·m·n·k matrix FLOPs plus b·m·n adds
    (complex: :func:`real_ops`; ``beta``/``alpha``: :func:`_scaled_add`)."""
    b, m, k = a["batch1"].shape
    n = a["batch2"].shape[-1]
    mac, _ = real_ops(a["batch1"])
    return Cost(
        matrix_flops=mac * b * m * n * k,
        vector_flops=_scaled_add(a, a["batch1"], b * m * n),
        op_class="gemm",
        dims={"b": b, "m": m, "n": n, "k": k},
    )


@register("aten.addbmm")
def addbmm(a: Args, out: Sequence[Any]) -> Cost:
    """``input + Σ_b [b, m, k] @ [b, k, n]``: the b products accumulate into one
    ``[m, n]`` result, b·m·n·k MACs → 2·b·m·n·k matrix FLOPs, plus m·n adds of
    ``input`` (complex: :func:`real_ops`; ``beta``/``alpha``: :func:`_scaled_add`)."""
    b, m, k = a["batch1"].shape
    n = a["batch2"].shape[-1]
    mac, _ = real_ops(a["batch1"])
    return Cost(
        matrix_flops=mac * b * m * n * k,
        vector_flops=_scaled_add(a, a["batch1"], m * n),
        op_class="gemm",
        dims={"b": b, "m": m, "n": n, "k": k},
    )


def _expanded(shape: Sequence[int], expand: Sequence[int], total: int) -> list[int]:
    """``shape`` with a size-1 dimension inserted at each of the ``expand`` positions
    (of ``total`` dimensions), as ``aten._trilinear`` unsqueezes its inputs."""
    sizes = iter(shape)
    at = set(expand)
    return [1 if d in at else int(next(sizes)) for d in range(total)]


@register("aten._trilinear")
def trilinear(a: Args, out: Sequence[Any]) -> Cost:
    """``aten._trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim)``, what
    ``nn.Bilinear`` runs (``y[b,o] = Σ_ij x1[b,i]·W[o,i,j]·x2[b,j]``), counted as ATen
    computes it: each input unsqueezed at its ``expand`` dims, then two batched products
    (``sumproduct_pair``, a bmm each): i1·i2 summed over the ``sumdim`` dims that i3
    lacks, then that · i3 summed over the rest. A bmm's MACs are the product over every
    dim of the larger of its two operands' sizes; each slice is added into the zeroed
    output, one add per output element. ``nn.Bilinear(i, j → o)`` on b rows: b·o·i·j +
    b·o·j MACs."""
    i1, i2, i3 = a["i1"], a["i2"], a["i3"]
    total = len(i1.shape) + len(a["expand1"])
    s1 = _expanded(i1.shape, a["expand1"], total)
    s2 = _expanded(i2.shape, a["expand2"], total)
    s3 = _expanded(i3.shape, a["expand3"], total)
    summed = set(a["sumdim"])
    pair = [max(x, y) for x, y in zip(s1, s2, strict=True)]
    first = math.prod(pair)
    buf = [1 if d in summed and s3[d] == 1 else n for d, n in enumerate(pair)]
    second = math.prod(max(x, y) for x, y in zip(buf, s3, strict=True))
    return Cost(matrix_flops=2 * (first + second), vector_flops=_out_numel(out), op_class="gemm")


@register("aten.addmv", "aten.mv")
def mv(a: Args, out: Sequence[Any]) -> Cost:
    """Matrix-vector ``[m, k] @ [k]``: 2·m·k FLOPs (+ m for the added vector;
    ``beta``/``alpha``: :func:`_scaled_add`)."""
    mat = a.get("mat") or a.get("self")
    m, k = mat.shape
    mac, _ = real_ops(mat)
    extra = _scaled_add(a, mat, m) if "vec" in a and "mat" in a else 0
    return Cost(
        matrix_flops=mac * m * k, vector_flops=extra, op_class="gemm", dims={"m": m, "k": k}
    )


@register("aten.dot", "aten.vdot")
def dot(a: Args, out: Sequence[Any]) -> Cost:
    """Dot product of two n-vectors: n multiplies and n−1 adds ≈ 2·n FLOPs (complex:
    8·n, :func:`real_ops`)."""
    n = a["self"].numel
    return Cost(vector_flops=real_ops(a["self"])[0] * n, op_class="reduction")


# --------------------------------------------------------------------------- convolution


def conv_macs(
    x_shape: Sequence[int], w_shape: Sequence[int], out_shape: Sequence[int], transposed: bool
) -> int:
    """Multiply-accumulates of a convolution (any dimensionality, any groups).

    Forward: every output element sums over ``C_in / groups`` input channels times the
    kernel volume, so MACs = numel(out) · (C_in/groups) · prod(kernel). The weight is
    ``[C_out, C_in/groups, *k]``, so ``w_shape[1] * prod(k)`` is that per-output sum.
    Transposed: every *input* element is scattered into ``C_out / groups`` channels
    times the kernel volume; the weight is ``[C_in, C_out/groups, *k]``, so MACs =
    numel(input) · (C_out/groups) · prod(kernel).
    """
    kernel = math.prod(w_shape[2:])
    if transposed:
        return math.prod(x_shape) * w_shape[1] * kernel
    return math.prod(out_shape) * w_shape[1] * kernel


def _conv_class(x: T, w: T, groups: int, transposed: bool) -> str:
    cin = x.shape[1] if len(x.shape) > 1 else 1
    if groups > 1 and groups == cin and not transposed:
        return "depthwise_conv"
    return "conv"


def _conv_dims(x: T, w: T, out: T, groups: int, stride: Any = 1) -> dict[str, int]:
    strides = stride if isinstance(stride, list | tuple) else [stride]
    return {
        "n": x.shape[0],
        "c_in": x.shape[1],
        "c_out": out.shape[1],
        "kernel": math.prod(w.shape[2:]),
        "out_spatial": math.prod(out.shape[2:]),
        "in_spatial": math.prod(x.shape[2:]),
        "groups": groups,
        "stride": max((int(s) for s in strides), default=1),
    }


@register("aten.convolution", "aten._convolution", "aten.conv2d", "aten.conv1d", "aten.conv3d")
def convolution(a: Args, out: Sequence[Any]) -> Cost:
    """Convolution, any kind: ``2 · conv_macs`` matrix FLOPs, plus one add per output
    element for the bias when there is one."""
    x, w, o = a["input"], a["weight"], _first_out(out)
    transposed = bool(a.get("transposed", False))
    groups = int(a.get("groups", 1))
    macs = conv_macs(x.shape, w.shape, o.shape, transposed)
    bias = o.numel if isinstance(a.get("bias"), T) else 0
    return Cost(
        matrix_flops=2 * macs,
        vector_flops=bias,
        op_class=_conv_class(x, w, groups, transposed),
        dims=_conv_dims(x, w, o, groups, a.get("stride", 1)),
    )


@register("aten.convolution_backward")
def convolution_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Convolution backward: the gradient w.r.t. the input is a transposed
    convolution and the gradient w.r.t. the weight a correlation of input and output
    gradient; each costs the forward's MACs. The bias gradient sums the output
    gradient: one add per element. ``output_mask`` says which of the three are made,
    and so which operands are read: the weight only for the input gradient, the
    input only for the weight gradient (a first layer, whose image needs no
    gradient, does not read its weight; a frozen layer does not read its input)."""
    g, x, w = a["grad_output"], a["input"], a["weight"]
    transposed = bool(a["transposed"])
    mask = a["output_mask"]
    macs = conv_macs(x.shape, w.shape, g.shape, transposed)
    matrix = 2 * macs * (int(bool(mask[0])) + int(bool(mask[1])))
    vector = g.numel if mask[2] else 0
    groups = int(a.get("groups", 1))
    unread = (() if mask[0] else ("weight",)) + (() if mask[1] else ("input",))
    return Cost(
        matrix_flops=matrix,
        vector_flops=vector,
        op_class=_conv_class(x, w, groups, transposed),
        dims=_conv_dims(x, w, g, groups, a.get("stride", 1)),
        unread=unread,
    )


# --------------------------------------------------------------------------- attention


def causal_pairs(lq: int, lk: int) -> int:
    """Query-key pairs a causal mask keeps (PyTorch aligns it top-left: query i sees
    keys 0..i): ``sum(min(i + 1, lk) for i in range(lq))``, in closed form. For
    ``lq == lk == L`` that is L·(L+1)/2: about half of L²."""
    full = min(lq, lk)  # rows 0..full-1 see i+1 keys
    return full * (full + 1) // 2 + (lq - full) * lk


#: vector FLOPs per query-key pair of a fused kernel's extras: adding an ``attn_mask`` or
#: bias to the scores (1), and dropout of the probabilities (3: the Bernoulli mask, a
#: draw and a compare, as :data:`DROPOUT_FLOPS` has it, then zeroing the dropped
#: probability; FlashAttention folds the ``1/(1 − p)`` rescale into its per-row output
#: scale, so unlike ``native_dropout`` no multiply per pair). Its backward regenerates
#: the mask and applies it again: 3 more
ATTENTION_MASK_FLOPS, ATTENTION_DROPOUT_FLOPS = 1, 3


def attention_cost(
    q: Sequence[int],
    k: Sequence[int],
    v: Sequence[int],
    causal: bool,
    backward: bool = False,
    *,
    masked: bool = False,
    dropout: bool = False,
) -> Cost:
    """Scaled dot-product attention on ``[..., L, E]`` queries and ``[..., S, E]`` keys.

    Forward: scores ``Q·Kᵀ`` (2·E FLOPs per query-key pair) and ``P·V`` (2·Ev per
    pair) are matrix FLOPs; scaling (1) and softmax (5: max, subtract, exp, sum,
    divide) are 6 vector FLOPs per pair. A causal mask drops the masked pairs (fused
    kernels skip those blocks). Backward recomputes ``Q·Kᵀ`` and does four more
    products (dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q): 2.5× the forward matrix
    work. Its vector FLOPs, as FlashAttention's backward computes them: recompute
    ``P = exp(scale·S − lse)`` from the saved log-sum-exp (scale, subtract, exp: 3
    per pair), ``D = rowsum(dO ∘ O)`` (2·Ev per query row) and the softmax gradient
    ``dS = P ∘ (dP − D)`` (subtract, multiply: 2 per pair) → 5 per pair. An additive
    mask or bias (``masked``) adds 1 per pair to each pass (the backward adds it again
    to the recomputed scores), dropout (``dropout``) 3 per pair to each pass
    (:data:`ATTENTION_MASK_FLOPS`, :data:`ATTENTION_DROPOUT_FLOPS`).
    """
    batch = math.prod(q[:-2])
    lq, e = q[-2], q[-1]
    lk, ev = k[-2], v[-1]
    pairs = causal_pairs(lq, lk) if causal else lq * lk
    fwd_matrix = batch * pairs * (2 * e + 2 * ev)
    extra = ATTENTION_DROPOUT_FLOPS * int(dropout) + ATTENTION_MASK_FLOPS * int(masked)
    if backward:
        return Cost(
            matrix_flops=fwd_matrix * 5 // 2,
            vector_flops=(5 + extra) * batch * pairs + 2 * ev * batch * lq,
            op_class="attention",
            dims={"batch": batch, "lq": lq, "lk": lk, "e": e},
        )
    return Cost(
        matrix_flops=fwd_matrix,
        vector_flops=(6 + extra) * batch * pairs,
        op_class="attention",
        dims={"batch": batch, "lq": lq, "lk": lk, "e": e},
    )


@register(
    "aten._scaled_dot_product_flash_attention",
    "aten._scaled_dot_product_flash_attention_for_cpu",
    "aten._scaled_dot_product_efficient_attention",
    "aten._scaled_dot_product_cudnn_attention",
    "aten._scaled_dot_product_fused_attention_overrideable",
)
def sdpa(a: Args, out: Sequence[Any]) -> Cost:
    """Fused SDPA kernels, ``[B, H, L, E]`` layout: see :func:`attention_cost`."""
    return attention_cost(
        a["query"].shape,
        a["key"].shape,
        a["value"].shape,
        bool(a.get("is_causal", False)),
        **_attention_extras(a),
    )


def _attention_extras(a: Args) -> dict[str, bool]:
    """Whether a fused attention kernel adds a mask or bias to its scores (the
    argument is ``attn_mask``, ``attn_bias`` or ``bias`` by kernel) and whether it
    drops out probabilities (``dropout_p`` > 0)."""
    mask = next((a[n] for n in ("attn_mask", "attn_bias", "bias") if n in a), None)
    return {
        "masked": isinstance(mask, T),
        "dropout": float(a.get("dropout_p", 0.0) or 0.0) > 0.0,
    }


@register(
    "aten._scaled_dot_product_flash_attention_backward",
    "aten._scaled_dot_product_flash_attention_for_cpu_backward",
    "aten._scaled_dot_product_efficient_attention_backward",
    "aten._scaled_dot_product_cudnn_attention_backward",
)
def sdpa_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Backward of the fused SDPA kernels: see :func:`attention_cost`. The efficient
    kernel's ``grad_input_mask`` does not shrink the work: ATen's CUDA wrapper
    (``_scaled_dot_product_efficient_attention_backward_cuda``) passes only its last
    slot on (``bias_requires_grad``, whether dS is stored as the bias gradient, an
    output the meta kernel makes only when asked, so the written bytes follow it), and
    ``_efficient_attention_backward`` computes dQ, dK and dV together, reading every
    operand, whichever are requested; the flash kernels take no mask."""
    return attention_cost(
        a["query"].shape,
        a["key"].shape,
        a["value"].shape,
        bool(a.get("is_causal", False)),
        backward=True,
        **_attention_extras(a),
    )


def _blhe_to_bhle(s: Sequence[int]) -> tuple[int, ...]:
    # [B, L, H, E] -> [B, H, L, E]
    return (s[0], s[2], s[1], s[3])


@register("aten._flash_attention_forward", "aten._efficient_attention_forward")
def flash_forward(a: Args, out: Sequence[Any]) -> Cost:
    """Low-level flash/efficient kernels take ``[B, L, H, E]``; same cost as SDPA.
    The efficient kernel encodes causality as ``custom_mask_type`` 1 or 2."""
    causal = bool(a.get("is_causal", False)) or int(a.get("custom_mask_type", 0) or 0) > 0
    return attention_cost(
        _blhe_to_bhle(a["query"].shape),
        _blhe_to_bhle(a["key"].shape),
        _blhe_to_bhle(a["value"].shape),
        causal,
        **_attention_extras(a),
    )


@register("aten._flash_attention_backward", "aten._efficient_attention_backward")
def flash_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Backward of the low-level flash/efficient kernels (``[B, L, H, E]``)."""
    causal = bool(a.get("is_causal", False)) or int(a.get("custom_mask_type", 0) or 0) > 0
    return attention_cost(
        _blhe_to_bhle(a["query"].shape),
        _blhe_to_bhle(a["key"].shape),
        _blhe_to_bhle(a["value"].shape),
        causal,
        backward=True,
        **_attention_extras(a),
    )


def _linear_cost(rows: int, fan_in: int, fan_out: int, bias: bool) -> Cost:
    return Cost(
        matrix_flops=2 * rows * fan_in * fan_out,
        vector_flops=rows * fan_out if bias else 0,
        op_class="gemm",
    )


def _add_costs(*costs: Cost, op_class: str) -> Cost:
    return Cost(
        matrix_flops=sum(c.matrix_flops for c in costs),
        vector_flops=sum(c.vector_flops for c in costs),
        op_class=op_class,
    )


def mha_cost(
    q: Sequence[int],
    k: Sequence[int],
    embed_dim: int,
    heads: int,
    self_attention: bool,
    *,
    masked: bool = False,
    averaged_weights: bool = False,
) -> Cost:
    """Multi-head attention as ``nn.MultiheadAttention`` computes it (``[B, L, E]``):
    the Q, K and V projections (one packed GEMM for self-attention, three otherwise,
    each E×E with bias), per-head scaled-dot-product attention (an added ``mask``: 1
    per pair, :func:`attention_cost`), and the E×E output projection with bias. Equal,
    by construction, to the sum of the slow path's ops. ``averaged_weights``: the
    attention weights returned averaged over the heads, as the slow path's ``mean``
    (one add per head and pair, one divide per pair)."""
    b, lq = q[0], q[1]
    lk = k[1]
    hd = embed_dim // heads
    if self_attention:
        proj = _linear_cost(b * lq, embed_dim, 3 * embed_dim, True)
    else:
        proj = _add_costs(
            _linear_cost(b * lq, embed_dim, embed_dim, True),
            _linear_cost(b * lk, embed_dim, embed_dim, True),
            _linear_cost(b * lk, embed_dim, embed_dim, True),
            op_class="gemm",
        )
    attn = attention_cost(
        (b, heads, lq, hd), (b, heads, lk, hd), (b, heads, lk, hd), False, masked=masked
    )
    outp = _linear_cost(b * lq, embed_dim, embed_dim, True)
    average = Cost(vector_flops=(heads + 1) * b * lq * lk if averaged_weights else 0)
    return _add_costs(proj, attn, outp, average, op_class="attention")


@register("aten._native_multi_head_attention")
def native_mha(a: Args, out: Sequence[Any]) -> Cost:
    """The ``nn.MultiheadAttention`` inference fast path: see :func:`mha_cost`.
    (PyTorch's own FlopCounterMode counts this op as zero.)"""
    q, k = a["query"], a["key"]
    same = q.shape == k.shape == a["value"].shape
    return mha_cost(
        q.shape,
        k.shape,
        int(a["embed_dim"]),
        int(a["num_head"]),
        same,
        masked=isinstance(a.get("mask"), T),
        averaged_weights=bool(a.get("need_weights", True))
        and bool(a.get("average_attn_weights", True)),
    )


@register("aten._transformer_encoder_layer_fwd")
def transformer_encoder_layer(a: Args, out: Sequence[Any]) -> Cost:
    """The ``nn.TransformerEncoderLayer`` inference fast path, one op for the layer:
    self-attention (:func:`mha_cost`), two residual adds (1 FLOP per element each),
    two LayerNorms (:func:`layer_norm`, 7 per element), and the feed-forward block
    (E→F GEMM with bias, ReLU at 1 or GELU at 5 FLOPs per element, F→E GEMM with
    bias). This equals the sum of the slow path's ops, so eval and train forward agree.
    (PyTorch's own FlopCounterMode counts this op as zero.) A GELU layer is marked
    (``dims["gelu"]``): its activation kernel runs at GELU's speed, not ReLU's."""
    src = a["src"].shape
    e, heads = int(a["embed_dim"]), int(a["num_heads"])
    ff = a["ffn_weight_1"].shape[0]
    rows = math.prod(src[:-1])
    attn = mha_cost(src, src, e, heads, True)
    # ATen's fast path runs gelu_ (the erf form) or relu_ in place
    act = GELU_FLOPS["none"] if a["use_gelu"] else 1
    ffn = _add_costs(
        _linear_cost(rows, e, ff, True),
        _linear_cost(rows, ff, e, True),
        Cost(vector_flops=act * rows * ff),
        op_class="gemm",
    )
    other = Cost(vector_flops=2 * rows * e + 2 * LAYER_NORM_FLOPS * rows * e)
    total = _add_costs(attn, ffn, other, op_class="attention")
    return replace(total, dims={"gelu": 1}) if a["use_gelu"] else total


# --------------------------------------------------------------------------- recurrent

#: vector FLOPs per hidden unit and time step for the gate nonlinearities and the state
#: update, by number of gates (derivations in :func:`rnn_layer_cost`)
RNN_STATE_FLOPS = {1: 1, 3: 15, 4: 18}


def rnn_layer_cost(
    steps: int,
    in_size: int,
    rec_size: int,
    hidden: int,
    gates: int,
    biases: bool,
    batch: int = 1,
) -> Cost:
    """One layer, one direction of a recurrent network over ``steps`` = time x batch
    rows (RNN: 1 gate, GRU: 3, LSTM: 4).

    Matrix: the input projection ``x·W_ih^T`` (``2·G·H·I`` per row) and the recurrent
    projection ``h·W_hh^T`` (``2·G·H·R``, R the hidden or projection size).
    Vector, per row: the sum of the two projections (``G·H``), the two biases
    (``2·G·H``), and the state update per hidden unit: LSTM 3 sigmoids at 4 and a tanh
    at 1 for the gates, ``c = f·c + i·g`` (3) and ``h = o·tanh(c)`` (2): 18; GRU 2
    sigmoids (8), ``n = tanh(x_n + r·h_n)`` (3), ``h = (1 − z)·n + z·h`` (4): 15; a
    plain RNN's tanh or relu: 1. ``batch``: the rows of one time step (the recurrent
    GEMMs are ``batch`` rows each, which is what makes a batch-1 recurrence slow)."""
    gh = gates * hidden
    matrix = 2 * steps * gh * (in_size + rec_size)
    vector = steps * (gh * (3 if biases else 1) + RNN_STATE_FLOPS.get(gates, gates) * hidden)
    # dims: the GEMM of all rows (m), and the rows of one step (batch): the latency
    # model's "rnn" class is fitted on fused recurrent kernels by (batch, n, k)
    dims = {"m": steps, "n": gh, "k": in_size + rec_size, "batch": max(1, batch)}
    return Cost(matrix, vector, "rnn", dims=dims)


def _rnn_rows(x: T, batch_sizes: Sequence[int]) -> int:
    # packed sequences: the batch sizes of all steps add up to the rows; else
    # every element of input but the feature dim is one row
    return int(sum(batch_sizes)) if batch_sizes else math.prod(x.shape[:-1])


def _rnn_batch(a: Args) -> int:
    # the rows of one time step: a packed sequence's first (largest) batch size, else
    # the hidden state's batch dim (oneDNN's hx_ is batch x hidden, cuDNN's hx layers x
    # batch x hidden); both ops get their input time-major whatever batch_first says
    sizes = a.get("batch_sizes") or ()
    if sizes:
        return int(max(sizes))
    hx = a.get("hx_", a.get("hx"))
    if isinstance(hx, T) and len(hx.shape) >= 2:
        return int(hx.shape[-2])
    x = a["input"]
    return int(x.shape[1]) if len(x.shape) >= 3 else 1


def _mkldnn_layer(a: Args, w_ih: str, w_hh: str) -> Cost:
    # the gate count is W_ih's rows / hidden; the weights' argument names differ
    # between the forward and the backward schema
    wi, wh = a[w_ih], a[w_hh]
    hidden = int(a["hidden_size"])
    gates = max(1, wi.shape[0] // hidden)
    rows = _rnn_rows(a["input"], a.get("batch_sizes") or ())
    return rnn_layer_cost(
        rows, wi.shape[1], wh.shape[1], hidden, gates, bool(a["has_biases"]), _rnn_batch(a)
    )


def _backward_of(forward: Cost) -> Cost:
    """A recurrent layer's backward: the input gradient (through ``W_ih`` and, step by
    step, ``W_hh``) and the weight gradients each cost the forward's matrix FLOPs, so
    2x; the gates' elementwise backward is taken as 2x the forward's."""
    return Cost(2 * forward.matrix_flops, 2 * forward.vector_flops, "rnn", dims=forward.dims)


@register("aten.mkldnn_rnn_layer")
def mkldnn_rnn_layer(a: Args, out: Sequence[Any]) -> Cost:
    """oneDNN's fused recurrent layer (``nn.LSTM`` on the CPU): one layer, one
    direction, :func:`rnn_layer_cost`."""
    return _mkldnn_layer(a, "weight0", "weight1")


@register("aten.mkldnn_rnn_layer_backward")
def mkldnn_rnn_layer_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Backward of :func:`mkldnn_rnn_layer` (:func:`_backward_of`)."""
    return _backward_of(_mkldnn_layer(a, "weight1", "weight2"))


def _cudnn_layers(a: Args) -> list[tuple[T, T, T | None]]:
    """(W_ih, W_hh, W_hr or None) per layer and direction. A group holds
    ``weight_stride0`` tensors: W_ih, W_hh, then b_ih, b_hh with biases, then W_hr with
    an LSTM projection (``proj_size``): 2, 3, 4 or 5 tensors."""
    weights = [w for w in a["weight"] if isinstance(w, T)]
    stride = int(a["weight_stride0"]) or 2
    out: list[tuple[T, T, T | None]] = []
    for i in range(0, len(weights) - 1, stride):
        group = weights[i : i + stride]
        out.append((group[0], group[1], group[-1] if stride in (3, 5) else None))
    return out


@register("aten._cudnn_rnn")
def cudnn_rnn(a: Args, out: Sequence[Any]) -> Cost:
    """cuDNN's recurrent network (``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` on CUDA), every
    layer and direction in one op: the sum of :func:`rnn_layer_cost` over the
    (``W_ih``, ``W_hh``) pairs of the weight list (``weight_stride0`` tensors each)."""
    hidden = int(a["hidden_size"])
    rows = _rnn_rows(a["input"], a.get("batch_sizes") or ())
    batch = _rnn_batch(a)
    biases = int(a["weight_stride0"]) in (4, 5)
    parts = []
    for wi, wh, wr in _cudnn_layers(a):
        gates = max(1, wi.shape[0] // hidden)
        part = rnn_layer_cost(rows, wi.shape[1], wh.shape[1], hidden, gates, biases, batch)
        if wr is not None:  # the projection h = W_hr·h (P x H) after each step
            part = replace(part, matrix_flops=part.matrix_flops + 2 * rows * wr.numel)
        parts.append(part)
    if not parts:
        return Cost(op_class="rnn")
    return replace(_add_costs(*parts, op_class="rnn"), dims=parts[0].dims)


@register("aten._cudnn_rnn_backward")
def cudnn_rnn_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Backward of :func:`cudnn_rnn` (:func:`_backward_of`). ATen runs the data
    backward (input and state gradients) unconditionally, since it fills the reserve
    that the weight backward reads; the weight gradients only when ``output_mask[3]``
    asks for them, so a frozen layer does its forward's matrix FLOPs once, not twice."""
    back = _backward_of(cudnn_rnn(a, out))
    mask = a.get("output_mask") or (True, True, True, True)
    if bool(mask[3]):
        return back
    return Cost(back.matrix_flops // 2, back.vector_flops, "rnn", dims=back.dims)


# --------------------------------------------------------------------------- norms

#: FLOPs per element, derivations in the formulas below.
#: LayerNorm/GroupNorm per element with its affine ``·γ + β``; each absent one is 1 less
LAYER_NORM_FLOPS = 7
BATCH_NORM_TRAIN_FLOPS = 6
BATCH_NORM_EVAL_FLOPS = 2
NORM_BACKWARD_FLOPS = 9
#: a norm backward's dγ = Σ(dy·x̂) alone: recompute x̂ (2), the product, the sum
NORM_AFFINE_BACKWARD_FLOPS = 4
#: RMSNorm's dx = rstd·(g − x̂·mean(g·x̂)), g = dy·γ: x̂ = x·rstd, g, g·x̂, its sum, the
#: x̂·c product, the subtract, the scale (no mean to subtract, one row sum, not two)
RMS_NORM_BACKWARD_FLOPS = 7
#: GroupNorm's backward as ATen's CPU and CUDA kernels run it: the per-(N, C) sums
#: ``ds = Σ dy·x`` (2) and ``db = Σ dy`` (1) whatever is asked, then
#: ``dx = c1·dy + c2·x + c3`` (4) with γ folded into the per-channel ``c1``
GROUP_NORM_SUMS_FLOPS, GROUP_NORM_DX_FLOPS = 3, 4


@register(
    "aten.native_batch_norm",
    "aten._native_batch_norm_legit",
    "aten.cudnn_batch_norm",
    "aten.miopen_batch_norm",
)
def batch_norm(a: Args, out: Sequence[Any]) -> Cost:
    """BatchNorm forward. Training: batch statistics cost 4 FLOPs per element (sum for
    the mean; subtract, square, sum for the variance), then ``x·scale + shift`` with
    per-channel scale = γ/√(var+ε) and shift = β − mean·scale: 2 more → 6. With
    running statistics (``training=False``) only the 2 of ``x·scale + shift``.
    cuDNN's and MIOpen's take the same ``training`` argument (until 2026-12-06
    ``miopen_batch_norm`` counted 2 whatever it said)."""
    x = a["input"]
    training = bool(a.get("training", True))
    per = BATCH_NORM_TRAIN_FLOPS if training else BATCH_NORM_EVAL_FLOPS
    # the latency model prices batch statistics apart (``norm.train``): they are a
    # separate, far slower pass on some devices (10x per byte on a CPU thread)
    return Cost(vector_flops=per * x.numel, op_class="norm", dims={"training": int(training)})


@register("aten._native_batch_norm_legit_no_training")
def batch_norm_eval(a: Args, out: Sequence[Any]) -> Cost:
    """BatchNorm with running statistics: ``x·scale + shift`` → 2 FLOPs per element
    (the per-channel scale and shift are negligible)."""
    return Cost(vector_flops=BATCH_NORM_EVAL_FLOPS * a["input"].numel, op_class="norm")


def _affine_missing(a: Args, *names: str) -> int:
    """How many of a norm's affine tensors (``weight``, ``bias``) it was not given:
    ``LayerNorm(elementwise_affine=False)`` (DiT's adaLN) skips ``·γ + β``."""
    return sum(1 for n in names if not isinstance(a.get(n), T))


@register("aten.native_layer_norm", "aten.native_group_norm", "aten.instance_norm")
def layer_norm(a: Args, out: Sequence[Any]) -> Cost:
    """Layer/group norm: statistics per row cost 4 FLOPs per element (sum; subtract,
    square, sum), normalising ``(x − mean)·rstd`` 1 more (the difference is reused),
    and the element-wise affine ``·γ + β`` 2 more → 7 per element; 1 less for each
    of ``weight`` and ``bias`` not given (5 without an affine)."""
    per = LAYER_NORM_FLOPS - _affine_missing(a, "weight", "bias")
    return Cost(vector_flops=per * a["input"].numel, op_class="norm")


@register("aten._fused_rms_norm", "aten.rms_norm")
def rms_norm(a: Args, out: Sequence[Any]) -> Cost:
    """RMSNorm: square and sum (2 per element), ``x·rstd`` (1), ``·γ`` (1) → 4; 3
    without a ``weight``."""
    per = 4 - _affine_missing(a, "weight")
    return Cost(vector_flops=per * a["input"].numel, op_class="norm")


@register(
    "aten.native_batch_norm_backward",
    "aten.native_layer_norm_backward",
    "aten.native_group_norm_backward",
    "aten.cudnn_batch_norm_backward",
    "aten.miopen_batch_norm_backward",
    "aten._fused_rms_norm_backward",
)
def norm_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Norm backward: ``dx = rstd/N · (N·g − Σg − x̂·Σ(g·x̂))`` with ``g = dy·γ``:
    recompute x̂ (2), g (1), g·x̂ (1), two sums (2), the bracket (2), the scale (1)
    → 9 FLOPs per element. A batch norm's dγ = Σ(dy·x̂) and dβ = Σdy are its
    per-channel sums (γ is per channel), and a group norm's come from its per-(N, C)
    sums: reused. A layer or RMS norm's dγ and dβ sum over the rows, across the
    feature sums dx needs: dy·x̂ and its add (2) for dγ, an add (1) for dβ, so 12 with
    both. Without a ``weight`` (no γ) ``g`` is ``dy`` itself: 8.

    RMSNorm (``_fused_rms_norm_backward``, which ``nn.RMSNorm`` reaches on CUDA; a CPU
    runs the decomposed ops) has no mean: ``dx = rstd·(g − x̂·mean(g·x̂))``, 7 per
    element (:data:`RMS_NORM_BACKWARD_FLOPS`; 6 without γ), dγ + 2 (dy·x̂ and the add
    over the rows; 3 alone, recomputing ``x̂ = x·rstd``). A group norm's kernels
    (``group_norm_kernel.cpp``, ``group_norm_kernel.cu``) first take the per-(N, C)
    sums ``Σ dy·x`` and ``Σ dy`` (3 per element) for whichever gradient is asked, then
    ``dx = c1·dy + c2·x + c3`` (4) with γ, the mean and rstd folded into per-(N, C)
    coefficients: 7 per element, with or without γ; dγ and dβ come from the sums per
    channel, so 3 without dx, which still reads the input.

    ``output_mask`` (``[dx, dγ, dβ]``) says what is made. Without ``dx`` (a norm whose
    input needs no gradient: a model's first layer) only the affine gradients are
    computed: dγ recomputes x̂ (2), multiplies by dy (1) and sums (1), 4 per element;
    dβ sums dy, 1. So 5 for both, and γ itself is not read (it only scales ``dx``);
    with neither ``dx`` nor dγ the input and the saved statistics are not read either.
    A gradient not requested is not written, though the meta kernel of
    ``native_batch_norm_backward`` returns one anyway. A batch norm in training uses
    the statistics it saved, not its running ones (in eval mode the reverse): the
    unused pair is not read. ``cudnn_batch_norm_backward`` (no ``train``: autograd
    calls it only for a training-mode ``cudnn_batch_norm``, eval backwards go to
    ``native_batch_norm_backward``) hands cuDNN ``save_mean`` and ``save_var`` and
    takes the running pair only for double backward (cudnn/BatchNorm.cpp: "Unused"),
    so that pair is not read; it always makes all three gradients. MIOpen's
    ``miopen_batch_norm_backward`` (ROCm; the same signature less ``reserveSpace``) is
    the same: autograd calls it for a training-mode ``miopen_batch_norm`` only,
    miopen/BatchNorm_miopen.cpp hands MIOpen ``save_mean`` and ``save_var`` with the
    running pair "Unused", and it makes all three gradients (torch's decomposition is
    ``native_batch_norm_backward`` with ``train=True`` and every gradient, as
    cuDNN's). An eval-mode batch norm's backward (frozen statistics)
    scales dy by the per-channel ``γ·rstd``: 1 per element for dx, dγ and dβ as
    above."""
    x = a.get("input")
    mask = [bool(m) for m in a.get("output_mask", (True, True, True))]
    mask += [False] * (3 - len(mask))
    group = "group" in a
    rms = "normalized_shape" in a and "mean" not in a
    if a.get("train", True) is False:  # eval-mode batch norm: dx = dy·(γ·rstd)
        per = mask[0] + NORM_AFFINE_BACKWARD_FLOPS * mask[1] + mask[2]
    elif group:  # the kernels' two sums always, dx from them when asked
        per = GROUP_NORM_SUMS_FLOPS + GROUP_NORM_DX_FLOPS * mask[0]
    elif rms:  # dγ = Σ_rows dy·x̂ reuses dx's x̂ (2), or recomputes it (1) alone
        per = (RMS_NORM_BACKWARD_FLOPS - _affine_missing(a, "weight")) * mask[0]
        per += (2 + (not mask[0])) * mask[1]
    elif mask[0]:
        per = NORM_BACKWARD_FLOPS - _affine_missing(a, "weight")
        if "normalized_shape" in a:  # layer norm: dγ, dβ reduce over the rows
            per += 2 * mask[1] + mask[2]
    else:
        per = NORM_AFFINE_BACKWARD_FLOPS * mask[1] + mask[2]
    unread: tuple[str, ...] = ()
    if not mask[0]:
        unread += ("weight",)
        if not mask[1] and not group:  # a group norm's kernels sum dy·x for any grad
            unread += ("input", "mean", "rstd", "save_mean", "save_invstd")
    if "bias" in a:  # layer norm: dβ = Σdy needs no β
        unread += ("bias",)
    if "train" in a:  # batch norm
        unread += ("running_mean", "running_var") if a["train"] else ("save_mean", "save_invstd")
    elif "save_var" in a:  # cuDNN's and MIOpen's: training only, the running pair unused
        unread += ("running_mean", "running_var")
    # the gradients made: the outputs in mask order when every slot is there (the
    # batch-norm meta kernel's), else the defined ones, which are the requested ones
    made = [t for t, m in zip(out, mask, strict=False) if m] if len(out) == 3 else list(out)
    written = sum(t.nbytes for t in made if isinstance(t, T))
    return Cost(vector_flops=per * _numel(x), op_class="norm", unread=unread, bytes_written=written)


# --------------------------------------------------------------------------- elementwise


#: real FLOPs per element of the basic arithmetic on complex numbers (an input or the
#: output complex): ``(a+bi) ± (c+di)`` 2 adds; ``−(a+bi)`` 2 negations; ``(a+bi)(c+di)``
#: 4 multiplies and 2 adds, 6 (the FFT convention's complex multiply); ``/`` multiplies
#: by the conjugate (6), divides by ``c² + d²`` (3) twice (2): 11; ``1/(c+di)`` is
#: ``(c−di)/(c² + d²)``: 3, two divides and a negation, 6; ``|a+bi|`` two
#: squares, an add and a square root, 4. The other elementwise ops keep their real count
#: on complex tensors (docs/conventions.md), except lerp (:data:`LERP_FLOPS`)
COMPLEX_ELEMENTWISE_FLOPS = {
    **dict.fromkeys(("add", "add_", "sub", "sub_", "rsub", "neg", "neg_"), 2),
    **dict.fromkeys(("mul", "mul_"), 6),
    **dict.fromkeys(("div", "div_"), 11),
    **dict.fromkeys(("reciprocal", "reciprocal_"), 6),
    **dict.fromkeys(("abs", "abs_"), 4),
}


def _any_complex(a: Args, out: Sequence[Any]) -> bool:
    return any(isinstance(t, T) and t.dtype.is_complex for t in (*a.values(), *out))


def elementwise(
    flops_per_element: int, op_class: str = "elementwise", complex_flops: int | None = None
) -> Formula:
    """A formula for ops costing ``flops_per_element`` per *output* element
    (``complex_flops`` when an input or the output is complex)."""

    def fn(a: Args, out: Sequence[Any]) -> Cost:
        per = flops_per_element
        if complex_flops is not None and _any_complex(a, out):
            per = complex_flops
        return Cost(vector_flops=per * _out_numel(out), op_class=op_class)

    fn.__name__ = f"elementwise_{flops_per_element}"
    fn.__doc__ = f"{flops_per_element} FLOP(s) per output element" + (
        f" ({complex_flops} on complex numbers)." if complex_flops is not None else "."
    )
    return fn


def _register_family(names: str, flops: int, op_class: str = "elementwise") -> None:
    plain = elementwise(flops, op_class)
    for n in names.split():
        c = COMPLEX_ELEMENTWISE_FLOPS.get(n)
        register(f"aten.{n}")(plain if c is None else elementwise(flops, op_class, c))


# 1 FLOP per element: one arithmetic op, comparison, or transcendental.
_register_family(
    "mul mul_ neg neg_ abs abs_ reciprocal reciprocal_ "
    "sqrt sqrt_ rsqrt rsqrt_ exp exp_ exp2 expm1 log log_ log2 log10 log1p sin cos tan "
    "tanh tanh_ erf erf_ erfinv pow pow_ square maximum minimum fmax fmin remainder fmod "
    "floor floor_ ceil ceil_ round round_ trunc sign sgn relu relu_ threshold threshold_ "
    "threshold_backward eq ne lt le gt ge eq_ ne_ lt_ le_ gt_ ge_ logical_not logical_and "
    "logical_or logical_xor bitwise_not bitwise_and bitwise_or bitwise_xor where "
    "masked_fill masked_fill_ clamp_min clamp_min_ clamp_max clamp_max_ isnan isinf "
    "nan_to_num heaviside __lshift__ __rshift__ __ilshift__ __irshift__ "
    "bitwise_left_shift bitwise_right_shift",
    1,
)
# 2 FLOPs per element
_register_family(
    "hardtanh hardtanh_ hardtanh_backward leaky_relu leaky_relu_ "
    "leaky_relu_backward relu6 prelu "
    "_prelu_kernel native_dropout_backward xlogy "
    # x / y then floor; x · 2^e (ldexp is a multiply by exp2(e))
    "floor_divide floor_divide_ ldexp ldexp_",
    2,
)
#: lerp's FLOPs per output element, by the kind of weight. ATen's kernel (Lerp.h) is
#: ``|w| < ½ ? start + w·(end − start) : end − (end − start)·(1 − w)``. A scalar
#: weight picks its branch once, and ``1 − w`` is a constant: subtract, multiply,
#: add (or subtract) 3. A tensor weight is tested per element, abs and compare 2,
#: and which branch runs depends on its values, so the costlier one is counted (the
#: upper bound, as for every value-dependent op): end − start, 1 − w, the multiply,
#: the subtract 4; 6 in all (CPU's branch-free vector form does the same arithmetic:
#: abs, compare, w − 1, end − start, a fused multiply-add). On complex tensors (the
#: weight then complex too: a tensor one must share their dtype, a scalar is cast to
#: it) the same steps at :data:`COMPLEX_ELEMENTWISE_FLOPS`' prices: a scalar weight
#: end − start 2, the complex multiply 6, the add 2 = 10 (either branch); a tensor
#: weight's test is ATen's ``re² + im² < ¼`` (Lerp.h skips the square root of |w|:
#: 2 multiplies, an add, the compare 4), then end − start 2, 1 − w 2, the multiply
#: 6, the subtract 2: 16
LERP_FLOPS = {"scalar": 3, "tensor": 6, "complex scalar": 10, "complex tensor": 16}


@register("aten.lerp", "aten.lerp_")
def lerp(a: Args, out: Sequence[Any]) -> Cost:
    """``lerp(start, end, weight)`` per output element (in place or not):
    :data:`LERP_FLOPS`, 3 with a scalar weight, 6 with a tensor one; on complex
    tensors 10 and 16."""
    kind = "tensor" if isinstance(a.get("weight"), T) else "scalar"
    if _any_complex(a, out):
        kind = f"complex {kind}"
    return Cost(vector_flops=LERP_FLOPS[kind] * _out_numel(out), op_class="elementwise")


def _not(a: Args, name: str, default: float) -> int:
    """1 when the scalar argument ``name`` is given and differs from ``default``,
    its identity value (add's ``alpha`` of 1, a random fill's ``mean`` of 0)."""
    v = a.get(name, default)
    return int(v is not None and v != default)


def scaled_elementwise(
    flops: int, extra: Mapping[str, int], complex_flops: int | None = None
) -> Formula:
    """``flops`` per output element, plus ``extra[name]`` multiplies (or divides) per
    element for each scalar argument ``name`` that is not 1 (add's ``alpha``,
    addcmul's ``value``, softplus's ``beta``). With ``complex_flops`` (add, sub) a
    complex input or output counts that instead and each multiply 6
    (:data:`COMPLEX_ELEMENTWISE_FLOPS`), a real scalar too: ATen's kernels take it
    cast to the tensors' complex type (``add``'s ``alpha.to<scalar_t>()``, then
    ``self + alpha * other``), so the full complex multiply is what runs; without,
    the real count is kept."""

    def fn(a: Args, out: Sequence[Any]) -> Cost:
        cplx = complex_flops is not None and _any_complex(a, out)
        per = complex_flops if cplx and complex_flops is not None else flops
        mul = COMPLEX_ELEMENTWISE_FLOPS["mul"] if cplx else 1
        per += sum(n * mul * _not(a, name, 1) for name, n in extra.items())
        return Cost(vector_flops=per * _out_numel(out), op_class="elementwise")

    fn.__name__ = f"scaled_elementwise_{flops}_{'_'.join(extra)}"
    fn.__doc__ = (
        f"{flops} FLOP(s) per output element, plus per element for each scalar that is "
        f"not 1: {dict(extra)}."
    )
    return fn


# x + alpha·y: the add, and the multiply when alpha is not 1
for _n in ("add", "add_", "sub", "sub_", "rsub"):
    register(f"aten.{_n}")(scaled_elementwise(1, {"alpha": 1}, COMPLEX_ELEMENTWISE_FLOPS[_n]))
# x + value·(y·z) and x + value·(y/z): the product or quotient and the add, and the
# multiply by value when it is not 1
for _n in ("addcmul", "addcmul_", "addcdiv", "addcdiv_"):
    register(f"aten.{_n}")(scaled_elementwise(2, {"value": 1}))
# elu = x > 0 ? scale·x : scale·alpha·(exp(input_scale·x) − 1): compare, exp, subtract,
# the alpha multiply 4; one more multiply for each of scale (SELU's) and input_scale
# that is not 1 (scale·alpha is one constant)
for _n in ("elu", "elu_"):
    register(f"aten.{_n}")(scaled_elementwise(4, {"scale": 1, "input_scale": 1}))
# softplus = log(1 + exp(β·x)) / β, or x past the threshold: exp, add, log, compare 4;
# a β that is not 1 adds its multiply and divide
register("aten.softplus")(scaled_elementwise(4, {"beta": 2}))


@register("aten.clamp", "aten.clamp_")
def clamp(a: Args, out: Sequence[Any]) -> Cost:
    """One comparison per bound given (``min``, ``max``, scalars or tensors) per output
    element: ``clamp(x, min=0)`` is a ReLU's 1, ``clamp(x, -1, 1)`` 2."""
    bounds = sum(a.get(k) is not None for k in ("min", "max"))
    return Cost(vector_flops=max(bounds, 1) * _out_numel(out), op_class="elementwise")


@register("aten.div", "aten.div_")
def div(a: Args, out: Sequence[Any]) -> Cost:
    """A divide per output element (11 on complex numbers), and a floor or truncation
    when ``rounding_mode`` is given (``div(x, y, rounding_mode='floor')``, ``//``)."""
    if _any_complex(a, out):
        return Cost(vector_flops=COMPLEX_ELEMENTWISE_FLOPS["div"] * _out_numel(out))
    per = 1 if a.get("rounding_mode") is None else 2
    return Cost(vector_flops=per * _out_numel(out), op_class="elementwise")


# sigmoid = 1 / (1 + exp(-x)): negate, exp, add, divide
_register_family("sigmoid sigmoid_ hardsigmoid hardsigmoid_", 4)
# tanh/sigmoid backward: g·(1 − y²) / g·y·(1 − y): 3
_register_family("sigmoid_backward tanh_backward", 3)


@register("aten.elu_backward")
def elu_backward(a: Args, out: Sequence[Any]) -> Cost:
    """ELU's backward (SELU's and CELU's too), as ATen's ``elu_backward_kernel``:
    ``g · (x ≤ 0 ? α·scale·input_scale · exp(input_scale·x) : scale)``: compare,
    exp, the coefficient multiply (counted always, as the forward's α), ·g → 4, and
    1 more for ``input_scale·x`` when ``input_scale`` is not 1 (CELU's 1/α); ``scale``
    folds into the two constants. From the saved result (``is_result``: the in-place
    ``elu_``), ``g · (y ≤ 0 ? input_scale·(y + α·scale) : scale)``: compare, add,
    the coefficient multiply, ·g → 4."""
    per = 4
    if not a.get("is_result", False) and a.get("input_scale", 1) != 1:
        per += 1
    return Cost(vector_flops=per * _out_numel(out), op_class="elementwise")


@register("aten.softplus_backward")
def softplus_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Softplus's backward, as ATen's ``softplus_backward_kernel``: ``z = exp(β·x)``,
    ``β·x > threshold ? g : g·z / (z + 1)``: exp, add, divide, multiply, the threshold
    compare → 5, and the multiply ``β·x`` when β is not 1 → 6 (the forward's divide
    by β has no counterpart: the derivative of ``log(1 + e^{βx})/β`` is
    ``e^{βx}/(1 + e^{βx})``)."""
    per = 5 + int(a.get("beta", 1) != 1)
    return Cost(vector_flops=per * _out_numel(out), op_class="elementwise")


# silu = x·sigmoid(x); hardswish = x·clamp(x + 3, 0, 6) / 6
_register_family("silu silu_ hardswish hardswish_ mish mish_", 5)
#: GELU's FLOPs per element: erf form ``x/2·(1 + erf(x/√2))`` 5; tanh approximation
#: ``x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`` 9 (x³ is 2, then 7 more)
GELU_FLOPS = {"none": 5, "tanh": 9}


@register("aten.gelu", "aten.gelu_")
def gelu(a: Args, out: Sequence[Any]) -> Cost:
    """GELU: :data:`GELU_FLOPS` per output element by its ``approximate`` form; the
    tanh form is marked (``dims["tanh"]``): a CPU runs it at a speed of its own."""
    form = a.get("approximate") or "none"
    tanh = form == "tanh"
    return Cost(
        vector_flops=GELU_FLOPS["tanh" if tanh else "none"] * _out_numel(out),
        op_class="elementwise",
        dims={"tanh": 1} if tanh else {},
    )


# hardswish backward: x < −3 ? 0 : x ≤ 3 ? g·(x/3 + ½) : g: two compares, the divide,
# the add, ·g → 5; hardsigmoid backward: −3 < x < 3 ? g/6 : 0: two compares, ·g → 3
_register_family("hardswish_backward", 5)
_register_family("hardsigmoid_backward", 3)
# silu backward: s = sigmoid(x) (4), then g·s·(1 + x·(1 − s)): 5 more
_register_family("silu_backward", 9)
# mish = x·tanh(softplus(x)), softplus' = σ: g·(t + x·σ(x)·(1 − t²)) with
# t = tanh(log1p(exp(x))): exp, log1p, tanh 3; σ 4; t², 1 − t², x·σ, the product,
# the add, ·g 6 → 13
_register_family("mish_backward", 13)
#: GELU's backward FLOPs per element, ``g·(Φ(x) + x·φ(x))``: erf form Φ = ½(1 +
#: erf(x/√2)) 4 (scale, erf, add, halve), φ = exp(−x²/2)/√(2π) 4 (square, scale,
#: exp, scale), x·φ, the add, ·g 3 → 11; tanh form, with t = tanh(β(x + κx³)):
#: t 6 (x², x³, κ·, + x, β·, tanh), ½(1 + t) 2, 1 − t² 2, ½x 1, β(1 + 3κx²) 3, the two
#: products 2, the add 1, ·g 1 → 18 (the forward's 5 and 9 counted the same way)
GELU_BACKWARD_FLOPS = {"none": 11, "tanh": 18}


@register("aten.gelu_backward")
def gelu_backward(a: Args, out: Sequence[Any]) -> Cost:
    """GELU's backward: :data:`GELU_BACKWARD_FLOPS` per element by its ``approximate``
    form (erf 11, tanh 18); the tanh form is marked (``dims["tanh"]``), as the
    forward's is: a CPU runs it at a speed of its own."""
    tanh = (a.get("approximate") or "none") == "tanh"
    return Cost(
        vector_flops=GELU_BACKWARD_FLOPS["tanh" if tanh else "none"] * _out_numel(out),
        op_class="elementwise",
        dims={"tanh": 1} if tanh else {},
    )


#: FLOPs per element of dropout: its Bernoulli mask by the fill rule (a draw and a
#: compare, as :func:`bernoulli`), then ``x·mask·scale`` (2), as ATen runs it
#: (``input.mul(mask).mul_(scale)`` on a CPU, ``src * mask * scale`` in the CUDA
#: kernel) and as the composite dropout a CPU trace records (``bernoulli_`` 2,
#: ``div_`` 1, ``mul`` 1); its backward ``g·mask·scale`` is 2
DROPOUT_FLOPS = 4


@register("aten.native_dropout")
def native_dropout(a: Args, out: Sequence[Any]) -> Cost:
    """Dropout in training: :data:`DROPOUT_FLOPS` per input element. With ``train``
    false it returns a copy of the input and an all-true mask: no arithmetic."""
    train = a.get("train")
    per = DROPOUT_FLOPS if train is None or bool(train) else 0
    return Cost(vector_flops=per * _numel(a["input"]), op_class="elementwise")


@register("aten.bernoulli", "aten.bernoulli_")
def bernoulli(a: Args, out: Sequence[Any]) -> Cost:
    """A Bernoulli draw per element, a draw and a compare: 2. Its bytes: it reads the
    probabilities, ``self`` for ``torch.bernoulli(probs)`` and ``p`` when that is a
    tensor; a float ``p`` (``x.bernoulli_(0.5)``, ``torch.bernoulli(x, 0.5)``) reads
    nothing, ``self`` gives only the shape (in place: the destination, overwritten)."""
    return Cost(
        vector_flops=2 * _out_numel(out),
        op_class="elementwise",
        unread=("self",) if "p" in a else (),
    )


# --------------------------------------------------------------------------- reductions


def reduced_rows(x: Any, dim: Any) -> int:
    """How many rows a reduction of ``x`` over ``dim`` (an int, a list, or None: every
    dim) reduces one after the other: the elements it keeps, when the dims it reduces
    are the innermost (size-1 dims aside: ``mean((2, 3))`` of an NCHW map reduces N·C
    rows of H·W), else 0 (an outer dim, ``mean(1)`` of ``[B, L, C]``: the kernel adds
    whole rows of C into C sums, no per-row step). The latency model prices a row's
    final step (a horizontal add, the store) apart from the bytes streamed: a CPU
    thread reduces 49-element rows (global average pooling of a 7x7 map) at about half
    the bytes/s of long ones."""
    if not isinstance(x, T) or not x.shape:
        return 0
    nd = len(x.shape)
    if dim is None or dim == []:
        return 1
    picked = {d % nd for d in ([dim] if isinstance(dim, int) else dim)}
    first = min(picked)
    if any(x.shape[d] != 1 for d in range(first, nd) if d not in picked):
        return 0
    return math.prod(n for d, n in enumerate(x.shape) if d not in picked)


def _reduction_cost(a: Args, vector_flops: int) -> Cost:
    x = a.get("self", a.get("input"))
    rows = reduced_rows(x, a.get("dim"))
    return Cost(
        vector_flops=vector_flops, op_class="reduction", dims={"rows": rows} if rows else {}
    )


def _reduction(per_input: int) -> Formula:
    def fn(a: Args, out: Sequence[Any]) -> Cost:
        return _reduction_cost(a, per_input * _numel(a.get("self", a.get("input"))))

    fn.__name__ = f"reduction_{per_input}"
    fn.__doc__ = (
        f"{per_input} FLOP(s) per *input* element (a reduction touches each once); the "
        "rows it reduces in turn in ``dims['rows']`` (:func:`reduced_rows`)."
    )
    return fn


def _scan(a: Args, out: Sequence[Any]) -> Cost:
    """A scan (cumsum, cumprod): one FLOP per input element; it writes every element,
    so it has no rows of its own to finish."""
    return Cost(vector_flops=_numel(a.get("self", a.get("input"))), op_class="reduction")


for _names, _per in (
    ("sum amax amin max min argmax argmin prod any all", 1),
    ("var std var_mean std_mean", 3),
    ("logsumexp", 3),
):
    _fn = _reduction(_per)
    for _n in _names.split():
        register(f"aten.{_n}")(_fn)
register("aten.cumsum", "aten.cumprod")(_scan)


def _vector_norm(a: Args, out: Sequence[Any], root: bool) -> Cost:
    x = a.get("self", a.get("input"))
    p = a.get("ord", a.get("p", 2))
    p = 2.0 if p is None else float(p)
    per = 2 if p in (0.0, 1.0, 2.0, math.inf, -math.inf) else 3
    root = root and p not in (0.0, 1.0, math.inf, -math.inf)
    return _reduction_cost(a, per * _numel(x) + (_out_numel(out) if root else 0))


@register("aten.linalg_vector_norm", "aten.norm")
def vector_norm(a: Args, out: Sequence[Any]) -> Cost:
    """A vector p-norm, as ATen's norm kernels (``NormOps``) reduce: per input element
    ``x·x`` and an add for p = 2; ``|x|`` and an add (p = 1), a max or min (p = ±inf)
    or a count (p = 0, ``x ≠ 0`` and an add): 2; ``|x|^p`` and an add for any other p:
    3. Then the root per output element, ``sqrt`` or ``^(1/p)``: 1, none for p = 1,
    ±inf, 0, nor for ``linalg__powsum`` (the sum of powers, no root). ``norm`` names
    its order ``p`` (None is 2), ``linalg_vector_norm`` ``ord``."""
    return _vector_norm(a, out, root=True)


@register("aten.linalg__powsum")
def powsum(a: Args, out: Sequence[Any]) -> Cost:
    """The sum of ``|x|^p`` (``linalg__powsum``): :func:`vector_norm` without the root."""
    return _vector_norm(a, out, root=False)


@register("aten.mean")
def mean(a: Args, out: Sequence[Any]) -> Cost:
    """Mean: one add per input element, one divide per output element; its rows as a
    reduction's (:func:`reduced_rows`)."""
    return _reduction_cost(a, _numel(a["self"]) + _out_numel(out))


@register(
    "aten._softmax", "aten._log_softmax", "aten.softmax", "aten.log_softmax", "aten._safe_softmax"
)
def softmax(a: Args, out: Sequence[Any]) -> Cost:
    """Softmax: max (1), subtract (1), exp (1), sum (1), divide (1) → 5 per element.
    Log-softmax: the divide becomes a subtract of log(sum) → also 5."""
    return Cost(vector_flops=5 * a["self"].numel, op_class="softmax")


@register("aten._softmax_backward_data", "aten._log_softmax_backward_data")
def softmax_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Softmax backward ``y·(g − Σ g·y)``: multiply, sum, subtract, multiply → 4."""
    return Cost(vector_flops=4 * a["grad_output"].numel, op_class="softmax")


# --------------------------------------------------------------------------- losses

#: ``reduction`` argument of ATen's losses
LOSS_REDUCTION_NONE, LOSS_REDUCTION_MEAN = 0, 1


def _loss_reduction(n: int, reduction: int) -> int:
    """FLOPs of reducing ``n`` per-element losses inside the op: a sum (one add each)
    and, for the mean, a divide; nothing for ``reduction='none'``."""
    if int(reduction) == LOSS_REDUCTION_NONE:
        return 0
    return n + (1 if int(reduction) == LOSS_REDUCTION_MEAN else 0)


def _loss_class(reduction: int) -> str:
    return "elementwise" if int(reduction) == LOSS_REDUCTION_NONE else "reduction"


def _pointwise_loss(a: Args, per: int) -> Cost:
    """A loss of ``per`` FLOPs per element of ``self``, then the reduction."""
    n = a["self"].numel
    return Cost(
        vector_flops=per * n + _loss_reduction(n, a["reduction"]),
        op_class=_loss_class(a["reduction"]),
    )


def _pointwise_loss_backward(a: Args, per: int) -> Cost:
    """A loss's backward of ``per`` FLOPs per element of ``self``, and the mean's
    ``1/n`` once."""
    once = 1 if int(a["reduction"]) == LOSS_REDUCTION_MEAN else 0
    return Cost(vector_flops=per * a["self"].numel + once, op_class="elementwise")


@register("aten.nll_loss_forward", "aten.nll_loss2d_forward")
def nll_loss(a: Args, out: Sequence[Any]) -> Cost:
    """Negative log-likelihood (``F.cross_entropy`` after its ``log_softmax``): per
    target element (R of them: a row of ``[N, C]``, or a pixel for the 2-D loss) the
    log-probability of its class is gathered and negated (1), times the class weight
    and added to the total weight (2, with ``weight``); then the reduction
    (:func:`_loss_reduction`). Bytes, the gather rule: the targets whole, and of
    ``self`` only the R values gathered (not the whole ``[N, C]``) and of ``weight``
    only the class weight of each target, ``weight[target[i]]`` (ATen's
    ``nll_loss_out_frame`` and ``nll_loss2d_forward_out_frame``, and the CUDA
    kernels, load ``weight_data[cur_target]`` per target), at most all C of them
    (:func:`_nll_reads`); the loss and the total weight written. Each is a part of
    one argument (``Cost.reads``), so a weight held as a buffer
    (``nn.CrossEntropyLoss(weight=…)``) counts as weight bytes the class weights
    read. The ignore_index test is not counted (an ignored target reads neither: the
    upper bound, all R)."""
    x, target, weight = a["self"], a["target"], a.get("weight")
    r = target.numel
    per = 1 + (2 if isinstance(weight, T) else 0)
    return Cost(
        vector_flops=r * per + _loss_reduction(r, a["reduction"]),
        op_class=_loss_class(a["reduction"]),
        reads={"self": min(r, x.stored) * _itemsize(x.dtype), **_nll_reads(weight, r)},
    )


def _nll_reads(weight: Any, r: int) -> dict[str, int]:
    """What an NLL op reads of its class weights for ``r`` targets: one per target,
    ``weight[target[i]]``, bounded by the C weights (no element need come from memory
    twice, the gather rule); nothing without weights."""
    if not isinstance(weight, T):
        return {}
    return {"weight": min(r, weight.stored) * _itemsize(weight.dtype)}


@register("aten.nll_loss_backward", "aten.nll_loss2d_backward")
def nll_loss_backward(a: Args, out: Sequence[Any]) -> Cost:
    """NLL backward: a zeroed ``[N, C]`` gradient with ``−g·w[t] / total_weight`` at
    each target's class. Reduced: the scale ``−g`` once (1; the mean's divide by the
    total weight, 1 more), then per target element the multiply by its class weight
    (1, with ``weight``; else a store). ``reduction='none'``: per element ``−g_i`` (1)
    and the weight (1). Bytes: the gradient, targets and total weight read; of the
    class weights, as the forward, ``weight[target[i]]`` per target, at most all of
    them (:func:`_nll_reads`: the kernels ``nll_loss_backward_out_frame`` and
    ``nll_loss2d_backward_out_frame`` store ``−weight_data[cur_target]·g`` at each
    target); ``self`` only lends its shape (not read); the gradient written (generic
    rule)."""
    weight, reduction = a.get("weight"), int(a["reduction"])
    r = a["target"].numel
    per = (1 if isinstance(weight, T) else 0) + (1 if reduction == LOSS_REDUCTION_NONE else 0)
    once = 0 if reduction == LOSS_REDUCTION_NONE else 1 + int(reduction == LOSS_REDUCTION_MEAN)
    return Cost(
        vector_flops=r * per + once,
        op_class=_loss_class(reduction),
        unread=("self",),
        reads=_nll_reads(weight, r),
    )


@register("aten.smooth_l1_loss")
def smooth_l1_loss(a: Args, out: Sequence[Any]) -> Cost:
    """Smooth L1 (the detectors' box loss): per element ``z = |x − y|``
    (2), the test ``z < β`` (1) and the larger branch, ``0.5·z²/β`` (3; the other,
    ``z − 0.5·β``, 1) → 6, then the reduction (:func:`_loss_reduction`). Bytes: the
    generic rule, input and target read, the loss written (the unreduced loss ATen
    materialises before reducing it is the kernel's internal buffer, not counted)."""
    return _pointwise_loss(a, 6)


@register("aten.smooth_l1_loss_backward")
def smooth_l1_loss_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Smooth L1 backward, per element: ``x − y`` (1), the two tests against
    ±β (2), and the larger branch ``norm·(x − y)·g / β`` (3; the others ``±norm·g``,
    1) → 6, ``norm`` being ``1/n`` for the mean (1, once). Bytes: the generic rule."""
    return _pointwise_loss_backward(a, 6)


@register("aten.mse_loss")
def mse_loss(a: Args, out: Sequence[Any]) -> Cost:
    """Mean squared error: per element ``(x − y)²`` (subtract, square: 2), then the
    reduction (:func:`_loss_reduction`). Bytes: the generic rule."""
    return _pointwise_loss(a, 2)


@register("aten.mse_loss_backward")
def mse_loss_backward(a: Args, out: Sequence[Any]) -> Cost:
    """MSE backward, per element ``norm·2·(x − y)·g`` (subtract, two multiplies: 3;
    ``norm·2`` folded once: 1 for the mean). Bytes: the generic rule (gradient, input
    and target read, the input's gradient written)."""
    return _pointwise_loss_backward(a, 3)


@register("aten.huber_loss")
def huber_loss(a: Args, out: Sequence[Any]) -> Cost:
    """Huber: per element ``z = |x − y|`` (2), the test ``z < δ`` (1) and the larger
    branch, ``0.5·z²`` (2; the other, ``δ·(z − 0.5·δ)``, 2) → 5, then the reduction
    (:func:`_loss_reduction`). Bytes: the generic rule."""
    return _pointwise_loss(a, 5)


@register("aten.huber_loss_backward")
def huber_loss_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Huber backward, per element: ``x − y`` (1), the two tests against ±δ (2) and
    ``norm·(x − y)·g`` (2; the clamped branches ``±norm·δ·g``, 2) → 5, ``norm`` 1/n
    for the mean (1, once). Bytes: the generic rule."""
    return _pointwise_loss_backward(a, 5)


@register("aten.binary_cross_entropy")
def binary_cross_entropy(a: Args, out: Sequence[Any]) -> Cost:
    """BCE on probabilities: per element ``−(t·log p + (1 − t)·log(1 − p))``, ATen
    clamping each log at −100: two logs, ``1 − p``, ``1 − t``, two clamps, two
    multiplies, the add and the negate → 10 (``weight``: 1 more), then the reduction
    (:func:`_loss_reduction`). Bytes: the generic rule."""
    per = 10 + (1 if isinstance(a.get("weight"), T) else 0)
    return _pointwise_loss(a, per)


@register("aten.binary_cross_entropy_backward")
def binary_cross_entropy_backward(a: Args, out: Sequence[Any]) -> Cost:
    """BCE backward, per element ``g·(p − t) / max((1 − p)·p, ε)``: subtract, ``1 −
    p``, multiply, the max with ε, divide, multiply by ``g`` → 6 (``weight``: 1 more),
    ``norm`` 1/n for the mean (1, once). Bytes: the generic rule."""
    per = 6 + (1 if isinstance(a.get("weight"), T) else 0)
    return _pointwise_loss_backward(a, per)


@register("aten.binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(a: Args, out: Sequence[Any]) -> Cost:
    """``(1 − t)·x − log σ(x)`` per element, as ATen computes it: ``log σ(x) =
    min(x, 0) − log1p(exp(−|x|))`` (abs, negate, exp, log1p, min, subtract: 6), then
    ``1 − t``, the multiply and the subtract (3) → 9; with ``pos_weight`` the log term
    is scaled by ``(p − 1)·t + 1`` (3 more), with ``weight`` the loss by it (1 more);
    then the reduction (:func:`_loss_reduction`). Its backward runs as elementwise
    ops, counted as such. Bytes: the generic rule."""
    per = 9 + (3 if isinstance(a.get("pos_weight"), T) else 0)
    per += 1 if isinstance(a.get("weight"), T) else 0
    return _pointwise_loss(a, per)


# --------------------------------------------------------------------------- sorting


def sort_comparisons(n: int) -> int:
    """Comparisons to sort ``n`` values: ``n·⌈log₂ n⌉``, a merge sort's bound (the
    lower bound of any comparison sort, log₂ n!, is ``n·log₂ n − 1.44·n``). A
    comparison is one FLOP, as in max pooling. ``(n − 1).bit_length()`` is ⌈log₂ n⌉
    in exact integers; 0 for n ≤ 1."""
    return n * (n - 1).bit_length() if n > 1 else 0


def _rows_along(x: T, dim: int) -> tuple[int, int]:
    # (rows, length) of x seen as independent rows along ``dim``
    if not x.shape:
        return 1, 1
    n = x.shape[dim]
    return (x.numel // n if n else 0), n


@register("aten.sort")
def sort(a: Args, out: Sequence[Any]) -> Cost:
    """Sort along ``dim``: every row of length n costs :func:`sort_comparisons`
    (n·⌈log₂ n⌉ comparisons, one FLOP each). (CUDA sorts long rows by radix, without
    comparisons; the count is the comparison sort's, for every device.) Bytes: the
    generic rule, the input read, values and int64 indices written. ``argsort`` and
    ``msort`` run as this op. Op class ``reduction``: a row-wise pass over the input
    that is priced, like a reduction, by the bytes it moves."""
    rows, n = _rows_along(a["self"], int(a.get("dim", -1)))
    return Cost(vector_flops=rows * sort_comparisons(n), op_class="reduction")


@register("aten.topk")
def topk(a: Args, out: Sequence[Any]) -> Cost:
    """The k largest (or smallest) of each row of length n along ``dim``: selecting
    them compares every element with the running k-th value, n comparisons per row
    (the linear term of a quickselect or of CUDA's radix select; the CPU's heap for
    small k does up to n·⌈log₂ k⌉), then, with ``sorted=True``, sorting the k kept
    costs :func:`sort_comparisons` (k·⌈log₂ k⌉). Bytes: the generic rule, the input
    read, k values and k int64 indices per row written. Op class ``reduction`` (a
    reduction of each row to k values)."""
    rows, n = _rows_along(a["self"], int(a.get("dim", -1)))
    k = int(a["k"])
    per_row = n + (sort_comparisons(k) if a.get("sorted", True) else 0)
    return Cost(vector_flops=rows * per_row, op_class="reduction")


@register("aten.nonzero", "aten.nonzero_static")
def nonzero(a: Args, out: Sequence[Any]) -> Cost:
    """Indices of the non-zero elements: per input element a comparison with zero and
    an add into the running count (the prefix sum that places each hit in the
    output) → 2 FLOPs per input element; writing the indices is data movement.
    Bytes: the generic rule, the input read and the ``[nnz, ndim]`` int64 output
    written. The output size depends on values, so this op cannot run on fake tensors
    (the counter reports a data-dependent model and suggests ``--real``); over real
    tensors nnz is known and its bytes are exact. ``nonzero_static`` pads the output to
    its fixed ``size`` and writes all of it. Op class ``reduction``: a scan, like
    ``cumsum``."""
    return Cost(vector_flops=2 * a["self"].numel, op_class="reduction")


@register("aten._unique2", "aten._unique")
def unique(a: Args, out: Sequence[Any]) -> Cost:
    """``torch.unique`` of n elements (flattened): sort them (:func:`sort_comparisons`,
    n·⌈log₂ n⌉), compare each with its neighbour to mark the first of every run (n),
    and a prefix sum over the marks that numbers the unique values, gives the inverse
    indices and, by differences, the counts (n) → n·⌈log₂ n⌉ + 2·n. (The CPU's
    unsorted path hashes instead of sorting; counted the same.) Bytes: the generic
    rule, the input read, the unique values, the int64 inverse (n, or empty) and
    counts (one per unique value, or empty) written; their sizes depend on values, so
    like ``nonzero`` this op only runs over real tensors, where they are exact. Op
    class ``reduction``."""
    n = a["self"].numel
    return Cost(vector_flops=sort_comparisons(n) + 2 * n, op_class="reduction")


# --------------------------------------------------------------------------- pooling


def _per_dim(value: Any, n: int, default: int) -> list[int]:
    """A pooling size argument (an int, a 1-element list for every dim, or one per
    dim; empty: ``default``) as one int per spatial dim."""
    if value is None or (isinstance(value, list | tuple) and not value):
        return [default] * n
    if isinstance(value, list | tuple):
        return [int(v) for v in value] * (n if len(value) == 1 else 1)
    return [int(value)] * n


def window_taps(
    size: int, out: int, kernel: int, stride: int, padding: int, dilation: int = 1
) -> int:
    """Input elements the ``out`` windows of a pool along one dim reach, summed over
    the windows: tap j (``j < kernel``) of window o sits at ``o·stride − padding +
    j·dilation`` and counts when it lies inside the input ``[0, size)`` (padding is
    never read, compared or added into). ATen's pooling kernels (CPU
    ``cpu_max_pool``/``cpu_avg_pool``, CUDA ``max_pool_forward_nchw``/
    ``avg_pool2d_out_cuda_frame``, and the backwards) clip each window this way
    before looping over it. A ceil_mode output's partial last window and a dilated
    window are clipped alike: the output size fixes the windows."""
    total = 0
    for o in range(out):
        start = o * stride - padding
        first = -(start // dilation) if start < 0 else 0  # ⌈−start / dilation⌉
        last = min(kernel - 1, (size - 1 - start) // dilation)
        total += max(0, last - first + 1)
    return total


def pool_taps(
    x: T,
    out: T,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int] | None = None,
) -> int:
    """Window taps inside the input summed over every output element of a pool over
    the last ``len(kernel)`` dims of ``x`` (output ``out``): per plane (the dims
    before the spatial ones, N·C) the product over the spatial dims of
    :func:`window_taps` (a window is the product of its dims' ranges, so the count
    factorises), times the planes. What a max pool compares and an average pool adds
    (:func:`max_pool_cost`, :func:`avg_pool_cost`, the calibration's pool family)."""
    n = len(kernel)
    dil = dilation or [1] * n
    per_plane = math.prod(
        window_taps(x.shape[d - n], out.shape[d - n], kernel[d], stride[d], padding[d], dil[d])
        for d in range(n)
    )
    planes = out.numel // max(math.prod(out.shape[-n:]), 1)
    return planes * per_plane


def _pool_args(a: Args, n: int) -> tuple[list[int], list[int], list[int]]:
    """A fixed-window pool's kernel, stride (empty: the kernel) and padding, per dim."""
    k = _per_dim(a["kernel_size"], n, 1)
    s = [si or ki for si, ki in zip(_per_dim(a.get("stride"), n, 0), k, strict=True)]
    return k, s, _per_dim(a.get("padding"), n, 0)


def max_pool_cost(a: Args, out: Sequence[Any], n: int) -> Cost:
    """Max pooling over ``n`` spatial dims: one comparison per window tap inside the
    input (:func:`pool_taps`; padding, dilation and ceil_mode's partial window
    clipped, as ATen's kernels loop), per output element. ``window`` (a dim of the
    op) is the nominal kernel volume."""
    o = _first_out(out)
    k, s, p = _pool_args(a, n)
    d = _per_dim(a.get("dilation"), n, 1)
    taps = pool_taps(a["self"], o, k, s, p, d)
    return Cost(vector_flops=taps, op_class="pool", dims={"window": math.prod(k)})


def at_rank(cost: Callable[[Args, Sequence[Any], int], Cost], n: int, name: str) -> Formula:
    """The formula of one ``n``-D op: ``cost(args, out, n)``, named ``name`` (the pools
    and their backwards share one cost function across 1-D, 2-D and 3-D)."""

    def fn(a: Args, out: Sequence[Any]) -> Cost:
        return cost(a, out, n)

    fn.__name__ = name
    fn.__doc__ = f"{cost.__doc__ or ''}\n\n    This one: {n}-D."
    return fn


#: the quantized dtypes: ``aten.max_pool2d`` of one runs ``quantized_max_pool2d``
QUANTIZED_DTYPES = (torch.quint8, torch.qint8, torch.qint32, torch.quint4x2)


def max_pool_computing_indices_cost(a: Args, out: Sequence[Any], n: int) -> Cost:
    """``aten.max_pool{2,3}d`` met before its decomposition (a caller's
    ``torch.inference_mode()`` skips the autograd key that decomposes it): ATen runs
    ``max_pool{2,3}d_with_indices`` for it on every device and keeps the output (the
    profiler shows both), so it is counted as that op: :func:`max_pool_cost`, the
    output and the int64 indices written (none for a quantized input, which runs
    ``quantized_max_pool2d``). Op class ``pool``."""
    o = _first_out(out)
    cost = max_pool_cost(a, out, n)
    if a["self"].dtype in QUANTIZED_DTYPES:
        return cost
    return replace(cost, bytes_written=o.numel * (_itemsize(o.dtype) + 8))


register("aten.max_pool1d")(at_rank(max_pool_cost, 1, "max_pool1d"))
register("aten.max_pool2d_with_indices")(at_rank(max_pool_cost, 2, "max_pool2d"))
register("aten.max_pool2d", "aten._max_pool2d")(
    at_rank(max_pool_computing_indices_cost, 2, "max_pool2d_computing_indices")
)
register("aten.max_pool3d_with_indices")(at_rank(max_pool_cost, 3, "max_pool3d"))
register("aten.max_pool3d")(
    at_rank(max_pool_computing_indices_cost, 3, "max_pool3d_computing_indices")
)


def avg_pool_cost(a: Args, out: Sequence[Any], n: int) -> Cost:
    """Average pooling over ``n`` spatial dims: each output sums the window taps
    inside the input (:func:`pool_taps`, one add each into a zeroed sum, as ATen's
    ``cpu_avg_pool`` and ``avg_pool2d_out_cuda_frame`` do) and divides once.
    ``count_include_pad`` and ``divisor_override`` change only the divisor, not the
    taps. ``window`` is the nominal kernel volume."""
    o = _first_out(out)
    k, s, p = _pool_args(a, n)
    taps = pool_taps(a["self"], o, k, s, p)
    return Cost(vector_flops=taps + o.numel, op_class="pool", dims={"window": math.prod(k)})


for _n in (1, 2, 3):
    register(f"aten.avg_pool{_n}d")(at_rank(avg_pool_cost, _n, f"avg_pool{_n}d"))


def adaptive_pool_cost(a: Args, out: Sequence[Any], n: int, average: bool) -> Cost:
    """Adaptive pooling over the last ``n`` dims: each output adds (average) or
    compares (max) every input element of its bin, and bins overlap where the output
    size does not divide the input's (:func:`adaptive_taps`: 5 → 3 bins reach 2 + 3 + 2
    = 7 elements, not 5): per plane Π_d adaptive_taps(d) FLOPs, + one divide per output
    for an average (a max pool's indices are an output, not work). Op class ``pool``."""
    x, o = a.get("self", a.get("input")), _first_out(out)
    taps = [adaptive_taps(x.shape[d - n], o.shape[d - n]) for d in range(n)]
    planes = o.numel // max(math.prod(o.shape[-n:]), 1)
    return Cost(
        vector_flops=planes * math.prod(taps) + (o.numel if average else 0), op_class="pool"
    )


def _adaptive(n: int, average: bool, name: str) -> Formula:
    def cost(a: Args, out: Sequence[Any], n: int) -> Cost:
        return adaptive_pool_cost(a, out, n, average)

    cost.__doc__ = adaptive_pool_cost.__doc__
    return at_rank(cost, n, name)


for _n, _name in (
    (1, "adaptive_avg_pool1d"),
    (2, "_adaptive_avg_pool2d"),
    (3, "_adaptive_avg_pool3d"),
):
    register(f"aten.{_name}")(_adaptive(_n, True, _name))
for _n in (1, 2, 3):
    register(f"aten.adaptive_max_pool{_n}d")(_adaptive(_n, False, f"adaptive_max_pool{_n}d"))


# Pooling backward, one convention for every pool and RoI pool (docs/conventions.md):
# the backward scatters each element of the output gradient into the input gradient,
# one add per input element it reaches, after one divide by the window's size for an
# average. A max-type pool reaches one element (the argmax its forward saved), an
# average-type pool every element of its window. The input gradient's zero fill is a
# fill (no FLOPs; for the max pools a write pass of its own, max_pool_backward_cost;
# elsewhere its bytes are the one write).


def max_pool_backward_cost(grad_output: T, grad_input: T) -> Cost:
    """Max pooling's backward (fixed or adaptive windows), as ATen runs it: the input
    gradient is zero-filled first (``gradInput.zero_()`` in both the CPU and the CUDA
    ``max_pool2d_with_indices_backward_out`` and their 3-D and adaptive twins), then
    each output-gradient element is added to it at the index the forward saved, one
    add each → numel(grad_output) FLOPs (as ``_roi_pool_backward``).

    Bytes: the output gradient and the int64 indices read; the forward input (an
    argument) is not, the kernels take only its shape. The input gradient is written
    twice: the zero fill, then the kernel's pass (CUDA's ``max_pool_backward_nchw`` /
    ``_nhwc`` gathers, each input-gradient element summing the gradients whose index
    is its own and storing once; the CPU kernel and the adaptive CUDA one scatter,
    ``grad_input[argmax] += g``, into the zeroed tensor; with windows that cover the
    input, as CNNs' do, that pass reaches every cache line of it; its read-back of
    those lines is not counted). Op class ``pool``. The unread input is named
    (``Cost.unread``, the argument ``self`` of every max pool's backward); the output
    gradient and the indices are read whole, by the generic rule."""
    return Cost(
        vector_flops=grad_output.numel,
        op_class="pool",
        unread=("self",),
        bytes_written=2 * grad_input.nbytes,
        # two passes over one output: the allocation (predict.fresh_output_s) is one
        dims={"write_passes": 2},
    )


@register(
    "aten.max_pool2d_with_indices_backward",
    "aten.max_pool3d_with_indices_backward",
    "aten.adaptive_max_pool2d_backward",
    "aten.adaptive_max_pool3d_backward",
)
def max_pool_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Max pooling's backward: :func:`max_pool_backward_cost`."""
    return max_pool_backward_cost(a["grad_output"], _first_out(out))


def adaptive_taps(size: int, out: int) -> int:
    """Input elements the ``out`` bins of an adaptive pool along one dim reach, summed
    over the bins: bin o spans ``[⌊o·size/out⌋, ⌈(o+1)·size/out⌉)``, as ATen's
    ``start_index``/``end_index``; ``size`` when ``out`` divides it."""
    return sum(-(-((o + 1) * size) // out) - (o * size) // out for o in range(out))


def _avg_backward(g: T, taps_per_dim: Sequence[int]) -> Cost:
    """Per plane (the dims before the spatial ones), the adds of the windows' taps;
    one divide per output-gradient element. Bytes: the output gradient read, the
    input gradient written; the forward input (``self``) is passed for its shape
    only and not read (``Cost.unread``): ATen's ``avg_pool2d_backward_out_cpu`` hands
    its kernel ``gradInput`` and ``gradOutput`` alone, as do the 3-D, adaptive and
    CUDA ones."""
    planes = _numel(g) // max(math.prod(g.shape[-len(taps_per_dim) :]), 1)
    return Cost(
        vector_flops=planes * math.prod(taps_per_dim) + _numel(g),
        op_class="pool",
        unread=("self",),
    )


def avg_pool_backward_cost(a: Args, out: Sequence[Any], n: int) -> Cost:
    """Average pooling's backward: each output-gradient element is divided once (by
    the window's size or the divisor) and added to every input element of its window
    inside the input (padding clipped, :func:`window_taps`): per plane (N·C)
    Π_d window_taps(d) adds, + numel(grad_output) divides. Exact for every kernel,
    stride, padding and ceil_mode (the output size fixes the windows). Op class
    ``pool``."""
    g, x = a["grad_output"], a["self"]
    k, s, p = _pool_args(a, n)
    taps = [window_taps(x.shape[d - n], g.shape[d - n], k[d], s[d], p[d]) for d in range(n)]
    return _avg_backward(g, taps)


def adaptive_avg_pool_backward_cost(a: Args, out: Sequence[Any], n: int) -> Cost:
    """Adaptive average pooling's backward: each output-gradient element is divided
    once by its bin's size and added to every input element of the bin
    (:func:`adaptive_taps`, from the input and output sizes): per plane
    Π_d adaptive_taps(d) adds, + numel(grad_output) divides; numel(input) +
    numel(grad_output) when the output divides the input (a global pool reaches every
    input element once). Op class ``pool``."""
    g, x = a["grad_output"], a["self"]
    return _avg_backward(g, [adaptive_taps(x.shape[d - n], g.shape[d - n]) for d in range(n)])


for _n in (2, 3):
    register(f"aten.avg_pool{_n}d_backward")(
        at_rank(avg_pool_backward_cost, _n, f"avg_pool{_n}d_backward")
    )
    register(f"aten._adaptive_avg_pool{_n}d_backward")(
        at_rank(adaptive_avg_pool_backward_cost, _n, f"adaptive_avg_pool{_n}d_backward")
    )


# --------------------------------------------------------------------------- resampling


@register(
    "aten.upsample_nearest1d",
    "aten.upsample_nearest2d",
    "aten.upsample_nearest3d",
    "aten._upsample_nearest_exact1d",
    "aten._upsample_nearest_exact2d",
    "aten._upsample_nearest_exact3d",
)
def upsample_nearest(a: Args, out: Sequence[Any]) -> Cost:
    """Nearest-neighbour resampling copies: 0 FLOPs, bytes only."""
    return Cost(op_class="upsample")


@register("aten.upsample_bilinear2d", "aten.upsample_linear1d")
def upsample_linear(a: Args, out: Sequence[Any]) -> Cost:
    """Bilinear: each output blends 4 neighbours with precomputed weights: 4
    multiplies and 3 adds → 7 per output element (linear 1-D: 2 taps → 3)."""
    taps = 2 if len(_first_out(out).shape) == 3 else 4
    return Cost(vector_flops=(2 * taps - 1) * _out_numel(out), op_class="upsample")


@register("aten.upsample_trilinear3d")
def upsample_trilinear(a: Args, out: Sequence[Any]) -> Cost:
    """Trilinear: 8 taps → 8 multiplies + 7 adds = 15 per output element."""
    return Cost(vector_flops=15 * _out_numel(out), op_class="upsample")


@register("aten.upsample_bicubic2d")
def upsample_bicubic(a: Args, out: Sequence[Any]) -> Cost:
    """Bicubic: 16 taps → 16 multiplies + 15 adds = 31 per output element."""
    return Cost(vector_flops=31 * _out_numel(out), op_class="upsample")


def _upsample_backward(taps: int, name: str) -> Formula:
    def fn(a: Args, out: Sequence[Any]) -> Cost:
        g = _numel(a.get("grad_output"))
        return Cost(vector_flops=(2 * taps if taps > 1 else 1) * g, op_class="upsample")

    fn.__name__ = f"upsample_{name}_backward"
    fn.__doc__ = f"""Resampling backward ({name}, {taps} tap{"s" if taps > 1 else ""}): each
    output-gradient element is scattered into the input-gradient elements its forward
    blended, ``grad_input[tap] += w·g``: a multiply and an add per tap
    ({2 * taps if taps > 1 else 1} per gradient element; nearest copies, so 1 add and no
    multiply). The tap weights are per output location and shared by every channel,
    not counted, as in the forward's 2·taps − 1 (ATen's CPU kernel,
    ``cpu_upsample_linear_backward``, multiplies ``h0lambda · w0lambda · g`` per tap,
    the weight product formed inline; counted once per location like the forward's).
    Op class ``upsample``."""
    return fn


register(
    "aten.upsample_nearest1d_backward",
    "aten.upsample_nearest2d_backward",
    "aten.upsample_nearest3d_backward",
    "aten._upsample_nearest_exact1d_backward",
    "aten._upsample_nearest_exact2d_backward",
    "aten._upsample_nearest_exact3d_backward",
)(_upsample_backward(1, "nearest"))
register("aten.upsample_linear1d_backward")(_upsample_backward(2, "linear"))
register("aten.upsample_bilinear2d_backward")(_upsample_backward(4, "bilinear"))
register("aten.upsample_trilinear3d_backward")(_upsample_backward(8, "trilinear"))
register("aten.upsample_bicubic2d_backward")(_upsample_backward(16, "bicubic"))


def aa_taps(
    size: int, out: int, interp: int, align_corners: bool = False, scale: float | None = None
) -> list[int]:
    """Input elements each output index of an antialiased resize blends along one dim
    (``interp``: 2 bilinear, 4 bicubic), as ATen computes them
    (``_compute_indices_min_size_weights_aa`` in ``UpSampleKernel.cpp``): the filter's
    half-width is ``interp/2``, stretched by the scale when downsampling, around
    ``center = scale·(i + 0.5)``; the window ``[⌊center − support + ½⌋, ⌊center +
    support + ½⌋)`` is clipped to the input and to ``2·⌈support⌉ + 1``.
    ``scale`` is the input/output ratio ATen uses (``area_pixel_compute_scale``):
    ``(size − 1)/(out − 1)`` with ``align_corners``, else ``1/scale_factor`` when
    one was given, else ``size/out``."""
    if align_corners:
        ratio = (size - 1) / (out - 1) if out > 1 else 0.0
    else:
        ratio = 1.0 / scale if scale else size / out
    support = interp * 0.5 * ratio if ratio >= 1.0 else interp * 0.5
    widest = math.ceil(support) * 2 + 1
    taps = []
    for i in range(out):
        center = ratio * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size)
        taps.append(min(max(hi - lo, 0), widest))
    return taps


def _aa_taps_hw(a: Args, x_shape: Sequence[int], interp: int) -> tuple[list[int], list[int]]:
    (ho, wo), (h, w) = (int(v) for v in a["output_size"]), x_shape[-2:]
    ac = bool(a.get("align_corners", False))
    return (
        aa_taps(h, ho, interp, ac, a.get("scales_h")),
        aa_taps(w, wo, interp, ac, a.get("scales_w")),
    )


def _upsample_aa(interp: int, name: str) -> Formula:
    def fn(a: Args, out: Sequence[Any]) -> Cost:
        x = a["self"]
        th, tw = _aa_taps_hw(a, x.shape, interp)
        planes, (h, w) = math.prod(x.shape[:-2]), x.shape[-2:]
        flops = 0
        if len(tw) != w:  # horizontal pass: [.., H, W] -> [.., H, W_out]
            flops += planes * h * sum(2 * t - 1 for t in tw)
        if len(th) != h:  # vertical pass: [.., H, W_out] -> [.., H_out, W_out]
            flops += planes * len(tw) * sum(2 * t - 1 for t in th)
        return Cost(vector_flops=flops, op_class="upsample")

    fn.__name__ = f"upsample_{name}_aa"
    fn.__doc__ = f"""Antialiased {name} resize (``antialias=True``): separable, as ATen's
    CPU kernel runs it (``separable_upsample_generic_Nd_kernel_impl``): a horizontal
    pass over the width, then a vertical one over the height, each skipped when that
    size does not change. An output element of a pass blends its :func:`aa_taps`
    inputs, a multiply per tap and the adds between them (2·taps − 1). Downsampling,
    the filter widens with the scale: a 2x bilinear reduction blends 3–4 inputs per
    dim where the plain kernel takes 2. (CUDA's kernel blends both dims at each
    output location, ``taps_h·(2·taps_w − 1) + 2·taps_h − 1``, which is more; the
    separable count is used for every device.) Op class ``upsample``."""
    return fn


def _upsample_aa_backward(interp: int, name: str) -> Formula:
    def fn(a: Args, out: Sequence[Any]) -> Cost:
        in_shape = [int(v) for v in a["input_size"]]
        th, tw = _aa_taps_hw(a, in_shape, interp)
        planes = math.prod(in_shape[:-2])
        return Cost(vector_flops=2 * planes * sum(th) * sum(tw), op_class="upsample")

    fn.__name__ = f"upsample_{name}_aa_backward"
    fn.__doc__ = f"""Antialiased {name} resize backward: each output-gradient element is
    scattered into the taps_h x taps_w inputs its forward blended (ATen's
    ``cpu_upsample_genNd_backward_aa`` is not separable), a multiply and an add per
    tap, as the plain resamplers' backward: 2·Σ taps_h·Σ taps_w per plane."""
    return fn


register("aten._upsample_bilinear2d_aa")(_upsample_aa(2, "bilinear"))
register("aten._upsample_bicubic2d_aa")(_upsample_aa(4, "bicubic"))
register("aten._upsample_bilinear2d_aa_backward")(_upsample_aa_backward(2, "bilinear"))
register("aten._upsample_bicubic2d_aa_backward")(_upsample_aa_backward(4, "bicubic"))


# --------------------------------------------------------------------------- sampling

#: per coordinate, FLOPs to map a grid value in [-1, 1] to a pixel position
#: (``grid_sampler_unnormalize``): ``((g + 1)·size − 1) / 2`` with align_corners=False
#: (add, multiply, subtract, divide), ``((g + 1) / 2)·(size − 1)`` with True (3)
GRID_UNNORMALIZE_FLOPS = {False: 4, True: 3}
#: per coordinate, FLOPs of the padding mode (``compute_coordinates``): zeros 0 (out-of-
#: range taps read 0: a bounds check, index bookkeeping, not counted), border 2 (clip:
#: a max and a min), reflection 11 (``reflect_coordinates``: subtract, fabs, fmod,
#: divide, floor, the parity test's modulo and compare, ``span − extra + min`` 2;
#: then the clip, 2)
GRID_PADDING_FLOPS = {0: 0, 1: 2, 2: 11}
#: interpolation modes of ``grid_sampler``: 0 bilinear, 1 nearest, 2 bicubic
GRID_TAPS = {0: 4, 1: 1, 2: 16}


def grid_sample_cost(
    x: T,
    grid: T,
    out: T,
    interpolation: int,
    padding: int,
    align_corners: bool,
    x_arg: str = "input",
) -> Cost:
    """``grid_sample`` of ``x`` ``[N, C, *in]`` at the points of ``grid``
    ``[N, *out, d]`` (d = 2 or 3 spatial dims), output ``[N, C, *out]``, as ATen's
    kernels (``GridSampler.h``) compute it. Per output *location* (shared by all C
    channels): each of the d coordinates is unnormalised (u = 4, or 3 with
    align_corners) and padded (p: zeros 0, border 2, reflection 11, see
    :data:`GRID_PADDING_FLOPS`); then, by mode:

    * bilinear (2-D): floor 2, the neighbours' ``+1`` 2, the 4 weights
      ``(a − b)·(c − d)`` 3 each → 2·(u + p) + 16 per location; per output element
      (per channel) 4 multiplies and 3 adds = 7, as ``upsample_bilinear2d``. 4 taps.
    * trilinear (3-D "bilinear"): floor 3, ``+1`` 3, the 8 weights, 3 differences
      and 2 multiplies each → 3·(u + p) + 46 per location; 8 multiplies and 7 adds
      = 15 per output element, as ``upsample_trilinear3d``. 8 taps.
    * nearest: rounding 1 per coordinate → d·(u + p + 1) per location; 0 per output
      element (a copy). 1 tap.
    * bicubic (2-D only): unnormalise 2·u, floor 2, fractions 2, the cubic
      convolution coefficients 25 per axis (``get_cubic_upsample_coefficients``: t+1,
      1−t, 2−t and four cubics of 5 or 6 FLOPs) → 50, and the padding of the 4 + 4
      tap coordinates 8·p: 2·u + 8·p + 54 per location; per output element five
      4-tap ``cubic_interp1d`` (4 rows, then the column), 7 each → 35. 16 taps. (ATen
      recomputes the coefficients inside the channel loop; counted once per location,
      the work an ideal kernel does.)

    Index arithmetic and bounds checks are not counted, as for every gather.

    Bytes, the gather rule (an embedding reads the rows it gathers, not the table):
    each output element reads its taps, bounded by the whole input (no element need
    come from memory twice), so ``min(taps · numel(out), numel(x))`` elements of
    ``x`` (the part read of the argument ``x_arg``, ``Cost.reads``: a sampled
    parameter counts as weight bytes only its taps), plus the whole grid (generic
    rule); the output written (generic rule). Op class ``upsample``: interpolation at
    given points, the family of ``upsample_bilinear2d``.
    """
    _, per_location, per_element, taps = _grid_sample_parts(
        grid, interpolation, padding, align_corners
    )
    return Cost(
        vector_flops=_grid_locations(grid) * per_location + out.numel * per_element,
        op_class="upsample",
        reads={x_arg: min(taps * out.numel, x.stored) * _itemsize(x.dtype)},
    )


def _grid_locations(grid: T) -> int:
    d = grid.shape[-1]
    return grid.numel // d if d else 0


def _grid_sample_parts(
    grid: T, interpolation: int, padding: int, align_corners: bool
) -> tuple[str, int, int, int]:
    """The forward's (mode, FLOPs per location, FLOPs per output element, taps), as
    derived in :func:`grid_sample_cost`."""
    d = grid.shape[-1]
    u = GRID_UNNORMALIZE_FLOPS[bool(align_corners)]
    p = GRID_PADDING_FLOPS.get(int(padding), 0)
    mode = int(interpolation)
    if mode == 1:
        return "nearest", d * (u + p + 1), 0, 1
    if mode == 2:
        return "bicubic", 2 * u + 8 * p + 54, 35, 16
    if d == 3:
        return "trilinear", 3 * (u + p) + 46, 15, 8
    return "bilinear", 2 * (u + p) + 16, 7, 4


@register("aten.grid_sampler_2d", "aten.grid_sampler_3d", "aten._grid_sampler_2d_cpu_fallback")
def grid_sampler(a: Args, out: Sequence[Any]) -> Cost:
    """``F.grid_sample`` (2-D and 3-D; RAFT's correlation lookup): see
    :func:`grid_sample_cost`."""
    return grid_sample_cost(
        a["input"],
        a["grid"],
        _first_out(out),
        a["interpolation_mode"],
        a["padding_mode"],
        a["align_corners"],
    )


@register("aten.cudnn_grid_sampler")
def cudnn_grid_sampler(a: Args, out: Sequence[Any]) -> Cost:
    """cuDNN's grid sampler, which PyTorch uses for the bilinear, zeros-padded,
    align_corners=True case on CUDA: :func:`grid_sample_cost` of that case."""
    return grid_sample_cost(a["self"], a["grid"], _first_out(out), 0, 0, True, x_arg="self")


#: per coordinate, FLOPs of the padding mode's gradient multiplier in a backward
#: (``clip_coordinates_set_grad``, ``reflect_coordinates_set_grad``): zeros 0 (the
#: multiplier is the unnormalisation's constant scale), border 2 (the clip's two
#: in-range tests, which zero it at the borders), reflection 5 (the sign of the
#: input, the extra flip's sign, their product with the scale, and the clip's 2 tests)
GRID_PADDING_GRAD_FLOPS = {0: 0, 1: 2, 2: 5}


def grid_sample_backward_cost(
    grad_out: T,
    x: T,
    grid: T,
    interpolation: int,
    padding: int,
    align_corners: bool,
    input_grad: bool = True,
    x_arg: str = "input",
) -> Cost:
    """The backward of :func:`grid_sample_cost`, as ATen's kernels compute it
    (``GridSampler.cu``'s ``grid_sampler_2d_backward_kernel`` and the vectorised CPU
    kernel's ``ApplyGridSample::backward``). The kernel recomputes, per output
    location, what the forward computed there (its position, padding and weights, the
    forward's per-location FLOPs); then, per output element (per channel):

    * the **input gradient** (when ``output_mask[0]``; not computed when the input
      needs none) scatters the output gradient to each tap with the tap's weight: a
      multiply and an add per tap, bilinear 8, trilinear 16, bicubic 32; nearest 1
      (an add, no weight).
    * the **grid gradient** (always computed, even when the grid needs none: ATen
      allocates and fills it regardless) needs the derivative of the weights with
      respect to each coordinate. Linear modes, the CPU kernel's factored form: per
      coordinate, the differences of the 2^(d−1) tap pairs along that axis, weighted
      by the other axes' weights, summed, times the output gradient and accumulated
      over the channels, ``3·2^(d−1) + 1``: bilinear ``gx += ((ne − nw)·s + (se −
      sw)·n)·gOut``, 7 per coordinate → 14; trilinear 13 per coordinate → 39 (its
      other-axes weights are products of two distances, 3 · 4 = 12 multiplies per
      location). Bicubic, tap by tap as the kernels do: ``val·gOut`` once, then times
      the x- and y-derivative weights and accumulated, 5 per tap → 80. Nearest: the
      grid gradient is zero (filled, no FLOPs).

    Per location, besides the forward's: the padding's gradient multiplier per
    coordinate (:data:`GRID_PADDING_GRAD_FLOPS`; bicubic takes only the
    unnormalisation's scale, 0) and the multiply of each coordinate's gradient by it
    (d; not for nearest); bicubic also the coefficients' derivatives
    (``get_cubic_coefficients_grad``: 4 quadratics of 4 or 5 FLOPs, 18 per axis → 36)
    and the 16 tap weights and 32 derivative weights ``x_i·y_j``, ``x'_i·y_j``,
    ``x_i·y'_j`` (48), hoisted out of the channel loop (the kernels recompute them per
    channel; counted once, as the forward counts the coefficients once).

    Bytes, the gather rule of the forward: the whole output gradient and grid (generic
    rule), and for the grid gradient the taps of each output element, bounded by the
    whole input, ``min(taps · numel(grad_out), numel(x))`` elements (nearest reads no
    input: its grid gradient is zero, its input gradient needs no values), the part
    read of the argument ``x_arg`` (``Cost.reads``). Written: the input
    gradient (zero-filled, then accumulated in place: counted as one write of the
    tensor, the generic rule) and the grid gradient. Op class ``upsample``, the
    forward's; a backward pass is marked by the counter's phase.
    """
    mode, fwd_location, _, _ = _grid_sample_parts(grid, interpolation, padding, align_corners)
    d = grid.shape[-1]
    pg = GRID_PADDING_GRAD_FLOPS.get(int(padding), 0)
    if mode == "nearest":
        per_location, input_flops, grid_flops, taps = 0, 1, 0, 0
    elif mode == "bicubic":
        per_location, input_flops, grid_flops, taps = 36 + 48 + d, 32, 80, 16
    elif mode == "trilinear":
        per_location, input_flops, grid_flops, taps = d * (pg + 1) + 12, 16, 39, 8
    else:
        per_location, input_flops, grid_flops, taps = d * (pg + 1), 8, 14, 4
    per_element = grid_flops + (input_flops if input_grad else 0)
    return Cost(
        vector_flops=_grid_locations(grid) * (fwd_location + per_location)
        + grad_out.numel * per_element,
        op_class="upsample",
        reads={x_arg: min(taps * grad_out.numel, x.stored) * _itemsize(x.dtype)},
    )


@register(
    "aten.grid_sampler_2d_backward",
    "aten.grid_sampler_3d_backward",
    "aten._grid_sampler_2d_cpu_fallback_backward",
)
def grid_sampler_backward(a: Args, out: Sequence[Any]) -> Cost:
    """``F.grid_sample``'s backward (2-D and 3-D): see
    :func:`grid_sample_backward_cost`. ``output_mask[0]`` says whether the input
    gradient is computed (the CPU fallback computes both)."""
    mask = a.get("output_mask") or (True, True)
    return grid_sample_backward_cost(
        a["grad_output"],
        a["input"],
        a["grid"],
        a["interpolation_mode"],
        a["padding_mode"],
        a["align_corners"],
        input_grad=bool(mask[0]),
    )


@register("aten.cudnn_grid_sampler_backward")
def cudnn_grid_sampler_backward(a: Args, out: Sequence[Any]) -> Cost:
    """cuDNN's grid sampler backward (bilinear, zeros, align_corners=True; both
    gradients): :func:`grid_sample_backward_cost` of that case."""
    return grid_sample_backward_cost(
        a["grad_output"], a["self"], a["grid"], 0, 0, True, x_arg="self"
    )


# --------------------------------------------------------------------------- detection

#: FLOPs per sample point of a RoIAlign bin for its position and bilinear weights,
#: shared by all channels (torchvision's ``pre_calc_for_bilinear_interpolate``): the y
#: and x coordinates ``start + p·bin + (i + .5)·bin / grid`` 6 each, 4 comparisons for
#: the out-of-map test, 2 clamps at 0, 2 floors, 2 tests at the far edge, 2 ``+1`` for
#: the high neighbours, the fractions ``ly, lx`` 2 and ``1 − ly, 1 − lx`` 2, the 4
#: weights ``hy·hx, hy·lx, ly·hx, ly·lx`` 4 → 32
ROI_ALIGN_POINT_FLOPS = 32
#: FLOPs per pair of boxes in NMS: the intersection's corners (2 max, 2 min), its width
#: and height ``max(0, b − a)`` (2 each), the area ``w·h`` (1), the IoU
#: ``inter / (area_i + area_j − inter)`` (3), the test against the threshold (1)
NMS_PAIR_FLOPS = 13


def roi_samples(x: T, pooled_h: int, pooled_w: int, sampling_ratio: int) -> int:
    """Sample points per RoIAlign bin. ``sampling_ratio > 0``: ``sampling_ratio²``,
    exact (torchvision's detection models all use 2). Adaptive (``≤ 0``): the kernel
    takes ``⌈roi_h / pooled_h⌉ · ⌈roi_w / pooled_w⌉`` from each box's size on the
    feature map, a value a formula cannot see (it sees shapes only, over fake and real
    tensors alike); counted at its **upper bound**, a box covering the whole ``H × W``
    map: ``⌈H / pooled_h⌉ · ⌈W / pooled_w⌉``."""
    if sampling_ratio > 0:
        return sampling_ratio * sampling_ratio
    h, w = x.shape[-2], x.shape[-1]
    return max(1, -(-h // max(1, pooled_h))) * max(1, -(-w // max(1, pooled_w)))


def roi_align_cost(
    x: T, rois: T, out: T, pooled_h: int, pooled_w: int, sampling_ratio: int
) -> Cost:
    """RoIAlign: output ``[K, C, PH, PW]`` for K boxes; each bin averages S bilinear
    samples (:func:`roi_samples`). Per box and sample point, the position and the 4
    weights, shared by the C channels: :data:`ROI_ALIGN_POINT_FLOPS` (32). Per output
    element: per sample 4 multiplies, 3 adds and the add into the bin's sum (8), then
    one divide by the count → 8·S + 1. Total ``K·PH·PW·S·32 + K·C·PH·PW·(8·S + 1)``.
    The per-box setup (scaling the corners, bin sizes: about 20 FLOPs a box) is not
    counted. (torchvision's CUDA kernel recomputes the weights per channel; counted
    once, as its CPU kernel does.)

    Bytes, the gather rule (:func:`grid_sample_cost`): each sample reads 4 values,
    bounded by the whole input: ``min(4·S·numel(out), numel(x))`` elements of
    ``input`` (``Cost.reads``), plus the boxes whole (generic rule); the output
    written. Op class ``pool``: RoI *pooling* (torchvision's ``MultiScaleRoIAlign`` is
    the detectors' "box_roi_pool")."""
    k = rois.shape[0]
    s = roi_samples(x, pooled_h, pooled_w, sampling_ratio)
    bins = k * pooled_h * pooled_w
    vector = bins * s * ROI_ALIGN_POINT_FLOPS + out.numel * (8 * s + 1)
    read = min(4 * s * out.numel, x.stored) * _itemsize(x.dtype)
    return Cost(vector_flops=vector, op_class="pool", reads={"input": read})


@register("torchvision.roi_align", "torchvision.ps_roi_align")
def roi_align(a: Args, out: Sequence[Any]) -> Cost:
    """``torchvision.ops.roi_align`` (Faster/Mask/Keypoint R-CNN's box, mask and
    keypoint poolers) and its position-sensitive twin, whose output channel c at bin
    (i, j) samples input channel ``c·PH·PW + i·PW + j``: the same work per output
    element. See :func:`roi_align_cost`."""
    return roi_align_cost(
        a["input"],
        a["rois"],
        _first_out(out),
        int(a["pooled_height"]),
        int(a["pooled_width"]),
        int(a["sampling_ratio"]),
    )


def roi_pool_cost(x: T, out: T, average: bool) -> Cost:
    """RoIPool: each bin of a box takes the max (``ps_roi_pool``: the average) of the
    feature-map pixels it covers; the bins partition the box, so a box of h × w pixels
    costs C·h·w comparisons (or adds), plus, for the average, a divide per bin. The
    box sizes are values, which a formula does not see: counted at the **upper
    bound**, a box covering the whole ``H × W`` map: ``K·C·H·W`` (+ ``K·C·PH·PW``
    divides for the average), C the output channels. Bytes: those pixels of
    ``input``, bounded by the whole input (the gather rule of
    :func:`grid_sample_cost`; ``Cost.reads``), and the boxes whole; the output and the
    int32 argmax (or channel map) written. Op class ``pool``."""
    k, c = out.shape[0], out.shape[1]
    pixels = k * c * x.shape[-2] * x.shape[-1]
    read = min(pixels, x.stored) * _itemsize(x.dtype)
    divides = out.numel if average else 0
    return Cost(vector_flops=pixels + divides, op_class="pool", reads={"input": read})


@register("torchvision.roi_pool")
def roi_pool(a: Args, out: Sequence[Any]) -> Cost:
    """``torchvision.ops.roi_pool`` (max per bin): see :func:`roi_pool_cost`."""
    return roi_pool_cost(a["input"], _first_out(out), average=False)


@register("torchvision.ps_roi_pool")
def ps_roi_pool(a: Args, out: Sequence[Any]) -> Cost:
    """``torchvision.ops.ps_roi_pool`` (average per bin, output channel c at bin
    (i, j) from input channel ``c·PH·PW + i·PW + j``): see :func:`roi_pool_cost`."""
    return roi_pool_cost(a["input"], _first_out(out), average=True)


def _roi_input(a: Args) -> T:
    """The forward input's shape, which an RoI backward gets as sizes, not a tensor."""
    shape = (int(a["batch_size"]), int(a["channels"]), int(a["height"]), int(a["width"]))
    return T(shape, a["grad"].dtype)


@register("torchvision._roi_align_backward", "torchvision._ps_roi_align_backward")
def roi_align_backward(a: Args, out: Sequence[Any]) -> Cost:
    """RoIAlign's backward (and the position-sensitive one's), as torchvision's
    kernels compute it: for each element of the output gradient ``[K, C, PH, PW]``
    and each of its bin's S sample points (:func:`roi_samples`, from the forward
    input's H × W for the adaptive ratio: the same **upper bound** as the forward),
    ``bilinear_interpolate_gradient`` gives the point's 4 taps and weights (32 FLOPs,
    :data:`ROI_ALIGN_POINT_FLOPS`, shared by the channels: the kernels recompute them
    per channel, counted once as in the forward), then ``g·w / count`` is added to
    each tap of the input gradient. Per element: the ``g / count`` divide once, then
    per sample 4 multiplies and 4 adds → 8·S + 1; so the backward costs the forward's
    FLOPs, ``K·PH·PW·S·32 + K·C·PH·PW·(8·S + 1)``. Bytes: the generic rule, which is
    right here: the output gradient and the boxes (and ``channel_mapping``) read, the
    input (whose values the gradient does not need) not read; the input gradient
    ``[N, C_in, H, W]`` written (zero-filled, then accumulated in place: one write).
    Op class ``pool``, the forward's (its backward variant, ``pool.backward``)."""
    g = a["grad"]
    k, _, ph, pw = g.shape
    s = roi_samples(_roi_input(a), ph, pw, int(a["sampling_ratio"]))
    vector = k * ph * pw * s * ROI_ALIGN_POINT_FLOPS + g.numel * (8 * s + 1)
    return Cost(vector_flops=vector, op_class="pool")


@register("torchvision._roi_pool_backward")
def roi_pool_backward(a: Args, out: Sequence[Any]) -> Cost:
    """RoIPool's backward: each element of the output gradient is added to the input
    gradient at the position its bin's max came from (the ``argmax`` the forward
    saved), one add each: ``K·C·PH·PW``. Exact, or an upper bound by the empty bins
    (argmax −1, skipped). Bytes: the generic rule, the output gradient, the boxes and
    the int32 argmax read, the input gradient written (zero-filled, then scattered
    into: one write). Op class ``pool``: like max pooling's backward, a scatter through
    saved indices."""
    return Cost(vector_flops=a["grad"].numel, op_class="pool")


@register("torchvision._ps_roi_pool_backward")
def ps_roi_pool_backward(a: Args, out: Sequence[Any]) -> Cost:
    """PSRoIPool's backward: each element of the output gradient ``[K, C, PH, PW]`` is
    divided by its bin's area (1 FLOP) and added to every input pixel of the bin, in
    input channel ``c·PH·PW + i·PW + j``; the bins partition the box, so a box of
    h × w pixels costs C·h·w adds: the forward's FLOPs. Box sizes are values: counted
    at the forward's **upper bound**, a box covering the ``H × W`` map,
    ``K·C·H·W + K·C·PH·PW`` (:func:`roi_pool_cost`). Bytes: the generic rule, the
    output gradient, the boxes and the int32 channel map read, the input gradient
    written. Op class ``pool``."""
    g = a["grad"]
    pixels = g.shape[0] * g.shape[1] * int(a["height"]) * int(a["width"])
    return Cost(vector_flops=pixels + g.numel, op_class="pool")


@register("torchvision.nms")
def nms(a: Args, out: Sequence[Any]) -> Cost:
    """Non-maximum suppression of N boxes: sort the scores (:func:`sort_comparisons`,
    N·⌈log₂ N⌉), the areas ``(x2 − x1)·(y2 − y1)`` (3 per box), and the IoU of every
    pair (i, j > i) with the threshold test, :data:`NMS_PAIR_FLOPS` (13) each:
    ``N·⌈log₂ N⌉ + 3·N + 13·N·(N − 1)/2``. The pairs are the **upper bound**: the
    CPU kernel skips the rows of boxes already suppressed, which depends on values;
    the CUDA kernel computes the IoU of all N·(N − 1)/2 pairs (in 64-box blocks, and
    recomputes both areas per pair) and then scans its suppression bitmask. Bytes:
    the generic rule, boxes and scores read, the int64 indices kept written (their
    number depends on values: nms runs over real tensors only); the sort's order and
    CUDA's N × N/64 bitmask are the kernel's internal buffers, not counted. Op class
    ``reduction``: it reduces N boxes to those kept."""
    n = a["dets"].shape[0]
    pairs = n * (n - 1) // 2
    return Cost(
        vector_flops=sort_comparisons(n) + 3 * n + NMS_PAIR_FLOPS * pairs,
        op_class="reduction",
    )


# --------------------------------------------------------------------------- gathers


def _gathered_rows_bytes(index: T, table: T) -> int:
    """Bytes a row gather from ``table`` by ``index`` reads of the table: one row per
    distinct index element (a broadcast index, as ``position_ids.expand(batch, -1)``,
    at its real size), bounded by the table's rows: no row need come from memory
    twice (a batch of 64 sequences of 512 positions reads a 512-row position table
    once, not 64 times), as :func:`gather` bounds its source. The index itself is
    read whole, by the generic rule."""
    row_bytes = math.prod(table.shape[1:]) * _itemsize(table.dtype)
    rows = min(index.stored, table.shape[0]) if table.shape else index.stored
    return rows * row_bytes


@register("aten.embedding")
def embedding(a: Args, out: Sequence[Any]) -> Cost:
    """Embedding lookup: no arithmetic. It reads the index tensor and only the rows it
    gathers (not the whole table, and none twice: :func:`_gathered_rows_bytes`), and
    writes the output. The rows are the table's part (``Cost.reads``), so a learned
    table's weight bytes are the rows, not the rows and the indices."""
    weight = a["weight"]
    return Cost(op_class="embedding", reads={"weight": _gathered_rows_bytes(a["indices"], weight)})


@register("aten.embedding_dense_backward")
def embedding_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Embedding backward: scatter-add each gradient row into a zeroed table: one add
    per gradient element; writes the whole (dense) table. With
    ``scale_grad_by_freq`` each index is counted (an add per index), each row's
    scale ``1/count`` taken (a divide per index) and each gradient element
    multiplied by it before the add: 2 per gradient element + 2 per index. Rows at
    ``padding_idx`` are skipped, which depends on the indices' values: not
    subtracted (an upper bound)."""
    g, idx = a["grad_output"], a["indices"]
    if a.get("scale_grad_by_freq"):
        return Cost(vector_flops=2 * g.numel + 2 * idx.numel, op_class="embedding")
    return Cost(vector_flops=g.numel, op_class="embedding")


@register("aten.index_select", "aten.gather", "aten.index", "aten._unsafe_index", "aten.take")
def gather(a: Args, out: Sequence[Any]) -> Cost:
    """Gathers: no arithmetic; read the index tensors whole (the generic rule; a
    broadcast index at its real size) and, of the source ``self``, as many elements
    as the output holds, bounded by the source (no element need come from memory
    twice), not the whole source (``Cost.reads``: a parameter source's weight bytes
    are those elements); write the output."""
    o, src = _first_out(out), a["self"]
    return Cost(
        op_class="embedding", reads={"self": min(o.numel, src.stored) * _itemsize(src.dtype)}
    )


def _indexed_elements(shape: tuple[int, ...], indices: Sequence[Any]) -> int:
    """How many elements ``self[indices]`` selects (advanced indexing, as
    ``index_put_`` takes it): the index tensors' broadcast shape times the dimensions
    no index covers. A boolean mask counts whole, an upper bound: how many of it are
    true is data. Its true count broadcasts with the other index tensors, so beside
    them it can only stretch a trailing dimension of 1 (up to its size); beside one
    of length L it adds nothing (it has L true, or one)."""
    pos, kept, shapes, masks = 0, 1, [], []
    for ix in indices:
        if not isinstance(ix, T):  # None: the dimension is kept whole
            kept *= shape[pos] if pos < len(shape) else 1
            pos += 1
        elif ix.dtype == torch.bool:
            masks.append(ix.numel)
            pos += len(ix.shape)
        else:
            shapes.append(ix.shape)
            pos += 1
    kept *= math.prod(shape[pos:])
    if not shapes and not masks:
        return kept
    selected = tuple(torch.broadcast_shapes(*shapes)) if shapes else ()
    if masks and (not selected or selected[-1] == 1):
        selected = (*selected[:-1], max(masks))
    return math.prod(selected) * kept


def _in_place_scatter(a: Args, n: int, source: str | None, *, accumulate: bool, flops: int) -> Cost:
    """An in-place scatter that addresses ``n`` elements of ``self``: only those are
    written, so the bytes are the index tensors (the generic rule, whole: a broadcast
    index at its real size), the ``n`` elements stored of the argument ``source``
    (none for a scalar fill; a broadcast source at its real size, at most) and the
    elements written, plus, when it accumulates, the destination elements read
    before the add. The rest of ``self`` is not touched (the generic rule would read
    and write all of it: 16 MiB for a 4 KiB update of a 16 MiB KV cache). Indices may
    repeat (a segment sum adds many rows into one): the destination elements are at
    most all of ``self``, each read and written once, as the gathers read each source
    element once. The parts are per argument (``Cost.reads``), so a cache held as a
    buffer counts as weight bytes only the elements it adds into, none for a copy."""
    x = a["self"]
    item, dest = _itemsize(x.dtype), min(n, x.numel)
    reads = {"self": dest * item if accumulate else 0}
    src = a.get(source) if source is not None else None
    if isinstance(src, T):
        reads[source] = min(src.stored, n) * _itemsize(src.dtype)
    return Cost(vector_flops=flops, op_class="embedding", reads=reads, bytes_written=dest * item)


@register("aten.index_put_", "aten._index_put_impl_")
def index_put_(a: Args, out: Sequence[Any]) -> Cost:
    """``self[indices] = values`` (``+=`` with ``accumulate``): the addressed elements
    (:func:`_indexed_elements`) written; FLOPs one per value stored (as the
    out-of-place scatters count), or one add per addressed element."""
    n = _indexed_elements(a["self"].shape, a["indices"])
    values, accumulate = a["values"], bool(a["accumulate"])
    flops = n if accumulate else values.numel  # adds, or a store per value as the scatters count
    return _in_place_scatter(a, n, "values", accumulate=accumulate, flops=flops)


@register("aten.index_copy_")
def index_copy_(a: Args, out: Sequence[Any]) -> Cost:
    """``self.index_copy_(dim, index, source)`` (how a static KV cache takes the new
    tokens): whole slices stored, ``source``-shaped; a copy, 0 FLOPs."""
    src = a["source"]
    return _in_place_scatter(a, src.numel, "source", accumulate=False, flops=0)


@register("aten.index_add_")
def index_add_(a: Args, out: Sequence[Any]) -> Cost:
    """``self.index_add_(dim, index, source, alpha=1)``: one add per source element,
    and a multiply by ``alpha`` when it is not 1."""
    src = a["source"]
    flops = src.numel * (1 if a.get("alpha", 1) == 1 else 2)
    return _in_place_scatter(a, src.numel, "source", accumulate=True, flops=flops)


@register("aten.index_fill_")
def index_fill_(a: Args, out: Sequence[Any]) -> Cost:
    """``self.index_fill_(dim, index, value)``: the slices at ``index`` along ``dim``
    filled with a scalar (the ``int_Tensor`` overload reads it from a 0-dim tensor);
    a store, 0 FLOPs."""
    x, idx = a["self"], a["index"]
    slice_ = x.numel // x.shape[int(a["dim"])] if x.shape and x.shape[int(a["dim"])] else 1
    return _in_place_scatter(a, idx.numel * slice_, "value", accumulate=False, flops=0)


@register("aten.masked_scatter_")
def masked_scatter_(a: Args, out: Sequence[Any]) -> Cost:
    """``self.masked_scatter_(mask, source)``: ``source``'s leading elements stored, in
    order, where ``mask`` (broadcast to ``self``) is true. All of ``self`` is counted
    as addressed, the upper bound (how many are true is data), as for a boolean
    mask's ``index_put_``; one store per element stored, as the scatters count."""
    n = a["self"].numel
    src = a["source"]
    return _in_place_scatter(a, n, "source", accumulate=False, flops=min(src.numel, n))


def _scatter_along(a: Args, accumulate: bool) -> Cost:
    """``self.scatter*_(dim, index, src or value)``: one element addressed per index
    element, one store or combine (add, multiply) each; a scalar ``value`` stored
    without a reduce is none."""
    n, src = a["index"].numel, a.get("src")
    flops = n if isinstance(src, T) or accumulate else 0
    return _in_place_scatter(a, n, "src", accumulate=accumulate, flops=flops)


@register("aten.scatter_")
def scatter_(a: Args, out: Sequence[Any]) -> Cost:
    """``self.scatter_(dim, index, src or value)``: stores; with ``reduce=`` ('add',
    'multiply') it reads the destination elements it combines with."""
    return _scatter_along(a, accumulate=a.get("reduce") is not None)


@register("aten.scatter_add_")
def scatter_add_(a: Args, out: Sequence[Any]) -> Cost:
    """``self.scatter_add_(dim, index, src)``: adds into the destination."""
    return _scatter_along(a, accumulate=True)


@register("aten.scatter_reduce_")
def scatter_reduce_(a: Args, out: Sequence[Any]) -> Cost:
    """``self.scatter_reduce_(dim, index, src, reduce, include_self)``: reads the
    destination unless ``include_self=False``; ``'mean'`` adds :func:`mean_counts`."""
    cost = _scatter_along(a, accumulate=bool(a.get("include_self", True)))
    if a.get("reduce") != "mean":
        return cost
    return replace(cost, vector_flops=cost.vector_flops + mean_counts(a["self"], a["index"].numel))


def mean_counts(x: T, sources: int) -> int:
    """The extra work of a scatter's ``'mean'`` (ATen's ``index_reduce`` and
    ``scatter_reduce`` kernels): the counts are scattered, one add per source element,
    the zero counts set to 1, a compare per element of ``self``, and all of ``self``
    divided by them, one more per element: ``sources + 2·numel(self)``."""
    return sources + 2 * x.numel


@register("aten.put_")
def put_(a: Args, out: Sequence[Any]) -> Cost:
    """``self.put_(index, source, accumulate)``: ``self`` indexed as if flat, one
    element addressed per index element; one store (or add, with ``accumulate``) per
    source element, as the scatters count."""
    src = a["source"]
    return _in_place_scatter(
        a, a["index"].numel, "source", accumulate=bool(a["accumulate"]), flops=src.numel
    )


@register("aten.index_reduce_")
def index_reduce_(a: Args, out: Sequence[Any]) -> Cost:
    """``self.index_reduce_(dim, index, source, reduce, include_self)``: one combine
    (multiply, add, max, min) per source element, and for ``'mean'``
    :func:`mean_counts`. Reads the destination unless ``include_self=False``, as
    ``scatter_reduce_``."""
    src = a["source"]
    flops = src.numel + (mean_counts(a["self"], src.numel) if a.get("reduce") == "mean" else 0)
    include = bool(a.get("include_self", True))
    return _in_place_scatter(a, src.numel, "source", accumulate=include, flops=flops)


def _copying(in_place: Formula) -> Formula:
    """The out-of-place form of an in-place scatter: the same arithmetic (the same
    arguments, by name), and the generic bytes, since it copies all of ``self`` into
    its output before scattering."""

    def formula(a: Args, out: Sequence[Any]) -> Cost:
        return replace(in_place(a, out), reads={}, bytes_written=None)

    formula.__doc__ = f"Out of place: {in_place.__doc__}"
    return formula


for _op, _in_place in {
    "scatter": scatter_,
    "scatter_add": scatter_add_,
    "scatter_reduce": scatter_reduce_,
    "index_add": index_add_,
    "index_put": index_put_,
    "index_copy": index_copy_,
    "masked_scatter": masked_scatter_,
    "put": put_,
    "index_reduce": index_reduce_,
}.items():
    register(f"aten.{_op}")(_copying(_in_place))


@register(
    "aten.reflection_pad1d_backward",
    "aten.reflection_pad2d_backward",
    "aten.reflection_pad3d_backward",
    "aten.replication_pad1d_backward",
    "aten.replication_pad2d_backward",
    "aten.replication_pad3d_backward",
)
def pad_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Gradient of a reflection or replication pad: the input gradient starts at zero
    and each element of ``grad_output`` is added into the input element it was copied
    from (a border element's copies accumulate): one add per gradient element. Reads
    ``grad_output`` only; ``self`` supplies the shape."""
    g = a["grad_output"]
    return Cost(vector_flops=g.numel, op_class="elementwise", unread=("self",))


@register("aten.col2im")
def col2im(a: Args, out: Sequence[Any]) -> Cost:
    """``F.fold`` (and ``F.unfold``'s backward): the output starts at zero and every
    column element whose tap lies inside it is added into its pixel, so overlapping
    windows sum; taps in the padding are dropped. One add per tap inside, per plane
    (N·C) the product over the two dims of :func:`window_taps` for the ``L_d =
    ⌊(size + 2·pad − dil·(k − 1) − 1) / stride⌋ + 1`` blocks along each: exactly what
    ``im2col`` copies out. Bytes: the generic rule (the columns read, the map written)."""
    o = _first_out(out)
    size = [int(v) for v in a["output_size"]]
    k, d, p, s = (_per_dim(a[n], 2, 1) for n in ("kernel_size", "dilation", "padding", "stride"))
    taps = 1
    for i in range(2):
        blocks = (size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1
        taps *= window_taps(size[i], max(blocks, 0), k[i], s[i], p[i], d[i])
    planes = o.numel // max(math.prod(o.shape[-2:]), 1)
    return Cost(vector_flops=planes * taps, op_class="elementwise")


@register("aten.unfold_backward")
def unfold_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Gradient of ``x.unfold(dim, size, step)``: the input gradient starts at zero and
    every window element of ``grad_in`` is added into the element it viewed
    (overlapping windows, ``step < size``, sum): one add per element of ``grad_in``."""
    return Cost(vector_flops=_numel(a["grad_in"]), op_class="elementwise")


# --------------------------------------------------------------------------- copies


@register(
    "aten.cat",
    "aten.block_diag",
    "aten.stack",
    "aten.clone",
    "aten._to_copy",
    "aten.contiguous",
    "aten.constant_pad_nd",
    "aten.reflection_pad1d",
    "aten.reflection_pad2d",
    "aten.reflection_pad3d",
    "aten.replication_pad1d",
    "aten.replication_pad2d",
    "aten.replication_pad3d",
    "aten.flip",
    "aten.roll",
    "aten.rot90",
    "aten.diag_embed",
    "aten.index_fill",
    "aten.repeat",
    "aten.tril",
    "aten.triu",
    "aten.tril_",
    "aten.triu_",
    "aten.lift_fresh_copy",
    "aten.pixel_shuffle",
    "aten.pixel_unshuffle",
    "aten.channel_shuffle",
    "aten.im2col",
    "aten.select_backward",
    "aten.slice_backward",
    "aten.diagonal_backward",
    "aten.as_strided_scatter",
    "aten.select_scatter",
    "aten.slice_scatter",
    "aten.diagonal_scatter",
    "aten.masked_select",
    "aten.masked_scatter_backward",
    "aten.complex",
    "aten.lu_unpack",
)
def copy_like(a: Args, out: Sequence[Any]) -> Cost:
    """Copies, concatenations, casts and pads: 0 FLOPs; bytes only (generic rule)."""
    return Cost(op_class="copy")


#: the copying forms of the view ops (``narrow_copy``, ``t_copy``; functionalised
#: graphs and ``torch.*_copy`` run them): the view's elements copied out
VIEW_COPIES = (
    "alias_copy as_strided_copy detach_copy diagonal_copy expand_copy narrow_copy "
    "permute_copy select_copy slice_copy split_copy split_with_sizes_copy squeeze_copy "
    "t_copy transpose_copy unbind_copy unfold_copy unsqueeze_copy view_copy _reshape_copy "
    "view_as_real_copy view_as_complex_copy"
).split()


@register(*(f"aten.{n}" for n in VIEW_COPIES))
def view_copy(a: Args, out: Sequence[Any]) -> Cost:
    """A view copied out: 0 FLOPs; it reads the elements the view holds, not its whole
    input (``narrow_copy`` of half the columns reads half), and a broadcast or
    overlapping view (``expand_copy``, ``unfold_copy``'s windows) at most the memory
    its input stores: min(input stored, outputs written), the part read of ``self``
    (``Cost.reads``)."""
    x = a["self"]
    written = sum(o.nbytes for o in out if isinstance(o, T))
    return Cost(op_class="copy", reads={"self": min(x.stored_bytes, written)})


@register("aten.copy_", "aten.copy")
def copy_(a: Args, out: Sequence[Any]) -> Cost:
    """``dst.copy_(src)``: reads ``src`` only (the destination is overwritten), at its
    real size: a broadcast source (``x.copy_(row.expand_as(x))``) once: the generic
    rule without ``self``, so a weight overwritten from a batch reads no weight."""
    return Cost(op_class="copy", unread=("self",))


@register(
    "aten.fill_",
    "aten.fill",
    "aten.zero_",
    "aten.zeros",
    "aten.zeros_like",
    "aten.ones_like",
    "aten.full_like",
    "aten.new_zeros",
    "aten.ones",
    "aten.full",
    "aten.new_ones",
    "aten.new_full",
    "aten.scalar_tensor",
    "aten.eye",
    "aten.tril_indices",
    "aten.triu_indices",
)
def fill(a: Args, out: Sequence[Any]) -> Cost:
    """Constant fills and factories: write the output; no arithmetic, so 0 FLOPs.
    They read nothing of the tensor they overwrite or take the shape of (``self``:
    ``fill_``'s and ``zero_``'s destination, the ``*_like`` and ``new_*`` forms'
    template; an ``out=`` tensor): :data:`FILL_UNREAD`. A tensor they take their value
    from is read, by the generic rule (``fill_(x, v)`` with a 0-dim ``v``: one
    element). Random fills (:func:`random_draw`) and computed sequences
    (:func:`arange`, :func:`linspace`) count theirs."""
    return Cost(op_class="copy", unread=FILL_UNREAD)


#: the arguments a fill, a draw or a computed sequence does not read, the one rule for
#: all of them: the tensor it overwrites or takes only the shape and dtype of
#: (``self``) and an ``out=`` tensor; an operand that gives values (a tensor fill
#: value, ``torch.normal``'s mean, ``bernoulli``'s ``p``) is read
FILL_UNREAD = ("self", "out")

#: FLOPs of one random draw per element: the generator's step that gives a standard
#: uniform or normal variate, counted as one function (as a transcendental is);
#: bernoulli's "a draw and a compare" and the transforms of :data:`RANDOM_FILL_FLOPS`
#: count it the same way
RANDOM_DRAW_FLOPS = 1


@register("aten.rand", "aten.randn", "aten.rand_like", "aten.randn_like", "aten.randperm")
def random_draw(a: Args, out: Sequence[Any]) -> Cost:
    """A standard uniform (``rand``) or normal (``randn``) variate per element: one
    draw (:data:`RANDOM_DRAW_FLOPS`); ``randperm`` one draw per element (its shuffle
    moves data, no arithmetic). Reads nothing (``*_like`` take only the shape:
    :data:`FILL_UNREAD`)."""
    return Cost(vector_flops=RANDOM_DRAW_FLOPS * _out_numel(out), unread=FILL_UNREAD)


@register("aten.normal_", "aten.uniform_")
def random_fill_scaled(a: Args, out: Sequence[Any]) -> Cost:
    """``normal_(mean, std)``: ``mean + std·z``, the draw and, as add's ``alpha``, a
    multiply when ``std`` is not 1 and an add when ``mean`` is not 0 (``nn.init``'s
    ``normal_(0, 0.02)`` 2 per element). ``uniform_(from, to)``: ``from + (to −
    from)·u``, the same with the width and ``from``. Reads nothing (the destination is
    overwritten: :data:`FILL_UNREAD`)."""
    if "std" in a:
        per = RANDOM_DRAW_FLOPS + _not(a, "std", 1.0) + _not(a, "mean", 0.0)
    else:
        width = float(a.get("to", 1.0)) - float(a.get("from", 0.0))
        per = RANDOM_DRAW_FLOPS + int(width != 1.0) + _not(a, "from", 0.0)
    return Cost(vector_flops=per * _out_numel(out), unread=FILL_UNREAD)


@register("aten.normal")
def normal(a: Args, out: Sequence[Any]) -> Cost:
    """``torch.normal(mean, std)``: ``mean + std·z`` per element, the draw, the
    multiply and the add, 3 (a float ``std`` of 1 or ``mean`` of 0 drops its step, as
    in :func:`random_fill_scaled`). Bytes by the generic rule: the tensor mean or
    std is read."""
    std, mean = a.get("std", 1.0), a.get("mean", 0.0)
    per = RANDOM_DRAW_FLOPS + int(isinstance(std, T) or std != 1.0)
    per += int(isinstance(mean, T) or mean != 0.0)
    return Cost(vector_flops=per * _out_numel(out))


@register("aten.randint", "aten.randint_like", "aten.random_")
def randint(a: Args, out: Sequence[Any]) -> Cost:
    """Random integers in ``[low, high)``: the draw, its remainder by the range's
    width (1) and the add of ``low`` when it is not 0 → 2 or 3 per element;
    ``random_()`` without a range draws and masks to the dtype's range: 2. Reads
    nothing (:data:`FILL_UNREAD`: ``randint_like`` takes only the shape), a tensor
    ``high`` aside (the generic rule)."""
    low = a.get("low", a.get("from", 0))
    per = RANDOM_DRAW_FLOPS + 1 + int(low is not None and low != 0)
    return Cost(vector_flops=per * _out_numel(out), unread=FILL_UNREAD)


@register("aten.arange")
def arange(a: Args, out: Sequence[Any]) -> Cost:
    """``start + i·step`` per element: as add's ``alpha``, the multiply when ``step``
    is not 1 and the add when ``start`` is not 0, so ``arange(n)`` (the index itself)
    is 0, ``arange(2, n)`` 1, ``arange(0, 1, 0.1)`` 1, ``arange(1, 2, 0.1)`` 2. Reads
    nothing (an ``out=`` tensor is overwritten: :data:`FILL_UNREAD`)."""
    per = _not(a, "step", 1) + _not(a, "start", 0)
    return Cost(vector_flops=per * _out_numel(out), op_class="copy", unread=FILL_UNREAD)


@register("aten.linspace", "aten.logspace")
def linspace(a: Args, out: Sequence[Any]) -> Cost:
    """ATen's ``linspace`` kernel computes ``start + i·step`` for the first half and
    ``end − (n − 1 − i)·step`` for the second: a multiply and an add per element, 2
    (one element: its start, 0); ``logspace`` raises ``base`` to that, 3. Reads a
    tensor ``start`` or ``end`` (one element each, the generic rule), not an ``out=``
    tensor (:data:`FILL_UNREAD`)."""
    n = _out_numel(out)
    per = 0 if n <= 1 else 2
    if per and "base" in a:
        per += 1
    return Cost(vector_flops=per * n, op_class="copy", unread=FILL_UNREAD)


# --------------------------------------------------------------------------- more ops
# Found by running ~150 torch functions on fake tensors: what models use less often
# (selection, scans, spectral, distances, bags, linear algebra), each costed so that
# nothing a model runs is left at zero.

# elementwise, by the module's convention (a transcendental is 1 FLOP):
# sinh, asinh, lgamma, digamma, atan2: one function each; frac = x − trunc(x): 2;
# hardshrink: |x| and a compare, 2; softshrink: |x|, compare, shift by λ, 3;
# hypot = sqrt(x² + y²): 4; celu = elu of x/α: 5 (logit below)
_register_family("sinh asinh lgamma digamma atan2", 1)
_register_family("frac hardshrink", 2)
_register_family("softshrink", 3)


@register("aten.logit", "aten.logit_")
def logit(a: Args, out: Sequence[Any]) -> Cost:
    """``log(x / (1 − x))``: subtract, divide, log, 3 per element; with an ``eps`` ATen's
    kernels first clamp x to ``[eps, 1 − eps]`` (two compares): 5."""
    per = 3 + 2 * (a.get("eps") is not None)
    return Cost(vector_flops=per * _out_numel(out), op_class="elementwise")


_register_family("hypot", 4)
_register_family("celu celu_", 5)
# inverse trigonometric and hyperbolic functions, erfc and the special functions
# (Bessel, erfcx, ndtri, log_ndtr): one function each; copysign, nextafter and the
# angle conversions one operation each
_register_family(
    "acos asin atan acosh atanh erfc i0 special_i0e special_i1 special_i1e "
    "special_bessel_j0 special_bessel_j1 special_erfcx special_ndtri special_log_ndtr "
    "special_bessel_y0 special_bessel_y1 special_modified_bessel_i0 "
    "special_modified_bessel_i1 special_modified_bessel_k0 special_modified_bessel_k1 "
    "special_scaled_modified_bessel_k0 special_scaled_modified_bessel_k1 "
    "special_spherical_bessel_j0 special_airy_ai "
    "copysign nextafter deg2rad rad2deg signbit isposinf isneginf angle poisson "
    # the regularized incomplete gammas and Hurwitz zeta: one function each, as the
    # Bessel functions (their series' lengths depend on the values); gcd one function
    "igamma igamma_ igammac igammac_ special_zeta gcd gcd_",
    1,
)
# lcm = |a·b| / gcd(a, b): gcd, multiply, divide
_register_family("lcm lcm_", 3)


@register("aten.frexp")
def frexp(a: Args, out: Sequence[Any]) -> Cost:
    """Mantissa and exponent of each element: one function per input element (the two
    outputs are one result)."""
    return Cost(vector_flops=a["self"].numel, op_class="elementwise")


@register("aten.conj_physical", "aten._conj_physical", "aten.conj_physical_")
def conj_physical(a: Args, out: Sequence[Any]) -> Cost:
    """The conjugate, materialised: one negation (of the imaginary part) per complex
    element; of a real tensor a copy."""
    x = a["self"]
    if x.dtype.is_complex:
        return Cost(vector_flops=x.numel, op_class="elementwise")
    return Cost(op_class="copy")


@register("aten.hash_tensor")
def hash_tensor(a: Args, out: Sequence[Any]) -> Cost:
    """A hash of the elements over ``dim``: one combine (an xor) per input element."""
    return Cost(vector_flops=a["self"].numel, op_class="reduction")


# xlog1py = x·log1p(y): 2; addr = M + v₁·v₂ᵀ: a multiply and an add per output, 2
_register_family("special_xlog1py addr", 2)
# sinc = sin(πx)/(πx): multiply, sin, divide; entr = −x·log x: log, multiply,
# negate; cross: each component a·b − c·d, 3 per output; renorm: the sub-tensor's
# norm (square, add) and the scale per element, 3
_register_family("sinc special_entr linalg_cross renorm", 3)
# logaddexp(a, b) = max(a, b) + log1p(exp(−|a − b|)): max, subtract, abs, negate, exp,
# log1p, add (base 2 alike)
_register_family("logaddexp logaddexp2", 7)


@register("aten._weight_norm_interface")
def weight_norm(a: Args, out: Sequence[Any]) -> Cost:
    """``weight_norm`` (HiFi-GAN, wav2vec 2.0's positional conv): ``w = g · v / ‖v‖``,
    the norm over every dim but ``dim``: square and add per element of ``v`` (2), a
    square root and the divide ``g / ‖v‖`` per norm (2), then the multiply per element
    (1): 3 per element + 2 per norm."""
    v, norms = a["v"], _numel(out[1]) if len(out) > 1 else 1
    return Cost(vector_flops=3 * v.numel + 2 * norms)


@register("aten._weight_norm_interface_backward")
def weight_norm_backward(a: Args, out: Sequence[Any]) -> Cost:
    """``weight_norm``'s backward: ``grad_g = Σ(grad_w · v) / ‖v‖`` (multiply and add per
    element, a divide per norm) and ``grad_v = (g/‖v‖)·(grad_w − v·grad_g/‖v‖)``
    (multiply, subtract, multiply per element; two divides per norm): 5 per element
    of ``v`` + 3 per norm."""
    v, norms = a["saved_v"], _numel(a["saved_norms"])
    return Cost(vector_flops=5 * v.numel + 3 * norms)


# rrelu's random slope: draw, compare, multiply
_register_family("rrelu_with_noise", 3)

#: the in-place random fills that transform a uniform draw u, FLOPs per element (a
#: draw is :data:`RANDOM_DRAW_FLOPS`): exponential_ (Gumbel noise) −log(u)/λ: draw,
#: log, divide (a negate for λ = 1); geometric_ ⌈log(u)/log(1 − p)⌉: draw, log,
#: divide, ceil (the constant log once); log_normal_ exp(μ + σ·z): the normal draw,
#: multiply, add, exp; cauchy_ μ + σ·tan(π(u − ½)): draw, subtract, multiply, tan,
#: multiply, add. The multiply by σ and the add of μ are dropped at σ = 1, μ = 0
#: (:data:`RANDOM_FILL_SCALARS`), as add's ``alpha`` of 1 is
RANDOM_FILL_FLOPS = {"exponential_": 3, "geometric_": 4, "log_normal_": 4, "cauchy_": 6}
#: the scale and shift arguments of the random fills, at their identity values
RANDOM_FILL_SCALARS: dict[str, dict[str, float]] = {
    "log_normal_": {"std": 1.0, "mean": 0.0},
    "cauchy_": {"sigma": 1.0, "median": 0.0},
}


def _random_fill(flops: int, scalars: Mapping[str, float]) -> Formula:
    def fn(a: Args, out: Sequence[Any]) -> Cost:
        per = flops - sum(1 - _not(a, n, v) for n, v in scalars.items())
        return Cost(vector_flops=per * _out_numel(out), op_class="elementwise", unread=FILL_UNREAD)

    fn.__doc__ = (
        f"{flops} FLOPs per element, 1 less for each of {sorted(scalars)} at its identity "
        "value; reads nothing (the destination is overwritten)."
    )
    return fn


for _name, _flops in RANDOM_FILL_FLOPS.items():
    register(f"aten.{_name}")(_random_fill(_flops, RANDOM_FILL_SCALARS.get(_name, {})))


@register("aten.log_sigmoid_forward")
def log_sigmoid(a: Args, out: Sequence[Any]) -> Cost:
    """``log σ(x) = min(x, 0) − log1p(exp(−|x|))``: abs, negate, exp, log1p, min and
    subtract, 6 per element. It also writes the ``buffer`` its backward reads (the
    generic rule counts both outputs written)."""
    return Cost(vector_flops=6 * a["self"].numel)


@register("aten.glu")
def glu(a: Args, out: Sequence[Any]) -> Cost:
    """``a · σ(b)`` of the two halves of ``self``: sigmoid (4) and a multiply (1) per
    output element, 5."""
    return Cost(vector_flops=5 * _out_numel(out))


@register("aten.polar")
def polar(a: Args, out: Sequence[Any]) -> Cost:
    """``abs · (cos θ + i sin θ)``: cos, sin and two multiplies per output element, 4."""
    return Cost(vector_flops=4 * _out_numel(out))


@register("aten.affine_grid_generator")
def affine_grid(a: Args, out: Sequence[Any]) -> Cost:
    """Each output coordinate is a row of ``theta`` times the homogeneous base-grid
    point, ``[x, y, 1]`` (``[x, y, z, 1]`` in 3-D), as ATen's batched product runs it:
    d + 1 multiplies (the constant 1's included) and d adds, 2·(d + 1) − 1 FLOPs with
    d the spatial rank."""
    d = len(a["size"]) - 2
    return Cost(vector_flops=(2 * (d + 1) - 1) * _out_numel(out))


def _dim_rows(a: Args) -> tuple[int, int]:
    """(rows, length) of ``self`` seen along ``dim`` (every element, one row, when
    ``dim`` is absent: the global ``median``)."""
    x = a["self"]
    if a.get("dim") is None or not x.shape:
        return 1, x.numel
    return _rows_along(x, int(a["dim"]))


@register("aten.median", "aten.nanmedian", "aten.kthvalue")
def select_kth(a: Args, out: Sequence[Any]) -> Cost:
    """The k-th smallest of each row of length n (median: the middle one): a
    selection compares every element with the running pivot, n comparisons per row
    (the linear term of quickselect, as for :func:`topk`). Op class ``reduction``."""
    rows, n = _dim_rows(a)
    return Cost(vector_flops=rows * n, op_class="reduction")


@register("aten.mode")
def mode(a: Args, out: Sequence[Any]) -> Cost:
    """The most frequent value of each row of length n: sort the row
    (:func:`sort_comparisons`), then one pass comparing neighbours to count runs (n).
    Op class ``reduction``."""
    rows, n = _dim_rows(a)
    return Cost(vector_flops=rows * (sort_comparisons(n) + n), op_class="reduction")


# two FLOPs per input element: aminmax (a min and a max), nansum (test for NaN, add),
# count_nonzero (compare with zero, add)
for _n in ("aminmax", "nansum", "count_nonzero"):
    register(f"aten.{_n}")(_reduction(2))


# running max/min: one comparison per element, a scan as cumsum's
register("aten.cummax", "aten.cummin")(_scan)


@register("aten.logcumsumexp")
def logcumsumexp(a: Args, out: Sequence[Any]) -> Cost:
    """Running ``log Σ exp``: per element a log-add-exp of the running value and the
    element, ``max(s, x) + log1p(exp(−|s − x|))``: subtract, abs, negate, exp,
    log1p, max and add, 7. Op class ``reduction`` (a scan)."""
    return Cost(vector_flops=7 * a["self"].numel, op_class="reduction")


@register("aten.trace")
def trace(a: Args, out: Sequence[Any]) -> Cost:
    """Sum of the diagonal of an m × n matrix: min(m, n) − 1 adds. Reads only the
    diagonal (``Cost.reads``), at most what ``self`` stores."""
    x = a["self"]
    d = min(x.shape) if x.shape else 1
    return Cost(
        vector_flops=max(d - 1, 0),
        op_class="reduction",
        reads={"self": min(d, x.stored) * _itemsize(x.dtype)},
    )


def _p_norm_flops(p: float) -> int:
    """FLOPs per element of ``|x − y|^p`` summed: subtract, then |·| (p = 1), a
    square (p = 2, which needs no abs) or abs and pow (any other p), and the add."""
    p = float(p)
    return 3 if p in (1.0, 2.0) else 4


def _p_root(p: float) -> int:
    # the final ``^(1/p)`` of a p-norm: none for p = 1, one root otherwise
    return 0 if float(p) == 1.0 else 1


def _pair_distances(pairs: int, m: int, p: float) -> Cost:
    """``pairs`` p-distances of m coordinates: :func:`_p_norm_flops` per coordinate
    and the root per pair."""
    return Cost(vector_flops=pairs * (_p_norm_flops(p) * m + _p_root(p)), op_class="reduction")


@register("aten.dist")
def dist(a: Args, out: Sequence[Any]) -> Cost:
    """``‖x − y‖_p`` over all n elements (broadcast): :func:`_p_norm_flops` per
    element and the root once. Op class ``reduction``."""
    n = math.prod(torch.broadcast_shapes(a["self"].shape, a["other"].shape))
    p = a.get("p", 2)
    return Cost(vector_flops=_p_norm_flops(p) * n + _p_root(p), op_class="reduction")


@register("aten._cdist_forward")
def cdist(a: Args, out: Sequence[Any]) -> Cost:
    """Pairwise p-distances of ``x1 [.., P, M]`` and ``x2 [.., R, M]``, computed
    directly (torch takes this kernel unless it uses the matrix-product form for the
    Euclidean distance, whose ``mm`` ops are counted on their own): for each of the
    ``B·P·R`` pairs, :func:`_p_norm_flops` per coordinate and the root."""
    x1 = a["x1"]
    return _pair_distances(_out_numel(out), x1.shape[-1] if x1.shape else 1, a.get("p", 2))


@register("aten._pdist_forward")
def pdist(a: Args, out: Sequence[Any]) -> Cost:
    """p-distances between the n(n − 1)/2 pairs of rows of ``self [n, m]``: as
    :func:`cdist` per pair."""
    return _pair_distances(_out_numel(out), a["self"].shape[-1], a.get("p", 2))


@register("aten.searchsorted", "aten.bucketize")
def searchsorted(a: Args, out: Sequence[Any]) -> Cost:
    """A binary search per query in a sorted sequence of length L (the innermost dim
    of ``sorted_sequence``/``boundaries``): ⌈log₂(L + 1)⌉ comparisons. Reads the
    queries and, at most, the whole sequence (the generic rule)."""
    seq = a.get("sorted_sequence", a.get("boundaries"))
    length = seq.shape[-1] if isinstance(seq, T) and seq.shape else 1
    return Cost(vector_flops=_out_numel(out) * length.bit_length(), op_class="reduction")


#: ``_embedding_bag``'s ``mode``: sum, mean, max
EMBEDDING_BAG_SUM, EMBEDDING_BAG_MEAN, EMBEDDING_BAG_MAX = 0, 1, 2


@register("aten._embedding_bag", "aten._embedding_bag_forward_only")
def embedding_bag(a: Args, out: Sequence[Any]) -> Cost:
    """Bags of embedding rows (DLRM-style lookups): every index gathers one row of D
    values and adds (sum, mean) or compares (max) it into its bag's output, one FLOP
    per gathered element; ``per_sample_weights`` multiply each row first (one more);
    the mean divides each output element once. Bytes, as :func:`embedding`: the
    indices, offsets and weights-per-sample whole, and of the table only the rows
    gathered (not the table, and none twice; ``Cost.reads``); written, the generic
    rule (the bags and the bookkeeping outputs)."""
    w, idx = a["weight"], a["indices"]
    d = math.prod(w.shape[1:])
    gathered = idx.numel * d
    psw = a.get("per_sample_weights")
    flops = gathered * (2 if psw is not None else 1)
    if int(a.get("mode", EMBEDDING_BAG_SUM)) == EMBEDDING_BAG_MEAN:
        flops += _numel(out[0]) if out else 0
    rows = _gathered_rows_bytes(idx, w)
    return Cost(vector_flops=flops, op_class="embedding", reads={"weight": rows})


@register("aten._embedding_bag_backward", "aten._embedding_bag_dense_backward")
def embedding_bag_backward(a: Args, out: Sequence[Any]) -> Cost:
    """Bags' gradient into the table: sum and mean add each gathered row's share of its
    bag's gradient into the table's gradient, one add per gathered element (the mean
    scales it by 1 / bag size first, one more; ``per_sample_weights`` multiply, one
    more); max routes each bag's gradient to its maximum's row, one add per bag
    element. Bytes: the generic rule (the bags' gradient and the bookkeeping tensors
    read, the dense table gradient written)."""
    grad, idx = a["grad"], a["indices"]
    d = math.prod(grad.shape[1:])
    mode = int(a.get("mode", EMBEDDING_BAG_SUM))
    if mode == EMBEDDING_BAG_MAX:
        return Cost(vector_flops=grad.numel, op_class="embedding")
    per = 1 + int(mode == EMBEDDING_BAG_MEAN) + int(isinstance(a.get("per_sample_weights"), T))
    return Cost(vector_flops=per * idx.numel * d, op_class="embedding")


@register("aten._embedding_bag_per_sample_weights_backward")
def embedding_bag_per_sample_weights_backward(a: Args, out: Sequence[Any]) -> Cost:
    """The gradient of each per-sample weight: the dot product of its gathered row with
    its bag's gradient row, D multiplies and D − 1 adds ≈ 2·D per index."""
    d = math.prod(a["grad"].shape[1:])
    return Cost(vector_flops=2 * d * a["indices"].numel, op_class="embedding")


#: histc per element: two range checks, ``(x − min)·bins / (max − min)`` and the floor
#: (3), the bin's increment (1); with ``min == max`` the range comes from the data first
#: (a min and a max pass, 2 more)
HISTC_FLOPS, HISTC_RANGE_FLOPS = 6, 2


@register("aten.histc")
def histc(a: Args, out: Sequence[Any]) -> Cost:
    """Histogram of ``self`` into ``bins``: :data:`HISTC_FLOPS` per element, and
    :data:`HISTC_RANGE_FLOPS` more when the range is taken from the data."""
    per = HISTC_FLOPS
    if float(a.get("min", 0) or 0) == float(a.get("max", 0) or 0):
        per += HISTC_RANGE_FLOPS
    return Cost(vector_flops=per * a["self"].numel, op_class="reduction")


@register("aten.histogram")
def histogram(a: Args, out: Sequence[Any]) -> Cost:
    """``torch.histogram``: histc's :data:`HISTC_FLOPS` per element (the increment
    adds the element's ``weight`` if given), :data:`HISTC_RANGE_FLOPS` more without a
    ``range``; ``density`` divides each bin by the total and the bin width (2 per bin).
    With explicit ``bins`` edges (a tensor) the bin is found by a binary search, which
    counts as the same per-element step."""
    per = HISTC_FLOPS + (HISTC_RANGE_FLOPS if a.get("range") is None else 0)
    bins = _numel(out[0]) if out else 0
    return Cost(
        vector_flops=per * a["self"].numel + (2 * bins if a.get("density") else 0),
        op_class="reduction",
    )


def _fft_points(x: T, dims: Sequence[int], last: int | None = None) -> tuple[int, int]:
    """(transforms, points per transform) of an FFT of ``x`` over ``dims``; ``last``
    replaces the size of the last dim (the real output length of a c2r)."""
    sizes = [x.shape[d] for d in dims]
    if last is not None and sizes:
        sizes[-1] = int(last)
    n = math.prod(sizes)
    full = math.prod(x.shape) // math.prod(x.shape[d] for d in dims) if dims else 1
    return full, n


def _log2_ceil(n: int) -> int:
    return (n - 1).bit_length() if n > 1 else 0


def _fft_cost(a: Args, real: bool, last: int | None = None) -> Cost:
    """:func:`fft_c2c`'s 5·N·⌈log₂ N⌉ per transform of ``self`` over ``dim``, half
    of it for a real transform."""
    transforms, n = _fft_points(a["self"], [int(d) for d in a["dim"]], last=last)
    flops = transforms * 5 * n * _log2_ceil(n)
    return Cost(vector_flops=flops // 2 if real else flops, op_class="reduction")


@register("aten._fft_c2c")
def fft_c2c(a: Args, out: Sequence[Any]) -> Cost:
    """A complex FFT of N points costs 5·N·log₂N FLOPs: the convention of FFTW's
    benchFFT ("mflops" = 5 N log₂ N / time), the radix-2 count of N/2·log₂N
    butterflies of one complex multiply (6 FLOPs) and two complex adds (4). log₂N is
    rounded up (``⌈log₂ N⌉``, exact for powers of two); a transform over several dims
    counts N as their product. Op class ``reduction`` (priced by bytes and vector
    FLOPs)."""
    return _fft_cost(a, real=False)


@register("aten._fft_r2c")
def fft_r2c(a: Args, out: Sequence[Any]) -> Cost:
    """A real-input FFT of N points: half the complex one, 2.5·N·log₂N (benchFFT's
    convention for real transforms)."""
    return _fft_cost(a, real=True)


@register("aten._fft_c2r")
def fft_c2r(a: Args, out: Sequence[Any]) -> Cost:
    """The inverse real FFT to N real points (``last_dim_size``): 2.5·N·log₂N, as
    :func:`fft_r2c`."""
    return _fft_cost(a, real=True, last=a["last_dim_size"])


@register("aten.max_unpool2d", "aten.max_unpool3d")
def max_unpool(a: Args, out: Sequence[Any]) -> Cost:
    """Scatter each input element to the position its index names in a zeroed output:
    one store per input element (as the scatters); writes the whole output."""
    return Cost(vector_flops=a["self"].numel, op_class="embedding")


@register("aten.fractional_max_pool2d", "aten.fractional_max_pool3d")
def fractional_max_pool(a: Args, out: Sequence[Any]) -> Cost:
    """Max over a ``kernel_size`` window at pseudo-random offsets: per output element
    window − 1 comparisons, as :func:`max_pool_cost`; the offsets' arithmetic is
    per output row, negligible."""
    window = math.prod(int(k) for k in a["kernel_size"])
    return Cost(vector_flops=_numel(out[0]) * (window - 1), op_class="pool")


@register("aten.multi_margin_loss")
def multi_margin_loss(a: Args, out: Sequence[Any]) -> Cost:
    """Per element of ``self [N, C]``: ``max(0, margin − x[y] + x[i])``, a subtract,
    an add and a max (3), a power for p = 2 (1 more), a class weight (1 more); then
    the mean over C per row (the op's own), and the loss reduction."""
    n = a["self"].numel
    per = 3 + (1 if int(a.get("p", 1)) == 2 else 0) + (1 if a.get("weight") is not None else 0)
    rows = a["self"].shape[0] if len(a["self"].shape) > 1 else 1
    return Cost(
        vector_flops=per * n + n + _loss_reduction(rows, a["reduction"]),
        op_class=_loss_class(a["reduction"]),
    )


@register("aten.soft_margin_loss")
def soft_margin_loss(a: Args, out: Sequence[Any]) -> Cost:
    """``log(1 + exp(−y·x))``: multiply, negate, exp, log1p, 4 per element; then the
    reduction."""
    return _pointwise_loss(a, 4)


# -- dense linear algebra: the textbook (LAPACK) operation counts, as vector FLOPs
# (these factorisations do not run on tensor cores as one product). n is the matrix
# size, m ≥ n the rows of a tall matrix, k the right-hand sides; batched matrices
# multiply the count.


def _batch(x: T) -> int:
    return math.prod(x.shape[:-2]) if len(x.shape) > 2 else 1


def _linalg(flops: int) -> Cost:
    return Cost(vector_flops=flops, op_class="reduction")


@register("aten.linalg_cholesky_ex", "aten.cholesky")
def cholesky(a: Args, out: Sequence[Any]) -> Cost:
    """Cholesky of n × n: n³/3 FLOPs (LAPACK ``potrf``)."""
    x = a["self"]
    n = x.shape[-1]
    return _linalg(_batch(x) * n**3 // 3)


@register("aten.linalg_inv_ex")
def inverse(a: Args, out: Sequence[Any]) -> Cost:
    """Inverse of n × n: LU (2n³/3) then the inverse from it (4n³/3), 2n³ (``getrf`` +
    ``getri``)."""
    x = a["A"]
    return _linalg(_batch(x) * 2 * x.shape[-1] ** 3)


@register("aten._linalg_solve_ex")
def solve(a: Args, out: Sequence[Any]) -> Cost:
    """Solve A X = B, A n × n, B with k columns: LU (2n³/3) and two triangular solves
    (2n²k) (``getrf`` + ``getrs``). The outputs say what ran: one LU per matrix of the
    ``LU`` output (an unbatched A against a batch of B is factored once), and the
    solution holds n values per right-hand side, whichever side (``left=False``
    solves X A = B, whose right-hand sides are B's rows) and whichever operand
    brought the batch."""
    x, lu_ = a["A"], out[1]
    n = x.shape[-1]
    return _linalg(_batch(lu_) * 2 * n**3 // 3 + 2 * n * _numel(out[0]))


@register("aten._linalg_det", "aten._linalg_slogdet", "aten.linalg_lu_factor_ex", "aten.linalg_lu")
def lu(a: Args, out: Sequence[Any]) -> Cost:
    """LU with partial pivoting of n × n: 2n³/3 (``getrf``); the determinant (and
    ``slogdet``'s sign and log) is then the product of the diagonal. ``lu_factor`` and ``lu`` take m × n too: with
    p = min(m, n) and q = max(m, n), q·p² − p³/3 (2n³/3 when square)."""
    x = a["A"]
    p, q = min(x.shape[-2:]), max(x.shape[-2:])
    return _linalg(_batch(x) * (3 * q * p * p - p**3) // 3)


@register("aten.linalg_qr")
def qr(a: Args, out: Sequence[Any]) -> Cost:
    """QR of m × n (m ≥ n; else the roles swap): Householder R, 2mn² − 2n³/3
    (``geqrf``), and forming the reduced Q as much again (``orgqr``); ``mode='r'``
    forms no Q. In general Q is ``orgqr`` of M rows, N columns and K = min(rows,
    cols) reflectors, 4MNK − 2(M + N)K² + 4K³/3: N = K for the reduced Q (m × n
    when tall, m × m when wide: 4m³/3), N = M for ``mode='complete'``."""
    x = a["A"]
    m, n = max(x.shape[-2:]), min(x.shape[-2:])
    r = 2 * m * n * n - 2 * n**3 // 3
    mode = a.get("mode", "reduced")
    if mode == "r":
        return _linalg(_batch(x) * r)
    rows, k = x.shape[-2], n
    cols = rows if mode == "complete" else k
    q = (12 * rows * cols * k - 6 * (rows + cols) * k * k + 4 * k**3) // 3
    return _linalg(_batch(x) * (r + q))


@register("aten._linalg_svd")
def svd(a: Args, out: Sequence[Any]) -> Cost:
    """SVD of m × n (m ≥ n), the Golub–Reinsch counts (Golub and Van Loan, *Matrix
    Computations*, the SVD's work table): singular values only, 4mn² − 4n³/3; with
    the thin U (m × n, torch's default ``full_matrices=False``) and V, 14mn² + 8n³;
    with the full U (m × m) and V, 4m²n + 8mn² + 9n³."""
    x = a["A"]
    m, n = max(x.shape[-2:]), min(x.shape[-2:])
    if not a.get("compute_uv", True):
        return _linalg(_batch(x) * (4 * m * n * n - 4 * n**3 // 3))
    if a.get("full_matrices", False):
        return _linalg(_batch(x) * (4 * m * m * n + 8 * m * n * n + 9 * n**3))
    return _linalg(_batch(x) * (14 * m * n * n + 8 * n**3))


@register("aten.geqrf")
def geqrf(a: Args, out: Sequence[Any]) -> Cost:
    """``torch.geqrf``: the Householder R of m × n and its reflectors, no Q: the R
    part of :func:`qr`, 2mn² − 2n³/3 (m ≥ n; else the roles swap)."""
    x = a["self"]
    m, n = max(x.shape[-2:]), min(x.shape[-2:])
    return _linalg(_batch(x) * (2 * m * n * n - 2 * n**3 // 3))


@register("aten.cholesky_inverse")
def cholesky_inverse(a: Args, out: Sequence[Any]) -> Cost:
    """The inverse from a Cholesky factor of n × n: the triangle's inverse (n³/3,
    ``trtri``) and its product with its transpose (n³/3, ``lauum``): 2n³/3
    (``potri``)."""
    x = a["self"]
    return _linalg(_batch(x) * 2 * x.shape[-1] ** 3 // 3)


@register("aten.linalg_ldl_factor_ex")
def ldl_factor(a: Args, out: Sequence[Any]) -> Cost:
    """Bunch–Kaufman LDLᵀ of a symmetric n × n: n³/3, half an LU (``sytrf``)."""
    x = a["self"]
    return _linalg(_batch(x) * x.shape[-1] ** 3 // 3)


@register("aten.linalg_eig")
def eig(a: Args, out: Sequence[Any]) -> Cost:
    """Eigen-decomposition of a general n × n (``geev``; ``eigvals`` runs it too):
    Hessenberg reduction and the Francis QR iteration to the real Schur form with its
    Q, 25n³ (Golub and Van Loan, *Matrix Computations*, the Francis QR step's work);
    the eigenvectors' back-substitution from the Schur form (``trevc``) is not
    counted."""
    x = a["self"]
    return _linalg(_batch(x) * 25 * x.shape[-1] ** 3)


@register("aten.linalg_pinv")
def pinv(a: Args, out: Sequence[Any]) -> Cost:
    """Pseudo-inverse of m × n (m ≥ n; else the roles swap), as ATen computes it: the
    thin SVD (14mn² + 8n³, :func:`svd`), or for ``hermitian=True`` the symmetric
    eigen-decomposition (9n³, :func:`eigh`), then V·diag(1/σ) (n², with the
    reciprocals and the cut-off test, 3n) times Uᴴ (2mn² from a MAC per element of
    the m × n product over n)."""
    x = a["self"]
    m, n = max(x.shape[-2:]), min(x.shape[-2:])
    factor = 9 * n**3 if a.get("hermitian") else 14 * m * n * n + 8 * n**3
    return _linalg(_batch(x) * (factor + n * n + 3 * n + 2 * m * n * n))


@register("aten._linalg_eigh")
def eigh(a: Args, out: Sequence[Any]) -> Cost:
    """Symmetric eigen-decomposition of n × n: eigenvalues only 4n³/3; with the
    eigenvectors 9n³ (Golub and Van Loan, symmetric QR algorithm)."""
    x = a["A"]
    n = x.shape[-1]
    return _linalg(_batch(x) * (9 * n**3 if a.get("compute_v", True) else 4 * n**3 // 3))


# backward of the ops above (and a few stragglers the same sweep found in training)
_register_family("cosh polygamma logical_and_ logical_or_ logical_xor_", 1)
# the shrinks' gradients: a compare and a select
_register_family("hardshrink_backward softshrink_backward", 2)


@register("aten.rrelu_with_noise_backward")
def rrelu_backward(a: Args, out: Sequence[Any]) -> Cost:
    """RReLU's backward. Training (a random slope per element, saved in ``noise``,
    which the forward set to 1 where ``x > 0``): ``g·noise``, 1 per element. In eval
    (or ``lower == upper``) ATen runs leaky ReLU's backward, ``x > 0 ? g :
    g·slope``: compare and multiply, 2."""
    training = (
        bool(a.get("training")) and float(a.get("upper", 0)) - float(a.get("lower", 0)) > 1e-6
    )
    per = 1 if training else 2
    return Cost(vector_flops=per * _out_numel(out), op_class="elementwise")


@register("aten.logit_backward")
def logit_backward(a: Args, out: Sequence[Any]) -> Cost:
    """``g / (x·(1 − x))`` (subtract, multiply, divide: 3) behind a range check of x
    (two compares, 2): outside ``[eps, 1 − eps]`` the gradient is 0, and without an
    ``eps`` outside ``[0, 1]`` it is NaN, both forms in ATen's CPU and CUDA kernels
    (``logit_backward_kernel``): 5 per element either way."""
    return Cost(vector_flops=5 * _out_numel(out), op_class="elementwise")


@register("aten.log_sigmoid_backward")
def log_sigmoid_backward(a: Args, out: Sequence[Any]) -> Cost:
    """``d/dx log σ(x) = 1 − σ(x)``, as ATen computes it with ``z = exp(−|x|)``:
    ``g · (m − s·z/(1 + z))`` with ``m, s`` picked by ``x < 0``: the compare, ``1 + z``,
    the divide, ``s·``, the subtract, ``·g`` → 6 from the CPU forward's saved ``buffer``
    (``z``); where the buffer is empty (CUDA) ``z`` is recomputed (abs, negate, exp):
    9."""
    buffer = a.get("buffer")
    per = 6 if isinstance(buffer, T) and buffer.numel > 0 else 9
    return Cost(vector_flops=per * _out_numel(out), op_class="elementwise")


@register("aten.glu_backward")
def glu_backward(a: Args, out: Sequence[Any]) -> Cost:
    """GLU ``a·σ(b)``'s backward, per element of the output gradient (a pair of input
    elements): ``σ(b)`` (4), ``da = g·σ(b)`` (1), ``db = g·a·σ(b)·(1 − σ(b))`` (1 − σ,
    three multiplies: 4) → 9, i.e. 4.5 per input-gradient element."""
    return Cost(vector_flops=9 * _numel(a["grad_output"]), op_class="elementwise")


@register("aten._prelu_kernel_backward")
def prelu_backward(a: Args, out: Sequence[Any]) -> Cost:
    """PReLU's backward, per *input* element: the compare ``x > 0`` (1), the input's
    gradient ``g`` or ``w·g`` (1) and the slope's, per element, ``0`` or ``x·g`` (1)
    → 3. Both gradients come out at the input's size; the sum of the slope's over
    the elements that share it is a ``sum`` op of its own (counted there)."""
    return Cost(vector_flops=3 * _numel(a["self"]), op_class="elementwise")


@register("aten.soft_margin_loss_backward")
def soft_margin_loss_backward(a: Args, out: Sequence[Any]) -> Cost:
    """``−y·σ(−y·x)·g``: multiply, negate, sigmoid (4), two multiplies → 8 per
    element, the mean's 1/n once."""
    return _pointwise_loss_backward(a, 8)


@register("aten.multi_margin_loss_backward")
def multi_margin_loss_backward(a: Args, out: Sequence[Any]) -> Cost:
    """As ATen's ``multi_margin_loss_backward`` kernel, per element of ``self``: the
    margin ``z = margin − x[y] + x[i]`` (subtract, add: 2), the hinge's test ``z > 0``
    (1), its gradient ``h`` subtracted into the target's column (1) and multiplied by
    the output gradient (1) → 5; ``p = 2`` makes ``h = 2g·z`` (1 more, the constant
    ``2g`` folded), a class ``weight`` multiplies ``h`` by ``w[y]`` (1 more); the
    mean's 1/n once. The forward counts the same terms (4–6)."""
    per = 5 + int(float(a.get("p", 1)) == 2.0) + int(isinstance(a.get("weight"), T))
    return _pointwise_loss_backward(a, per)


@register("aten.fractional_max_pool2d_backward", "aten.fractional_max_pool3d_backward")
def fractional_max_pool_backward(a: Args, out: Sequence[Any]) -> Cost:
    """As max pooling's backward: each gradient element added at its argmax."""
    return max_pool_backward_cost(a["grad_output"], _first_out(out))


@register("aten._cdist_backward")
def cdist_backward(a: Args, out: Sequence[Any]) -> Cost:
    """The gradient of each pair's distance with respect to ``x1``: per pair and
    coordinate ``g·(x1 − x2)·|x1 − x2|^(p−2) / d^(p−1)``, subtract, scale and add into
    the row's gradient, 4 (the per-pair scale once)."""
    pairs, m = a["cdist"].numel, a["x1"].shape[-1]
    return Cost(vector_flops=pairs * (4 * m + 1), op_class="reduction")


@register("aten._pdist_backward")
def pdist_backward(a: Args, out: Sequence[Any]) -> Cost:
    """As :func:`cdist_backward`, for the rows of both ends of each pair (8 per
    coordinate)."""
    pairs, m = a["pdist"].numel, a["self"].shape[-1]
    return Cost(vector_flops=pairs * (8 * m + 1), op_class="reduction")


@register("aten.linalg_lu_solve")
def lu_solve(a: Args, out: Sequence[Any]) -> Cost:
    """Solve with an LU factorisation of n × n for k right-hand sides: two triangular
    solves, 2n²k (``getrs``); the solution holds n values per right-hand side (on
    either side, batched by either operand)."""
    n = a["LU"].shape[-1]
    return _linalg(2 * n * _out_numel(out))


@register("aten.linalg_solve_triangular")
def solve_triangular(a: Args, out: Sequence[Any]) -> Cost:
    """A triangular solve of n × n with k right-hand sides: n²k (``trsm``); the
    solution holds n values per right-hand side (on either side, batched by either
    operand)."""
    n = a["self"].shape[-1]
    return _linalg(n * _out_numel(out))


@register("aten.triangular_solve")
def triangular_solve(a: Args, out: Sequence[Any]) -> Cost:
    """``torch.triangular_solve(b, A)``: as :func:`solve_triangular`, n²k for n × n
    with k right-hand sides; the solution is the first output (the second is ``A``
    copied out)."""
    n = a["A"].shape[-1]
    return _linalg(n * _first_out(out).numel)


@register("aten.cholesky_solve")
def cholesky_solve(a: Args, out: Sequence[Any]) -> Cost:
    """Solve with a Cholesky factor L of n × n for k right-hand sides: two triangular
    solves (L, then Lᴴ), 2n²k (``potrs``), as :func:`lu_solve`."""
    n = a["input2"].shape[-1]
    return _linalg(2 * n * _out_numel(out))


@register("aten.linalg_householder_product")
def householder_product(a: Args, out: Sequence[Any]) -> Cost:
    """Q (m × n) from k Householder reflectors (LAPACK ``orgqr``):
    4mnk − 2(m + n)k² + 4k³/3 (LAPACK Working Note 41)."""
    x = a["input"]
    m, n = x.shape[-2:]
    k = a["tau"].shape[-1]
    return _linalg(_batch(x) * (4 * m * n * k - 2 * (m + n) * k * k + 4 * k**3 // 3))


@register("aten.ormqr")
def ormqr(a: Args, out: Sequence[Any]) -> Cost:
    """C (m × n) multiplied by the Q of k Householder reflectors, without forming Q
    (LAPACK ``ormqr``): from the left 2nk(2m − k), from the right 2mk(2n − k)
    (LAPACK Working Note 41)."""
    c = a["input3"]  # the reflectors are ``self``, their scales ``input2``
    m, n = c.shape[-2:]
    k = a["input2"].shape[-1]
    per = 2 * n * k * (2 * m - k) if a.get("left", True) else 2 * m * k * (2 * n - k)
    return _linalg(_batch(c) * per)


@register("aten.linalg_lstsq")
def lstsq(a: Args, out: Sequence[Any]) -> Cost:
    """Least squares of A (m × n, p = min, q = max of the two) with k right-hand sides,
    as LAPACK's QR driver ``gels`` (an LQ when m < n): the factorisation 2qp² − 2p³/3,
    Qᴴ applied to B 2kp(2q − p) (``ormqr``) and the triangular solve p²k. The CPU's
    default driver ``gelsy`` also pivots columns; its extra work is not counted."""
    x, b = a["self"], a["b"]
    m, n = x.shape[-2:]
    p, q = min(m, n), max(m, n)
    k = b.shape[-1] if len(b.shape) == len(x.shape) else 1
    batch = max(_batch(x), _batch(b) if len(b.shape) == len(x.shape) else 1)
    per = 2 * q * p * p - 2 * p**3 // 3 + 2 * k * p * (2 * q - p) + p * p * k
    return _linalg(batch * per)


@register("aten.bincount")
def bincount(a: Args, out: Sequence[Any]) -> Cost:
    """One increment per input element (an add of one, or of its weight)."""
    return Cost(vector_flops=a["self"].numel, op_class="reduction")


@register("aten.equal")
def equal(a: Args, out: Sequence[Any]) -> Cost:
    """``torch.equal``: a compare per element pair and the and that folds them into one
    bool, 2 per element (the early exit at the first difference is not counted)."""
    return Cost(vector_flops=2 * a["self"].numel, op_class="reduction")


#: CTC's forward per lattice node ``log_alpha[n, t, s]``: the log-sum-exp of up to three
#: predecessors (2 compares for their max, 3 subtracts, 3 exps, 2 adds, a log, the max
#: added back) plus the emission's log-probability: 13
CTC_NODE_FLOPS = 13
#: the backward per node: the beta recursion's 13, alpha + beta 1 and its log-add-exp
#: into its label's gradient 7; per gradient element exp(lp) − exp(lcab + nll − lp),
#: times the incoming gradient: 6
CTC_BACKWARD_NODE_FLOPS, CTC_GRAD_FLOPS = 21, 6


@register("aten._ctc_loss")
def ctc_loss(a: Args, out: Sequence[Any]) -> Cost:
    """The alpha recursion over the lattice ``log_alpha`` (the second output, N × T ×
    (2·S + 1) for the longest input T and target S): :data:`CTC_NODE_FLOPS` per node.
    The **upper bound**: a sample's recursion stops at its own input and target
    lengths, which are values."""
    return Cost(vector_flops=CTC_NODE_FLOPS * _numel(out[1]), op_class="reduction")


@register("aten._ctc_loss_backward")
def ctc_loss_backward(a: Args, out: Sequence[Any]) -> Cost:
    """The beta recursion and the gradient over the same lattice,
    :data:`CTC_BACKWARD_NODE_FLOPS` per node, and :data:`CTC_GRAD_FLOPS` per element of
    the log-probabilities' gradient; the same upper bound as the forward."""
    nodes = _numel(a["log_alpha"])
    return Cost(
        vector_flops=CTC_BACKWARD_NODE_FLOPS * nodes + CTC_GRAD_FLOPS * _out_numel(out),
        op_class="reduction",
    )
