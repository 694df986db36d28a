"""The fused transformer fast-path kernels, step by step, for the live-tensor tracker.

``nn.TransformerEncoderLayer`` and ``nn.MultiheadAttention`` in inference (eval, no
grad) call one aten op each, ``_transformer_encoder_layer_fwd`` and
``_native_multi_head_attention``. On fake tensors the tracker would see only their
outputs, but the kernels allocate their intermediates through the allocator like any
op: the packed q/k/v projection, the attention scores, the head-merged context, the
feed-forward hidden layer. The peak of a stack of encoder layers lies inside them (a
small ``nn.TransformerEncoder`` holds 3.5x its output there).

So the tracker runs each as the aten ops the CPU kernel runs, in its order, and drops
each intermediate where the kernel drops it: ``transformer_encoder_layer_forward``
(``aten/src/ATen/native/transformers/transformer.cpp``) and
``native_multi_head_attention_cpu`` (``attention.cpp``), the math path: scores of
``B x heads x T x T``, softmax in place, the context written over q's storage. The
ops go back through the tracker's dispatch mode, so each storage is counted as any
other. In-place steps that allocate nothing (softmax, ``bmm_out`` into q) are left out.

Nested-tensor inputs keep the output-only stand-in of
:data:`roofline.counting.tracing.FAKE_OUTPUTS`.

The same mechanism covers what oneDNN's LSTM kernels allocate around their work (the
bias sum, contiguous gradients: :func:`mkldnn_rnn_layer`,
:func:`mkldnn_rnn_layer_backward`), kernel outputs the fake kernels size differently
(:data:`REAL_SIZED_OUTPUTS`), and ``linear``'s in-place bias add (:class:`EagerLinear`);
and CPU kernels whose temporaries are aten ops of their own (``_trilinear``'s
slice-by-slice products, ``_euclidean_dist``'s concatenations, ``_safe_softmax``'s
bool scores, ``logsumexp``, ``roll``, the layout copies of convolution and layer norm).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import _disable_current_modes

from roofline.counting.tracing import op_name

aten = torch.ops.aten


def _layer_norm(x: torch.Tensor, dim: int, weight: Any, bias: Any, eps: float) -> torch.Tensor:
    # at::layer_norm -> native_layer_norm: the output, and mean and rstd dropped at once
    return aten.native_layer_norm(x, [dim], weight, bias, eps)[0]


def native_multi_head_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    embed_dim: int,
    num_head: int,
    qkv_weight: torch.Tensor,
    qkv_bias: torch.Tensor,
    proj_weight: torch.Tensor,
    proj_bias: torch.Tensor,
    mask: torch.Tensor | None = None,
    need_weights: bool = True,
    average_attn_weights: bool = True,
    mask_type: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``native_multi_head_attention_cpu``: (projection, attention weights or empty)."""
    d = embed_dim
    # qkv_projection: [B, T, 3D] (gemm_nt is at::matmul(x, w.t()))
    if key is value and query is key:
        qkv = torch.matmul(query, qkv_weight.t())
    elif key is value:
        wq, wkv = qkv_weight.split([d, 2 * d], 0)
        qkv = torch.cat([torch.matmul(query, wq.t()), torch.matmul(key, wkv.t())], 2)
    else:
        wq, wk, wv = qkv_weight.chunk(3, 0)
        qkv = torch.cat(
            [torch.matmul(query, wq.t()), torch.matmul(key, wk.t()), torch.matmul(value, wv.t())],
            2,
        )
    if qkv.numel() == 0:
        return torch.empty_like(query), torch.empty(0, dtype=query.dtype, device=query.device)
    # 3 x [B, heads, T, dh], one storage; qkv is freed right after
    q, k, v = aten._transform_bias_rescale_qkv(qkv, qkv_bias, num_head)
    del qkv
    b, h, t, dh = q.shape
    qkt = torch.bmm(q.reshape(b * h, t, dh), k.reshape(b * h, -1, dh).transpose(1, 2))
    qkt = qkt.view(b, h, t, -1)
    if mask is not None:
        if mask.dtype != torch.bool:
            mask = mask.to(torch.bool)
        qkt = aten._masked_softmax(qkt, mask, qkt.dim() - 1, mask_type)
    # else: softmax in place; and bmm_nn writes the context over q's storage
    if not need_weights:
        del qkt
    # transform0213_gemm_nt_bias: [B, T, D] copy, then linear (addmm); q, k and v
    # (one storage) live until the kernel returns
    a = q.permute(0, 2, 1, 3).contiguous().view(b, t, h * dh)
    proj = aten.addmm(proj_bias, a.view(b * t, h * dh), proj_weight.t()).view(b, t, -1)
    del a, q, k, v
    if not need_weights:
        return proj, torch.empty(0, dtype=query.dtype, device=query.device)
    if average_attn_weights:
        qkt = qkt.sum(1)
        qkt.div_(num_head)
    return proj, qkt


def transformer_encoder_layer_fwd(
    src: torch.Tensor,
    embed_dim: int,
    num_heads: int,
    qkv_weight: torch.Tensor,
    qkv_bias: torch.Tensor,
    proj_weight: torch.Tensor,
    proj_bias: torch.Tensor,
    use_gelu: bool,
    norm_first: bool,
    eps: float,
    norm_weight_1: torch.Tensor,
    norm_bias_1: torch.Tensor,
    norm_weight_2: torch.Tensor,
    norm_bias_2: torch.Tensor,
    ffn_weight_1: torch.Tensor,
    ffn_bias_1: torch.Tensor,
    ffn_weight_2: torch.Tensor,
    ffn_bias_2: torch.Tensor,
    mask: torch.Tensor | None = None,
    mask_type: int | None = None,
) -> torch.Tensor:
    """``transformer_encoder_layer_forward``: attention, residual, norm, FFN, residual,
    norm (or pre-norm with ``norm_first``)."""
    if src.numel() == 0:
        return src.clone()
    x = src
    if norm_first:
        x = _layer_norm(x, embed_dim, norm_weight_1, norm_bias_1, eps)
    x = aten._native_multi_head_attention(
        x,
        x,
        x,
        embed_dim,
        num_heads,
        qkv_weight,
        qkv_bias,
        proj_weight,
        proj_bias,
        mask,
        False,
        True,
        mask_type,
    )[0]
    x.add_(src)
    if not norm_first:
        x = _layer_norm(x, embed_dim, norm_weight_1, norm_bias_1, eps)
    pre_ffn_res = x
    if norm_first:
        x = _layer_norm(x, embed_dim, norm_weight_2, norm_bias_2, eps)
    # ffn: two linear_for_ffn (addmm with the activation fused, then addmm)
    b, t = x.shape[0], x.shape[1]
    r = aten._addmm_activation(
        ffn_bias_1, x.reshape(b * t, -1), ffn_weight_1.t(), beta=1, alpha=1, use_gelu=use_gelu
    )
    x = aten.addmm(ffn_bias_2, r, ffn_weight_2.t()).view(b, t, -1)
    del r
    x.add_(pre_ffn_res)
    if not norm_first:
        x = _layer_norm(x, embed_dim, norm_weight_2, norm_bias_2, eps)
    return x


#: the modules whose inference fast path refuses to run under any function mode
#: (``torch.overrides.has_torch_function`` is true while one is active)
FAST_PATH_MODULES: tuple[type[torch.nn.Module], ...] = (
    torch.nn.MultiheadAttention,
    torch.nn.TransformerEncoderLayer,
    torch.nn.TransformerEncoder,
)


def may_take_fast_path(module: torch.nn.Module, args: tuple[Any, ...]) -> bool:
    """Whether ``module``, called with positional ``args``, may take its inference fast
    path: one of :data:`FAST_PATH_MODULES`, in eval, with the fast path enabled; a
    batch-first ``nn.MultiheadAttention`` doing self-attention (query, key and value
    one tensor), a batch-first ``nn.TransformerEncoderLayer``, an
    ``nn.TransformerEncoder`` that may make a nested tensor (``use_nested_tensor``).
    Only conditions that rule the fast path out for certain are checked; where this is
    ``True``, torch's own checks decide."""
    if not isinstance(module, FAST_PATH_MODULES) or module.training:
        return False
    if not torch.backends.mha.get_fastpath_enabled():
        return False
    if isinstance(module, torch.nn.TransformerEncoder):
        return bool(getattr(module, "use_nested_tensor", False))
    if isinstance(module, torch.nn.MultiheadAttention):
        if len(args) >= 3 and not (args[0] is args[1] and args[1] is args[2]):
            return False
        return bool(module.batch_first)
    return bool(module.self_attn.batch_first)


class EagerLinear(TorchFunctionMode):
    """``F.linear`` with its bias added in place, as ATen's ``linear`` does outside a
    Python mode.

    On an input that is not on its fused path (3-D or more and not contiguous: a
    ``batch_first`` RNN's output, a permuted feature map, an MLP-Mixer's
    ``x.transpose(1, 2)``) ``linear`` (``aten/src/ATen/native/Linear.cpp``) runs
    ``matmul`` and then ``output.add_(bias)``, but out of place (``at::add``) when the
    bias is "tensor-subclass-like", which it is for fake tensors and for any tensor
    while a Python dispatch mode runs, as the tracker's does. Traced as is, each such
    layer would hold two outputs for a moment (a batch-first LSTM tagger's forward peak
    read 11 % high in training, a transposed batch into ``Linear(32, 256)`` 50 % high
    in inference). This mode runs those calls as the real kernel does; every other
    call is left to ``linear`` itself.

    An active function mode also turns off the inference fast paths of
    :data:`FAST_PATH_MODULES` (their forwards check ``has_torch_function``), which an
    inference trace must follow. So while the mode is active, global module hooks
    (invisible to those modules' hook checks) take it off the function-mode stack for
    the forward of each such module that :func:`may_take_fast_path`, when it is the
    only mode there, and put it back when that forward returns or raises: their fast
    paths run as without the mode, and a ``linear`` inside one that falls back to its
    Python path is traced as before (out of place). In training the tracker's
    ``TagMode`` is on the stack too, the modules are in train mode, and no fast path
    runs anyway: the mode stays on throughout.
    """

    def __init__(self) -> None:
        super().__init__()
        self._handles: list[Any] = []
        # one entry per running fast-path module: (module, whether it took the mode off)
        self._stepped_aside: list[tuple[torch.nn.Module, bool]] = []

    def __enter__(self) -> EagerLinear:
        from torch.nn.modules.module import (
            register_module_forward_hook,
            register_module_forward_pre_hook,
        )

        out = super().__enter__()
        self._handles = [
            register_module_forward_pre_hook(self._pre),
            register_module_forward_hook(self._post, always_call=True),
        ]
        return out

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        if any(popped for _m, popped in self._stepped_aside):
            torch._C._push_on_torch_function_stack(self)  # a forward that never returned
        self._stepped_aside = []
        super().__exit__(*exc)

    def _pre(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if not isinstance(module, FAST_PATH_MODULES):
            return
        alone = (
            torch._C._len_torch_function_stack() == 1 and torch._C._get_function_stack_at(0) is self
        )
        popped = alone and may_take_fast_path(module, args)
        if popped:
            torch._C._pop_torch_function_stack()
        self._stepped_aside.append((module, popped))

    def _post(self, module: torch.nn.Module, *rest: Any) -> None:
        if not self._stepped_aside or self._stepped_aside[-1][0] is not module:
            return
        _m, popped = self._stepped_aside.pop()
        if popped:
            torch._C._push_on_torch_function_stack(self)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        if func is torch.nn.functional.linear:
            x, weight, bias = (
                args[i] if len(args) > i else kwargs.get(k)
                for i, k in enumerate(("input", "weight", "bias"))
            )
            if (
                isinstance(bias, torch.Tensor)
                and isinstance(x, torch.Tensor)
                and x.dim() >= 3
                and not x.is_contiguous()
                and not x.is_mkldnn
                and not (x.dim() == 3 and os.environ.get("TORCH_LINEAR_FLATTEN_3D") == "1")
            ):
                out = torch.matmul(x, weight.t())
                # autocast casts linear's bias with its other operands
                return out.add_(bias if bias.dtype == out.dtype else bias.to(out.dtype))
        return func(*args, **kwargs)


def rnn_modules(model: torch.nn.Module) -> frozenset[str]:
    """The names (as the trace's module stack has them: ``""`` for the model itself)
    of ``model``'s recurrent layers, for :func:`is_rnn_input_bias_add`."""
    return frozenset(n for n, m in model.named_modules() if isinstance(m, torch.nn.RNNBase))


def is_rnn_input_bias_add(args: Any, kwargs: Any, last_mm: int | None) -> bool:
    """Whether this ``aten.add.Tensor``, dispatched inside a recurrent layer, is the
    bias add of ATen's ``linear`` on the layer's whole input sequence, which the real
    kernel does in place.

    The RNN composites that do not run a fused kernel on the CPU (``nn.GRU``,
    ``nn.RNN``, ``nn.LSTM`` with ``proj_size``; ``aten/src/ATen/native/RNN.cpp``)
    project a layer's whole input at once with ``at::linear`` (C++, no Python call a
    function mode could see, unlike :class:`EagerLinear`'s). A ``batch_first`` input
    is a transposed view, not contiguous, so ``linear`` runs ``matmul`` (one ``mm``
    viewed 3-D) and ``add_(bias)``, out of place under a Python dispatch mode: the
    trace would hold the gates twice (a batch-first ``LSTM(32, 64, proj_size=16)``
    read 34 % high in inference, a ``GRU`` 10 %). Recognised by its operands: a 3-D
    or larger first operand on the storage of the ``mm`` just made, a 1-D bias of its
    last dim, same dtype, in a no-grad forward (the training trace counts the
    recurrent step as measured already)."""
    if kwargs or len(args) != 2 or last_mm is None or torch.is_grad_enabled():
        return False
    if torch._C._current_autograd_node() is not None:
        return False  # a backward formula, not the forward's linear
    a, b = args
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return False
    return (
        a.dim() >= 3
        and b.dim() == 1
        and b.shape[0] == a.shape[-1]
        and a.dtype == b.dtype
        and a.untyped_storage()._cdata == last_mm
    )


#: the most bytes of real tensors :func:`mkldnn_rnn_layer_workspace` builds to size one
#: layer's workspace (beyond it the fake kernel's empty workspace is kept)
RNN_PROBE_BUDGET_BYTES = 64 * 2**20


@functools.lru_cache(maxsize=256)
def _mkldnn_workspace_bytes(
    shapes: tuple[tuple[int, ...] | None, ...],
    dtype: torch.dtype,
    flags: tuple[Any, ...],
    grad: bool,
) -> int | None:
    """Bytes of the workspace oneDNN's LSTM forward keeps for backward, read off one real
    run of the kernel on zeros of these shapes (None: over the budget). Its size is
    oneDNN's internal layout (gates and states of every step, page-aligned pieces), so
    it is asked of the kernel rather than modelled."""
    nbytes = sum(math.prod(sh) for sh in shapes if sh is not None) * dtype.itemsize
    if nbytes > RNN_PROBE_BUDGET_BYTES:
        return None
    # in the caller's grad mode: the kernel keeps no workspace when grad is off
    with _disable_current_modes(), torch.set_grad_enabled(grad):
        real = [None if sh is None else torch.zeros(sh, dtype=dtype) for sh in shapes]
        ws = aten.mkldnn_rnn_layer(*real, *flags)[3]
    return 0 if ws is None else int(ws.untyped_storage().nbytes())


def mkldnn_rnn_layer_workspace(args: Any, kwargs: Any, out: Any) -> Any:
    """``aten.mkldnn_rnn_layer`` in training (the CPU LSTM): the fake kernel returns an
    empty workspace, the real one keeps gates and states for backward (a large
    part of an LSTM's training peak, docs/vram.md). The same outputs, the workspace at its
    real size (:func:`_mkldnn_workspace_bytes`)."""
    if kwargs or len(args) != 16 or not args[-1] or out[3].numel():
        return out
    tensors, flags = args[:7], args[7:]
    shapes = tuple(None if t is None else tuple(t.shape) for t in tensors)
    size = _mkldnn_workspace_bytes(
        shapes,
        tensors[0].dtype,
        tuple(tuple(f) if isinstance(f, list) else f for f in flags),
        torch.is_grad_enabled(),
    )
    if not size:
        return out
    ws = torch.empty(size, dtype=torch.uint8, device=out[3].device)
    return (*out[:3], ws)


#: the ops whose steps are running: inside them the op itself runs as it is
_RUNNING: set[str] = set()


def _itself(op: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``op`` (an ``aten`` overload) itself within its own steps, not its steps
    again; it still goes through the tracker, which counts its outputs."""
    name = op_name(op)
    _RUNNING.add(name)
    try:
        return op(*args, **kwargs)
    finally:
        _RUNNING.discard(name)


def _rnn_bias(args: Any, has_biases: bool) -> torch.Tensor:
    """``_shuffle_bias`` of an LSTM layer: ``bias_ih + bias_hh``, zeros of the gates'
    size (4 x hidden) without biases."""
    return aten.add(args[3], args[4]) if has_biases else args[3].new_zeros(args[3].shape[0])


def mkldnn_rnn_layer(*args: Any) -> Any:
    """``onednn_rnn_layer`` (``aten/src/ATen/native/mkldnn/RNN.cpp``) sums the layer's
    two bias vectors into one tensor that lives while the kernel runs; the fake kernel
    does not. The sum, made through the tracker, then the kernel."""
    bias = _rnn_bias(args, args[12])
    out = _itself(aten.mkldnn_rnn_layer.default, *args)
    del bias  # freed as the kernel returns, after its outputs were made
    return out


def mkldnn_rnn_layer_backward(*args: Any) -> Any:
    """``onednn_rnn_layer_backward`` (``aten/src/ATen/native/mkldnn/RNN.cpp``) first
    makes each gradient it is given contiguous (a ``batch_first`` LSTM's output
    gradient is a transposed view: an output-sized copy) and a zero tensor for each
    one not given (``hy`` or ``cy`` unused), and sums the two bias vectors, all alive
    until it returns; the fake kernel allocates none of them. So: those tensors, made
    through the tracker, then the kernel on them."""
    bias = _rnn_bias(args, args[17])
    grads = [
        torch.zeros_like(ref, memory_format=torch.contiguous_format)
        if g is None
        else g.contiguous()
        for g, ref in zip(args[10:13], args[7:10], strict=True)  # of output, hy, cy
    ]
    out = _itself(aten.mkldnn_rnn_layer_backward.default, *args[:10], *grads, *args[13:])
    del bias, grads  # freed as the kernel returns, after its outputs were made
    return out


def mkldnn_rnn_layer_backward_bias_grads(args: Any, kwargs: Any, out: Any) -> Any:
    """The kernel returns its bias gradient and a clone of it (the two bias vectors
    of torch's LSTM, ``bias_ih`` and ``bias_hh``); the fake kernel returns one tensor
    twice."""
    if kwargs or len(out) != 7 or out[3] is None or out[4] is None:
        return out
    if out[3].untyped_storage()._cdata != out[4].untyped_storage()._cdata:
        return out
    return (*out[:4], torch.empty_like(out[3]), *out[5:])


def _conv_memory_format(x: torch.Tensor, w: torch.Tensor) -> torch.memory_format:
    """``determine_backend_memory_format`` (``aten/src/ATen/native/Convolution.cpp``):
    channels-last when the input or the weight is laid out channels-last (oneDNN's
    ``mkldnn_conv_use_channels_last``, the slow kernels' ``thnn_conv_use_channels_last``,
    cuDNN's ``cudnn_conv_suggest_memory_format``), else contiguous."""
    from torch._prims_common import suggest_memory_format

    if x.dim() not in (4, 5) or x.is_mkldnn or w.is_mkldnn:
        return torch.contiguous_format
    cl = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    if cl in (suggest_memory_format(x), suggest_memory_format(w)):
        return cl
    return torch.contiguous_format


def _conv_operands(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The input and weight as the convolution's backend gets them: a 1-D input made
    contiguous (``view4d``), then both in the backend's memory format. A copy where
    the layouts differ (a weight beside a channels-last input, as after a permuted
    LayerNorm), made through the tracker; no copy where they already match."""
    if x.dim() == 3:
        x = x.contiguous()
    fmt = _conv_memory_format(x, w)
    return x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt)


def convolution(x: torch.Tensor, w: torch.Tensor, *args: Any) -> Any:
    """``_convolution`` makes its input and weight contiguous in the backend's memory
    format (the oneDNN, slow and cuDNN paths alike) and holds the copies until it
    returns, the output made meanwhile; the fake kernel makes none. A ConvNeXt's
    downsampling convolution, fed a channels-last feature map by its LayerNorm, copies
    its contiguous weight to channels-last: 4.5 MiB in torchvision's convnext_tiny."""
    xc, wc = _conv_operands(x, w)
    out = _itself(aten.convolution.default, xc, wc, *args)
    del xc, wc  # freed as the kernel returns, after its output was made
    return out


def convolution_backward(g: torch.Tensor, x: torch.Tensor, w: torch.Tensor, *args: Any) -> Any:
    """``convolution_backward``: the input and weight in the backend's memory format,
    as in the forward, and oneDNN's ``mkldnn_convolution_backward`` the output
    gradient too, all alive until it returns."""
    xc, wc = _conv_operands(x, w)
    gc = g.contiguous(memory_format=_conv_memory_format(xc, wc))
    out = _itself(aten.convolution_backward.default, gc, xc, wc, *args)
    del xc, wc, gc
    return out


def _channels_last_copies(x: torch.Tensor, out: torch.Tensor) -> None:
    """The channels-last resize kernels' copies of their input and output
    (``contiguous(ChannelsLast)``, none where a tensor already is), made through the
    tracker and dropped at once: the kernel holds them until it returns, after its
    output was made, and copies the result back into the output at the end."""
    cl = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    xc = x.contiguous(memory_format=cl)
    oc = out.contiguous(memory_format=cl)
    del xc, oc


def _uses_channels_last_kernel(x: torch.Tensor, out: torch.Tensor, bilinear: bool) -> bool:
    """``_use_channels_last_kernel_2d`` / ``_3d`` (``UpSampleKernel.cpp``): a 2-D resize
    runs the channels-last kernel when its input is channels-last with more than 3
    channels, or its output is small (height + width <= 128); bilinear also for a
    3-channel image on one thread; a 3-D resize only for a channels-last input with
    more than 3 channels. (A uint8 bilinear resize takes its own separable path.)"""
    if bilinear and x.dtype == torch.uint8:
        return False
    if x.dim() == 5:
        return x.shape[1] > 3 and x.is_contiguous(memory_format=torch.channels_last_3d)
    if x.dim() != 4:
        return False
    wide = x.shape[1] > 3 and x.is_contiguous(memory_format=torch.channels_last)
    small = out.shape[-2] + out.shape[-1] <= 128
    one_thread = bilinear and x.shape[1] == 3 and torch.get_num_threads() == 1
    return wide or small or one_thread


def _channels_last_resize(name: str) -> Callable[..., Any]:
    """The CPU's resize ``name`` (``aten/src/ATen/native/cpu/UpSampleKernel.cpp``):
    nearest (and nearest-exact) in 2-D and 3-D, bilinear and trilinear run their
    vectorized channels-last kernel under :func:`_uses_channels_last_kernel`, and that
    kernel works on channels-last copies of its input and output, alive until it
    returns. The fake kernel makes only the output. A bilinear downsample to 64 x 64
    read 19 % low in inference at its peak for the input's copy, a nearest 2x upsample
    to 64 x 64 39 % low for both copies."""
    op = getattr(aten, name.split(".")[1]).default
    bilinear = "bilinear" in name

    def steps(x: torch.Tensor, *args: Any) -> Any:
        out = _itself(op, x, *args)
        if _uses_channels_last_kernel(x, out, bilinear):
            _channels_last_copies(x, out)
        return out

    steps.__doc__ = _channels_last_resize.__doc__
    return steps


#: the resizes that run a channels-last kernel on CPU (:func:`_channels_last_resize`)
CHANNELS_LAST_RESIZES = (
    "aten.upsample_nearest2d.default",
    "aten._upsample_nearest_exact2d.default",
    "aten.upsample_nearest3d.default",
    "aten._upsample_nearest_exact3d.default",
    "aten.upsample_bilinear2d.default",
    "aten.upsample_trilinear3d.default",
)


def _resize_backward(
    name: str, channels_last_kernel: bool, copies_input: bool
) -> Callable[..., Any]:
    """The CPU's backward of resize ``name`` (``UpSampleKernel.cpp``,
    ``UpSampleMoreKernel.cpp``, ``UpSampleBicubic2d.cpp``): after the structured
    op has made its gradient for the input, the kernel works on a copy of the output
    gradient in its layout and, unless it writes the input's gradient directly, on a
    copy of that too (copied back at the end), both alive until it returns:

    * nearest (and nearest-exact) 2-D / 3-D, bilinear and trilinear
      (``cpu_upsample_*_backward_channels_last`` when the output gradient is
      channels-last, else ``cpu_upsample_*_backward``): ``contiguous`` in that layout,
      of both; 1-D linear and nearest have no channels-last kernel;
    * bicubic (``upsample_bicubic2d_backward_kernel``): the output gradient's
      ``contiguous()`` only;
    * antialiased bilinear and bicubic (``cpu_upsample_genNd_backward_aa``): both
      ``contiguous()``, whatever their layout.

    So a channels-last map's bicubic or antialiased resize copies its gradients in
    backward (the fake kernels make none): a conv -> bilinear antialiased downsample ->
    conv net on a channels-last 8-channel map read 31 % low in training.
    """
    op = getattr(aten, name.split(".")[1]).default

    def steps(g: torch.Tensor, *args: Any) -> Any:
        out = _itself(op, g, *args)
        fmt = torch.contiguous_format
        if channels_last_kernel and g.dim() in (4, 5):
            cl = torch.channels_last if g.dim() == 4 else torch.channels_last_3d
            if g.is_contiguous(memory_format=cl):
                fmt = cl
        gc = g.contiguous(memory_format=fmt)
        oc = out.contiguous(memory_format=fmt) if copies_input else None
        del gc, oc  # freed as the kernel returns, after its output was made
        return out

    steps.__doc__ = _resize_backward.__doc__
    return steps


#: the resize backwards whose CPU kernels copy their gradients to their layout
#: (:func:`_resize_backward`): name -> (has a channels-last kernel, copies the input's
#: gradient too)
RESIZE_BACKWARDS = {
    "aten.upsample_nearest1d_backward.default": (False, True),
    "aten._upsample_nearest_exact1d_backward.default": (False, True),
    "aten.upsample_linear1d_backward.default": (False, True),
    "aten.upsample_nearest2d_backward.default": (True, True),
    "aten._upsample_nearest_exact2d_backward.default": (True, True),
    "aten.upsample_bilinear2d_backward.default": (True, True),
    "aten.upsample_nearest3d_backward.default": (True, True),
    "aten._upsample_nearest_exact3d_backward.default": (True, True),
    "aten.upsample_trilinear3d_backward.default": (True, True),
    "aten.upsample_bicubic2d_backward.default": (False, False),
    "aten._upsample_bilinear2d_aa_backward.default": (False, True),
    "aten._upsample_bicubic2d_aa_backward.default": (False, True),
}


#: the most images torchvision's deformable convolution unrolls into one column
#: buffer (``kMaxParallelImgs``, ``torchvision/csrc/ops/cpu/deform_conv2d_kernel.cpp``;
#: the CUDA kernel's is the same)
DEFORM_MAX_PARALLEL_IMGS = 32


def _deform_parallel_imgs(batch: int) -> int:
    """``get_greatest_divisor_below_bound(batch, kMaxParallelImgs)``: the largest divisor
    of the batch up to :data:`DEFORM_MAX_PARALLEL_IMGS`."""
    return next(k for k in range(min(batch, DEFORM_MAX_PARALLEL_IMGS), 0, -1) if batch % k == 0)


def _deform_shapes(x: torch.Tensor, w: torch.Tensor, offset: torch.Tensor) -> tuple[int, ...]:
    """(batch, images per block, out channels, out height, out width, column rows)."""
    b = x.shape[0]
    return (
        b,
        _deform_parallel_imgs(b),
        w.shape[0],
        offset.shape[2],
        offset.shape[3],
        x.shape[1] * w.shape[2] * w.shape[3],
    )


def deform_conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    bias: torch.Tensor,
    *args: Any,
) -> Any:
    """torchvision's ``deform_conv2d_forward_kernel`` (``torchvision/csrc/ops/cpu/
    deform_conv2d_kernel.cpp``; ``cuda/deform_conv2d_kernel.cu`` alike) copies its
    operands contiguous, makes the output (zeros), an output-sized buffer for the
    grouped matmuls (``out_buf``) and a column buffer of ``in_channels x kh x kw`` rows
    by ``images per block x out_h x out_w``, and returns ``out + bias``, a fourth
    tensor, while the others are alive; the fake kernel makes only the result. A
    ``DeformConv2d`` after a 3-channel offset conv read 58 % low in inference."""
    if x.dim() != 4 or x.shape[0] == 0:
        return _itself(aten_op("torchvision.deform_conv2d"), x, w, offset, mask, bias, *args)
    copies = [t.contiguous() for t in (x, offset, w, mask, bias)]
    b, n, cout, oh, ow, rows = _deform_shapes(x, w, offset)
    out = x.new_zeros((b, cout, oh, ow))
    out_buf = x.new_zeros((b // n, cout, n * oh, ow))
    columns = x.new_zeros((rows, n * oh * ow))
    res = _itself(aten_op("torchvision.deform_conv2d"), x, w, offset, mask, bias, *args)
    del copies, out, out_buf, columns  # freed as the kernel returns
    return res


def deform_conv2d_backward(
    g: torch.Tensor,
    x: torch.Tensor,
    w: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    bias: torch.Tensor,
    *args: Any,
) -> Any:
    """torchvision's ``deform_conv2d_backward_kernel``: the operands contiguous, then
    ``backward_gradient_inputs`` (the input's, offset's and mask's gradients as zeros, a
    column buffer, and per block and weight group a contiguous copy of that group's
    permuted output gradient for its matmul), then ``backward_gradient_parameters``
    (the weight's gradient, a contiguous permuted copy of the whole output gradient,
    the column buffer again, and per group the matmul's product and the sum with the
    gradient so far), then the bias gradient (``ones_like(bias) * grad.sum``). Each
    buffer is freed where its function returns; the fake kernel makes only the five
    gradients. Run as those steps, the gradients made in the kernel's order, except the
    two column buffers: the kernel makes them with ``at::empty`` and frees them
    inside, the kernel scratch the CPU measurement leaves out (docs/vram.md), as the
    trace leaves out every kernel's own workspace."""
    op = aten_op("torchvision._deform_conv2d_backward")
    if x.dim() != 4 or x.shape[0] == 0 or len(args) != 9:
        return _itself(op, g, x, w, offset, mask, bias, *args)
    groups = int(args[6])
    gc, xc, wc, oc, mc, bc = (t.contiguous() for t in (g, x, w, offset, mask, bias))
    b, n, cout, oh, ow, rows = _deform_shapes(x, w, offset)
    blocks = gc.reshape(b // n, n, groups, cout // groups, oh, ow).permute(0, 2, 3, 1, 4, 5)
    # backward_gradient_inputs
    grad_input, grad_offset, grad_mask = (torch.zeros_like(t) for t in (xc, oc, mc))
    chunk = blocks[0][0].flatten(1)  # a copy where the permuted block is not contiguous
    del chunk
    # backward_gradient_parameters
    grad_weight = torch.zeros_like(wc)
    buf = blocks.contiguous()
    # the matmul's product, (out channels x column rows) per group
    product = x.new_empty((cout // groups, rows // groups))
    total = aten.add.Tensor(grad_weight[0 : cout // groups].flatten(1), product)
    del product, total, buf, blocks
    # the bias
    sums = aten.sum.dim_IntList(gc, [0, 2, 3])
    grad_bias = torch.ones_like(bc) * sums
    del sums, gc, xc, wc, oc, mc, bc
    return grad_input, grad_weight, grad_offset, grad_mask, grad_bias


def aten_op(name: str) -> Any:
    """The default overload of dispatcher op ``namespace.name``."""
    ns, op = name.split(".")
    return getattr(getattr(torch.ops, ns), op).default


def _reduced_float_on_cpu(x: Any, dtype: Any) -> bool:
    return (
        isinstance(x, torch.Tensor)
        and x.device.type == "cpu"
        and x.numel() > 0
        and (dtype if dtype is not None else x.dtype) in (torch.bfloat16, torch.float16)
    )


def mean(x: torch.Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:
    """The CPU's ``mean`` of a 16-bit float tensor (``mean_out``,
    ``aten/src/ATen/native/ReduceOps.cpp``) sums in float32: a float32 result, then
    ``sum_out(..., kFloat)``, which casts the whole input to float32 (twice its bytes),
    alive while it sums; the fake kernel makes only the 16-bit result. A conv net
    pooled by ``x.mean((2, 3))`` under bf16 autocast (timm's fast global pooling and
    squeeze-excitation) read 14 % low in training, at that mean. (CUDA's kernel
    accumulates in float32 without the copies: an over-count there while it runs.)"""
    op = aten.mean.default if dim is None else aten.mean.dim
    args = (x,) if dim is None else (x, dim, keepdim)
    out = _itself(op, *args, dtype=dtype)
    if _reduced_float_on_cpu(x, dtype) and isinstance(out, torch.Tensor):
        acc = torch.empty_like(out, dtype=torch.float32)
        copy = x.to(torch.float32)
        del copy, acc  # the copy as the sum returns, the float result with the op
    return out


def sum_in_float(x: torch.Tensor, dim: Any, keepdim: bool = False, *, dtype: Any = None) -> Any:
    """``sum`` of a 16-bit float tensor into a wider ``dtype`` on the CPU
    (``sum_out``: ``self.to(dtype)``) sums a cast copy of the input, alive while it
    runs; the fake kernel makes only the result."""
    out = _itself(aten.sum.dim_IntList, x, dim, keepdim, dtype=dtype)
    if (
        dtype is not None
        and dtype != x.dtype
        and _reduced_float_on_cpu(x, None)
        and isinstance(out, torch.Tensor)
    ):
        copy = x.to(dtype)
        del copy
    return out


def native_layer_norm(x: torch.Tensor, shape: Any, *args: Any) -> Any:
    """``layer_norm_cpu`` (``aten/src/ATen/native/layer_norm.cpp``; the CUDA kernel
    alike) runs on ``input.expect_contiguous()``: a non-contiguous input (a permuted
    feature map, as ConvNeXt-style blocks feed it) is copied, the copy alive until the
    op returns, its outputs made meanwhile. The fake kernel makes no copy."""
    xc = x.contiguous()
    out = _itself(aten.native_layer_norm.default, xc, shape, *args)
    del xc
    return out


def native_layer_norm_backward(g: torch.Tensor, x: torch.Tensor, *args: Any) -> Any:
    """``layer_norm_backward_cpu``: the output gradient and the input made contiguous
    (``expect_contiguous``), alive until it returns."""
    gc, xc = g.contiguous(), x.contiguous()
    out = _itself(aten.native_layer_norm_backward.default, gc, xc, *args)
    del gc, xc
    return out


def roll(x: torch.Tensor, shifts: Any, dims: Any = ()) -> Any:
    """``roll`` over several dims (``roll_common``, ``aten/src/ATen/native/TensorTransformations.h``;
    the CPU and CUDA kernels alike) rolls the first dim, then the rest of the result:
    each intermediate is a tensor as large as the input, alive while the next roll
    makes its output (a Swin block's cyclic shift over height and width). The fake
    kernel makes only the final output."""
    shifts, dims = list(shifts), list(dims)
    if len(dims) < 2 or len(shifts) != len(dims):
        return _itself(aten.roll.default, x, shifts, dims)
    first = _itself(aten.roll.default, x, shifts[:1], dims[:1])
    return aten.roll(first, shifts[1:], dims[1:])  # the rest as steps again, dim by dim


def logsumexp(x: torch.Tensor, dim: Any, keepdim: bool = False) -> Any:
    """``logsumexp`` (``logsumexp_out_impl``, ``aten/src/ATen/native/ReduceOps.cpp``):
    the maxima along ``dim`` (``amax``, kept until it returns, their infinities zeroed
    through two small temporaries), then ``(x - maxes).exp_()``, a temporary as large
    as the input, summed into the result and dropped. The fake kernel makes only the
    result, a fraction of the input-sized block that is alive at the op's peak."""
    if x.numel() == 0 or not x.is_floating_point():
        return _itself(aten.logsumexp.default, x, dim, keepdim)
    dims = [dim] if isinstance(dim, int) else list(dim)
    maxes = aten.amax(x, dims, True)
    squeezed = maxes if keepdim else aten.squeeze.dims(maxes, dims)
    aten.masked_fill_.Scalar(squeezed, aten.eq.Scalar(aten.abs(squeezed), math.inf), 0)
    shifted = aten.exp_(aten.sub.Tensor(x, maxes))
    out = aten.sum.dim_IntList(shifted, dims, keepdim)
    del shifted
    aten.add_.Tensor(aten.log_(out), squeezed)
    return out


def _sumproduct_pair(left: torch.Tensor, right: torch.Tensor, sum_dims: list[int]) -> torch.Tensor:
    """``sumproduct_pair`` (``aten/src/ATen/native/Linear.cpp``), keepdim: ``(left *
    right).sum(sum_dims)`` as one ``bmm``. A summed dim present in one operand only is
    summed there first; both operands are permuted to (both, one side, summed) and
    reshaped, a copy where the permutation is not contiguous (a broadcast operand's
    expanded dims are size 1, so no expanded copy); no sum dims: a plain ``mul``."""
    if not sum_dims:
        return aten.mul.Tensor(left, right)
    lro: list[int] = []
    lo: list[int] = []
    ro: list[int] = []
    lro_size = lo_size = ro_size = sum_size = 1
    for i in range(left.dim()):
        sl, sr = left.shape[i] != 1, right.shape[i] != 1
        if i in sum_dims:
            if sl and sr:
                sum_size *= left.shape[i]
            elif sl:
                left = left.sum(i, True)
            elif sr:
                right = right.sum(i, True)
        elif sl and sr:
            lro.append(i)
            lro_size *= left.shape[i]
        elif sl:
            lo.append(i)
            lo_size *= left.shape[i]
        else:
            ro.append(i)
            ro_size *= right.shape[i]
    out_size = [
        *(left.shape[d] for d in (*lro, *lo)),
        *([1] * len(sum_dims)),
        *(right.shape[d] for d in ro),
    ]
    order = [*lro, *lo, *sum_dims, *ro]
    operm = [order.index(i) for i in range(len(order))]
    a = left.permute([*lro, *lo, *sum_dims, *ro]).reshape(lro_size, lo_size, sum_size)
    b = right.permute([*lro, *sum_dims, *ro, *lo]).reshape(lro_size, sum_size, ro_size)
    out = torch.bmm(a, b)
    del a, b
    return out.view(out_size).permute(operm)


def trilinear(
    i1: torch.Tensor,
    i2: torch.Tensor,
    i3: torch.Tensor,
    expand1: Any,
    expand2: Any,
    expand3: Any,
    sumdim: Any,
    unroll_dim: int = 1,
) -> torch.Tensor:
    """``_trilinear`` (``aten/src/ATen/native/Linear.cpp``; ``nn.Bilinear``'s forward
    and its three backward products): a zero output, then for each index along
    ``unroll_dim`` two :func:`_sumproduct_pair` products of the three operands'
    slices, added into the output, each product's operands and result alive only for
    that step. The fake kernel makes only the output; the largest of these
    temporaries (the permuted operand copies of the weight's gradient, batch x
    features) are as large as the output or larger."""
    total = i1.dim() + len(expand1)
    e1, e2, e3, sd = set(expand1), set(expand2), set(expand3), set(sumdim)
    sum12: list[int] = []
    sum23: list[int] = []
    out_size: list[int] = []
    unroll_size = -1
    for i in range(total):
        s = 0
        if i in e1:
            i1 = i1.unsqueeze(i)
        else:
            s = i1.shape[i]
        if i in e2:
            i2 = i2.unsqueeze(i)
        else:
            s = i2.shape[i]
        if i in e3:
            i3 = i3.unsqueeze(i)
            if i in sd and i != unroll_dim:
                sum12.append(i)
        else:
            s = i3.shape[i]
            if i in sd and i != unroll_dim:
                sum23.append(i)
        out_size.append(1 if i in sd else s)
        if i == unroll_dim:
            unroll_size = s
    m1, m2, m3 = (0 if unroll_dim in e else 1 for e in (e1, e2, e3))
    out = aten.zeros.default(out_size, dtype=i1.dtype, device=i1.device)
    if i1.numel() and i2.numel() and i3.numel():
        for k in range(unroll_size):
            buf = _sumproduct_pair(
                i1.narrow(unroll_dim, k * m1, 1), i2.narrow(unroll_dim, k * m2, 1), sum12
            )
            buf = _sumproduct_pair(buf, i3.narrow(unroll_dim, k * m3, 1), sum23)
            (out if unroll_dim in sd else out.narrow(unroll_dim, k, 1)).add_(buf)
            del buf
    for i in reversed(range(out.dim())):
        if i in sd:
            out = out.squeeze(i)
    return out


def euclidean_dist(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``_euclidean_dist`` (``aten/src/ATen/native/Distance.cpp``; ``torch.cdist``
    with p=2 and more than 25 rows, or ``compute_mode="use_mm_for_euclid_dist"``): the
    squared norms (through a squared copy of each input) and ones, two concatenated
    operands ``[-2 x1, |x1|^2, 1]`` and ``[x2, 1, |x2|^2]`` (``x1 * -2`` alive while
    the first is made; the norms and ones go into the concatenations and are freed
    there, as measured), then their matmul (the result, clamped and square-rooted in
    place) while both operands live. The fake kernel makes only the result."""
    sq = x1.pow(2)
    x1_norm = sq.sum(-1, True)
    del sq
    x1_pad = torch.ones_like(x1_norm, memory_format=torch.contiguous_format)
    sq = x2.pow(2)
    x2_norm = sq.sum(-1, True)
    del sq
    x2_pad = torch.ones_like(x2_norm, memory_format=torch.contiguous_format)
    scaled = x1.mul(-2)
    a = torch.cat([scaled, x1_norm, x1_pad], -1)
    del scaled, x1_norm, x1_pad
    b = torch.cat([x2, x2_pad, x2_norm], -1)
    del x2_norm, x2_pad
    out = a.matmul(b.transpose(-2, -1))
    out.clamp_min_(0).sqrt_()
    del a, b
    return out


def safe_softmax(x: torch.Tensor, dim: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``_safe_softmax`` (``aten/src/ATen/native/transformers/attention.cpp``; the
    softmax of SDPA's math path, which the CPU runs where flash attention does not
    apply, e.g. a value head size unlike the query's): the softmax, then a bool tensor
    as large as the scores (which entries are ``-inf``) and its all-masked rows, and
    fully masked rows zeroed into the softmax (``where`` with ``out=``); the bool
    tensors live until it returns. The fake kernel makes only the softmax: at the
    attention's peak, 1 byte per score short."""
    out = aten._softmax.default(x, dim, False) if dtype is None else x.softmax(dim, dtype)
    masked = aten.isneginf.default(x)
    rows = aten.all.dim(masked, dim, True)
    zero = aten.scalar_tensor.default(0.0, dtype=out.dtype, device=out.device)
    aten.where.self_out(rows, zero, out, out=out)
    del masked, rows, zero  # freed as the kernel returns, after its output was made
    return out


#: where each norm op takes its parameters (``is_mixed_type`` reads them all)
_NORM_PARAMS = {
    "aten.native_batch_norm.default": (1, 2, 3, 4),  # weight, bias, running mean / var
    "aten.native_group_norm.default": (1, 2),
    "aten.native_layer_norm.default": (2, 3),
    "aten.native_group_norm_backward.default": (4,),
}


def _mixed_type(name: str, args: Any) -> bool:
    """``is_mixed_type`` (``aten/src/ATen/native/mixed_type.h``): a 16-bit float input
    with float32 parameters, as autocast's 16-bit activations meet a norm's fp32
    weights on the CPU."""
    x = args[1] if name.endswith("_backward.default") else args[0]
    params = [args[i] for i in _NORM_PARAMS[name] if i < len(args) and args[i] is not None]
    return (
        isinstance(x, torch.Tensor)
        and x.dtype in (torch.bfloat16, torch.float16)
        and bool(params)
        and all(isinstance(p, torch.Tensor) and p.dtype == torch.float32 for p in params)
    )


def _norm_stats_in_float(name: str) -> Callable[[Any, Any, Any], Any]:
    """The CPU norm kernels on a mixed-type input (:func:`_mixed_type`) keep their
    saved statistics in float32 (``param_scalar_type``: batch norm's ``save_mean`` /
    ``save_invstd``, group and layer norm's ``mean`` / ``rstd``), where the fake kernels
    make them at the input's 16-bit dtype, half the bytes."""

    def fix(args: Any, kwargs: Any, out: Any) -> Any:
        if kwargs or len(out) != 3 or not _mixed_type(name, args):
            return out
        return (out[0], *(torch.empty_like(s, dtype=torch.float32) for s in out[1:]))

    return fix


def group_norm_backward_input_grad(args: Any, kwargs: Any, out: Any) -> Any:
    """``native_group_norm_backward`` on a mixed-type input returns the input's gradient
    at the input's dtype; the fake kernel returns it at the weight's (float32), twice
    the bytes, and autograd then casts it down: a third copy."""
    name = "aten.native_group_norm_backward.default"
    x, dx = args[1], out[0]
    if kwargs or dx is None or dx.dtype == x.dtype or not _mixed_type(name, args):
        return out
    return (torch.empty_like(dx, dtype=x.dtype), *out[1:])


def group_norm_output_layout(args: Any, kwargs: Any, out: Any) -> Any:
    """``native_group_norm`` on the CPU writes its output in the input's suggested
    memory format (``aten/src/ATen/native/group_norm.cpp``: ``empty_like(X, ...,
    X.suggest_memory_format())``), channels-last for a channels-last map; the meta
    kernel makes it contiguous. Traced so, the next convolution of a channels-last
    network copied that output back to channels-last (and its backward the gradient),
    a copy the real step never makes: a GroupNorm U-Net in channels-last read 24 % high
    in inference. (CUDA's ``group_norm`` copies a channels-last input contiguous
    instead and writes a contiguous output; the trace follows the CPU.)"""
    from torch._prims_common import suggest_memory_format

    x = args[0] if args else None
    if kwargs or not isinstance(x, torch.Tensor) or x.device.type != "cpu" or len(out) != 3:
        return out
    fmt = suggest_memory_format(x)
    if fmt == torch.contiguous_format or out[0].is_contiguous(memory_format=fmt):
        return out
    return (torch.empty_like(out[0], memory_format=fmt), *out[1:])


def _in_turn(*fixes: Callable[[Any, Any, Any], Any]) -> Callable[[Any, Any, Any], Any]:
    """Several :data:`REAL_SIZED_OUTPUTS` fixes of one op, applied one after another."""

    def fix(args: Any, kwargs: Any, out: Any) -> Any:
        for f in fixes:
            out = f(args, kwargs, out)
        return out

    return fix


def col2im_output_storage(args: Any, kwargs: Any, out: Any) -> Any:
    """``col2im`` (``F.fold``; the backward of ``F.unfold``) allocates its output as
    ``empty_like(input)`` and then resizes it to the image's shape
    (``aten/src/ATen/native/Col2Im.cpp``, ``cuda/Col2Im.cu`` alike); a resize to fewer
    elements keeps the storage, so the image holds a block the size of its column
    input, ``kernel_h x kernel_w`` times its own bytes for a stride-1 fold. The fake
    kernel makes it at the image's size."""
    x = args[0] if args else None
    if kwargs or not isinstance(x, torch.Tensor) or not isinstance(out, torch.Tensor):
        return out
    if x.numel() <= out.numel() or out.dtype != x.dtype:
        return out
    return x.new_empty(x.numel()).as_strided(out.shape, out.stride())


#: aten op name -> a fix of the fake kernel's outputs to the real sizes (the tracker
#: applies it to what the fake kernel returned)
REAL_SIZED_OUTPUTS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "aten.mkldnn_rnn_layer.default": mkldnn_rnn_layer_workspace,
    "aten.mkldnn_rnn_layer_backward.default": mkldnn_rnn_layer_backward_bias_grads,
    **{
        n: _norm_stats_in_float(n)
        for n in _NORM_PARAMS
        if not n.endswith("_backward.default") and n != "aten.native_group_norm.default"
    },
    "aten.native_group_norm.default": _in_turn(
        _norm_stats_in_float("aten.native_group_norm.default"), group_norm_output_layout
    ),
    "aten.native_group_norm_backward.default": group_norm_backward_input_grad,
    "aten.col2im.default": col2im_output_storage,
}


#: aten op name -> its steps (dense inputs only; see the module docstring)
FUSED_STEPS: dict[str, Callable[..., Any]] = {
    "aten._transformer_encoder_layer_fwd.default": transformer_encoder_layer_fwd,
    "aten._native_multi_head_attention.default": native_multi_head_attention,
    "aten.mkldnn_rnn_layer.default": mkldnn_rnn_layer,
    "aten.mkldnn_rnn_layer_backward.default": mkldnn_rnn_layer_backward,
    "aten.convolution.default": convolution,
    "aten.convolution_backward.default": convolution_backward,
    **{n: _channels_last_resize(n) for n in CHANNELS_LAST_RESIZES},
    **{n: _resize_backward(n, *how) for n, how in RESIZE_BACKWARDS.items()},
    "aten.logsumexp.default": logsumexp,
    "aten.mean.dim": mean,
    "aten.mean.default": mean,
    "aten.sum.dim_IntList": sum_in_float,
    "torchvision.deform_conv2d.default": deform_conv2d,
    "torchvision._deform_conv2d_backward.default": deform_conv2d_backward,
    "aten.roll.default": roll,
    "aten._trilinear.default": trilinear,
    "aten._euclidean_dist.default": euclidean_dist,
    "aten._safe_softmax.default": safe_softmax,
    "aten.native_layer_norm.default": native_layer_norm,
    "aten.native_layer_norm_backward.default": native_layer_norm_backward,
}


def steps_for(name: str, args: Any, kwargs: Any) -> Callable[..., Any] | None:
    """The step-by-step version of op ``name`` for these arguments, if there is one."""
    steps = FUSED_STEPS.get(name)
    if steps is None or name in _RUNNING:
        return None
    tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
    if any(t.is_nested for t in tensors):
        return None
    return steps
