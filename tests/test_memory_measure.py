"""The real-step memory measurement (roofline.memory.measure): the profiler replay,
the CUDA counters' order, and what a step holds, derived by hand."""

from __future__ import annotations

import re
from collections import OrderedDict

import pytest
import torch
from torch import nn

from roofline.memory import OPTIMIZERS, STATE_TENSORS, block_size, estimate_from_model
from roofline.memory.measure import (
    CudaCounters,
    make_optimizer,
    measure_memory,
    measure_step_memory,
    replay_profile,
)


def _op(name: str, ts: float, dur: float) -> dict:
    return {"ph": "X", "name": name, "ts": ts, "dur": dur}


def _mem(ts: float, addr: int, nbytes: int) -> dict:
    return {"name": "[memory]", "ts": ts, "args": {"Addr": addr, "Bytes": nbytes}}


def test_replay_leaves_a_kernels_own_scratch_out():
    # aten::conv runs 0-100 us. Inside it: 1000 B (one 1,024-B block) made and freed
    # at 10/50 us (scratch); 600 B (1,024) made at 20 by an aten::empty the conv calls
    # and freed only at 200 (the conv's output: counted); 3,000 B (3,072) made by
    # another aten::empty at 30 and freed at 60, inside the conv (scratch: the empty
    # stands for its caller)
    events = [
        _op("aten::conv", 0, 100),
        _op("aten::empty", 20, 1),
        _op("aten::empty", 30, 1),
        _mem(10, 1, 1000),
        _mem(20, 2, 600),
        _mem(30, 3, 3000),
        _mem(50, 1, -1000),
        _mem(60, 3, -3000),
        _mem(200, 2, -600),
    ]
    peak, with_scratch = replay_profile(events)
    assert peak == 1024
    assert with_scratch == 1024 + 1024 + 3072


def test_replay_counts_what_an_op_returns_though_its_caller_frees_it():
    # aten::lstm (0-100) calls a layer (10-20) whose output (2,048 B) the lstm frees at
    # 90: it outlived the op that made it, so it counts
    events = [
        _op("aten::lstm", 0, 100),
        _op("aten::mkldnn_rnn_layer", 10, 10),
        _mem(15, 7, 2048),
        _mem(90, 7, -2048),
    ]
    assert replay_profile(events) == (2048, 2048)


def test_replay_counts_what_a_composite_op_allocates_itself():
    # aten::dropout is a composite (CompositeImplicitAutograd): on the CPU its body
    # makes the noise with empty_like, fills it in place, multiplies and drops it. The
    # noise (2,048 B) is freed inside the dropout but is a tensor, which the trace of
    # the same body counts, not a kernel's scratch; the same allocation inside a
    # kernel (aten::mkldnn_convolution) stays scratch
    def events(owner: str) -> list[dict]:
        return [
            _op(owner, 0, 100),
            _op("aten::empty_like", 10, 1),
            _mem(10, 1, 2048),
            _op("aten::mul", 20, 10),
            _mem(25, 2, 2048),
            _mem(90, 1, -2048),
            _mem(200, 2, -2048),
        ]

    assert replay_profile(events("aten::dropout")) == (4096, 4096)
    assert replay_profile(events("aten::mkldnn_convolution")) == (2048, 4096)


class _DropoutAlways(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(x, 0.3, training=True)


def test_dropout_in_training_mode_under_no_grad_holds_its_noise():
    # F.dropout(training=True) in an inference step (Monte Carlo dropout): the CPU's
    # composite dropout holds a noise tensor as large as the input (2 x 16 x 32 x 32 x
    # 4 = 131,072 B) while it makes the output; measured as scratch before (0.69 of
    # the estimate), now as the trace counts it: input + noise + output
    x = torch.randn(2, 16, 32, 32)
    e = estimate_from_model(_DropoutAlways(), x, cuda_context_bytes=0, cublas_workspace_bytes=0)
    assert e.allocated == 3 * 131_072
    assert measure_memory(_DropoutAlways(), x).allocated == e.allocated


def test_cuda_peak_is_read_after_the_warmup_and_a_synchronised_step():
    calls: list[str] = []
    counters = CudaCounters(
        synchronize=lambda: calls.append("sync"),
        reset_peak=lambda: calls.append("reset"),
        max_allocated=lambda: calls.append("max_allocated") or 1000,
        max_reserved=lambda: calls.append("max_reserved") or 2048,
    )

    def held() -> int:
        calls.append("held")
        return 100

    out = measure_step_memory(
        lambda: calls.append("step"),
        torch.device("cuda"),
        held,
        warmup=2,
        after_step=lambda: calls.append("sample"),
        counters=counters,
    )
    assert out == (1000, 100, 2048, None)
    assert calls == [
        *["step", "sync", "sample"] * 2,  # warm-up: the optimizer state is made
        "held",
        "reset",  # the peak covers the measured step only
        "step",
        "sync",  # read after the GPU has finished
        "sample",
        "max_allocated",
        "max_reserved",
    ]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_training_step_holds_the_optimizer_state_the_estimate_counts(name):
    # Linear(64, 64): weight 16,384 B, bias 256 B (one 512-B block); input 8 x 64 fp32
    # = 2,048 B. Each state tensor is another parameter set; Adam's step counters are
    # 0-dim (kept on the CPU when training on a GPU) and not held memory
    torch.manual_seed(0)
    model = nn.Linear(64, 64)
    x = torch.randn(8, 64)
    params = 16_384 + 512
    m = measure_memory(model, x, mode="training", optimizer=name)
    assert m.held == params + 2_048 + STATE_TENSORS[name] * params
    opt = make_optimizer(name, list(model.parameters()))
    assert (opt is None) == (name == "none")
    if opt is not None:
        assert opt.defaults["foreach"] is True  # the implementation the estimate models
    e = estimate_from_model(model, x, mode="training", optimizer=name, cublas_workspace_bytes=0)
    assert e.allocated == pytest.approx(m.allocated, rel=0.02)


def test_frozen_modules_train_nothing_and_stay_trainable_after():
    torch.manual_seed(0)
    model = nn.Sequential(
        OrderedDict(first=nn.Linear(64, 64), act=nn.ReLU(), second=nn.Linear(64, 64))
    )
    x = torch.randn(8, 64)
    layer = 16_384 + 512
    frozen = measure_memory(model, x, mode="training", optimizer="adamw", freeze="first")
    assert frozen.held == 2 * layer + 2_048 + 2 * layer  # state for the second layer only
    assert all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())
    full = measure_memory(model, x, mode="training", optimizer="adamw")
    assert full.held == 2 * layer + 2_048 + 4 * layer
    assert frozen.allocated < full.allocated


def test_dtype_casts_the_model_and_its_float_inputs():
    model = nn.Linear(64, 64)
    m = measure_memory(model, torch.randn(8, 64), dtype="bf16")
    # bf16: weight 8,192 B, bias 128 B (512), input 1,024 B
    assert m.held == 8_192 + 512 + 1_024
    assert m.mode == "inference" and m.device == "cpu" and m.reserved is None
    assert m.allocated >= m.held + block_size(8 * 64 * 2)  # the output was allocated


def test_checkpointing_recomputes_instead_of_keeping():
    torch.manual_seed(0)
    blocks = nn.Sequential(*[nn.Sequential(nn.Linear(256, 256), nn.GELU()) for _ in range(6)])
    model = nn.Sequential(OrderedDict(blocks=blocks))
    x = torch.randn(1024, 256)  # 1 MiB activations: they, not the weights, peak
    plain = measure_memory(model, x, mode="training", optimizer="sgd")
    ckpt = measure_memory(model, x, mode="training", optimizer="sgd", checkpoint="blocks")
    assert ckpt.allocated < plain.allocated
    e = estimate_from_model(
        model, x, mode="training", optimizer="sgd", checkpoint="blocks", cublas_workspace_bytes=0
    )
    assert e.allocated == pytest.approx(ckpt.allocated, rel=0.02)
    # the forwards are restored: no checkpoint wrapper left behind
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_replay_leaves_scratch_of_any_dispatcher_op_out():
    # a quantized kernel (quantized::conv2d_relu, 0-100 us) allocates its im2col buffer
    # (49,200 B: 49,664 in blocks) and frees it at 50, inside itself: its own scratch,
    # as for an aten op. Its output (600 B) outlives it and counts. An autograd node
    # (AddmmBackward0, 200-300 us) is not an op: 2,048 B it holds briefly count.
    events = [
        _op("quantized::conv2d_relu", 0, 100),
        _mem(10, 1, 49_200),
        _mem(20, 2, 600),
        _mem(50, 1, -49_200),
        _op("AddmmBackward0", 200, 100),
        _mem(210, 3, 2048),
        _mem(250, 3, -2048),
        _mem(400, 2, -600),
    ]
    peak, with_scratch = replay_profile(events)
    assert peak == 1024 + 2048
    assert with_scratch == 49_664 + 1024


@pytest.mark.skipif(
    not {"x86", "fbgemm"} & set(torch.backends.quantized.supported_engines),
    reason="no x86/fbgemm quantized engine",
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_quantized_models_packed_weights_are_held():
    # tests.fixtures.models.TinyQuant on 2x3x8x8: its packed int8 weights (216 + 2,880)
    # and fp32 biases (72) live in the quantized engine, outside any tensor storage;
    # the QuantStub's scale and zero point are two 512-B blocks, the input 1,536 B
    from tests.fixtures.models import tiny_quantized

    model = tiny_quantized()
    x = torch.randn(2, 3, 8, 8)
    m = measure_memory(model, x)
    assert m.held == 216 + 2_880 + 72 + 2 * 512 + 1_536
    # the estimate counts the same weights (the two buffers, 12 B, in two blocks) and
    # the same activations: the quantized conv's im2col buffer is its own scratch
    e = estimate_from_model(model, x)
    assert e.block_rounding == 2 * 512 - 12
    assert m.allocated == e.allocated
    assert m.with_scratch > m.allocated


def test_the_models_train_flags_and_gradients_are_left_as_they_were():
    # an eval-mode model measured in training comes back in eval mode (and the other
    # way round); gradients it held are not part of the step: not held, cleared
    model = nn.Sequential(nn.Linear(64, 64), nn.Dropout(0.1))
    model.eval()
    measure_memory(model, torch.randn(8, 64), mode="training")
    assert not any(m.training for m in model.modules())
    model.train()
    model[1].eval()
    model(torch.randn(8, 64)).sum().backward()  # stale gradients
    m = measure_memory(model, torch.randn(8, 64))
    assert [x.training for x in model.modules()] == [True, True, False]
    assert m.held == 16_384 + 512 + 2_048  # weight, bias, input: no gradients
    assert all(p.grad is None for p in model.parameters())


class _SeesItsMode(nn.Module):
    """Records the train flag its forward ran under (a checkpointed block's forward
    runs again in the backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.seen = nn.Linear(8, 8), []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(self.training)
        return torch.utils.checkpoint.checkpoint(self.fc, x, use_reentrant=False)


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_memory_step_runs_in_its_mode_and_gives_the_flags_back(mode):
    from roofline.memory.measure import memory_step

    model = _SeesItsMode()
    model.train(mode == "inference")  # the other mode than the step's
    before = [m.training for m in model.modules()]
    step = memory_step(model, (torch.randn(2, 8),), mode=mode)
    assert [m.training for m in model.modules()] == before  # building it changes nothing
    step()
    assert model.seen == [mode == "training"]
    assert [m.training for m in model.modules()] == before


class _FailsInBackward(torch.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        _FailsInBackward.calls += 1
        if _FailsInBackward.calls > 1:
            raise RuntimeError("backward failed")
        return g


class _Half(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(16, 16)
        self.second = nn.Linear(16, 16)
        self.spare = nn.Linear(16, 16)  # unused: frozen for the test

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(_FailsInBackward.apply(self.first(x)))


def test_a_step_that_fails_half_way_leaves_no_gradients_or_wrappers():
    # the second step's backward fails after the second layer's gradients were made:
    # one line, and the model as it was (no grads, the frozen module trainable again,
    # its own forwards)
    from roofline.errors import MeasurementError

    _FailsInBackward.calls = 0
    model = _Half()
    with pytest.raises(MeasurementError, match="RuntimeError: backward failed") as exc:
        measure_memory(
            model, torch.randn(4, 16), mode="training", freeze="spare", checkpoint="second"
        )
    assert "\n" not in str(exc.value)
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert model.training  # as it was (nn.Module's default)


def test_dtype_casts_the_buffers_of_a_model_without_parameters():
    # a 1,024 x 256 scale buffer: bf16 0.5 MiB, as the estimate casts it (fp32 would
    # also promote the product to fp32)
    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("scale", torch.ones(1024, 256))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.scale

    x = torch.randn(1024, 256)
    m = measure_memory(Scale(), x, dtype="bf16")
    assert m.held == 2 * 2**19  # the buffer and the input, bf16
    assert m.allocated == 3 * 2**19  # and the bf16 product
    e = estimate_from_model(Scale(), x, dtype="bf16", cublas_workspace_bytes=0)
    assert e.allocated == m.allocated


@pytest.mark.parametrize(
    ("model", "freeze", "message"),
    [
        (nn.ReLU(), None, "the model has no parameters"),
        (nn.Linear(4, 4).requires_grad_(False), None, "every parameter frozen (none requires"),
        (nn.Sequential(nn.Linear(4, 4)), 1, "every parameter frozen (by freeze)"),
    ],
)
def test_training_with_nothing_to_train_is_one_line_before_any_step(model, freeze, message):
    from roofline.errors import MeasurementError

    x = torch.randn(2, 4, requires_grad=True)
    with pytest.raises(MeasurementError, match=re.escape(message)) as exc:
        measure_memory(model, x, mode="training", freeze=freeze)
    assert "\n" not in str(exc.value)


def test_inputs_that_require_grad_are_fed_detached():
    # the estimate traces its inputs detached; the measured step must not make (and
    # leave on the caller's tensor) a gradient for the input
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    x = torch.randn(256, 64)
    plain = measure_memory(model, x, mode="training", optimizer="sgd")
    x.requires_grad_(True)
    m = measure_memory(model, x, mode="training", optimizer="sgd")
    assert x.grad is None
    assert (m.held, m.allocated) == (plain.held, plain.allocated)


def test_yolo_detect_grids_are_made_by_the_first_step_and_cached_after():
    # Detect caches each level's grid (1 x 1 x ny x nx x 2 floats) in a plain
    # attribute. yolov5s at 128 x 128: strides 8/16/32, grids of 16^2, 8^2 and 4^2
    # cells = 2,048 + 512 + 128 B (2,048 + 512 + 512 in blocks). A single inference
    # step (no warm-up) makes them, as the estimate traces it: equal to the byte. After
    # a warm-up step they are already resident, made neither in the measured step nor
    # counted in what it starts with (not a buffer): the measurement reads exactly the
    # grids' blocks lower (the benchmark's 66 KiB at 640 x 640, docs/vram.md)
    from pathlib import Path

    from roofline.spec import load_spec

    root = Path(__file__).resolve().parent.parent
    torch.manual_seed(0)
    model = load_spec(root / "examples" / "yolov5s.yaml").build()
    x = torch.randn(1, 3, 128, 128)
    e = estimate_from_model(model, x, cuda_context_bytes=0, cublas_workspace_bytes=0)
    assert measure_memory(model, x, warmup=0).allocated == e.allocated
    assert measure_memory(model, x, warmup=1).allocated == e.allocated - (2_048 + 512 + 512)
