"""Models whose constructors compute with tensor values, built on fake tensors.

timm's models read their stochastic-depth schedule back from
``torch.linspace(...).tolist()`` and RegNets take ``torch.unique`` of their widths; a
fake tensor has no values, so those builds used to fail (58 of timm's 98 model
families). :class:`~roofline.counting.tracing.BuildValues` computes small tensors for
real during the build and keeps weights fake.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

from roofline.counting import build_fake, profile_spec
from roofline.counting.tracing import (
    BUILD_VALUE_NUMEL,
    FILLED_NUMEL,
    BuildValues,
    fakeify_module,
)
from roofline.spec import load_spec

CTOR = '''
import torch


class Scheduled(torch.nn.Module):
    """A drop-path schedule read back as floats, widths from torch.unique, a layer
    scale vector and a large buffer."""

    def __init__(self, depth=4, width=8):
        super().__init__()
        self.rates = torch.linspace(0, 0.3, depth).tolist()
        widths = torch.unique(torch.tensor([width, width, 2 * width, 2 * width]))
        self.widths = [int(w) for w in widths]
        self.fc1 = torch.nn.Linear(width, self.widths[1])
        self.fc2 = torch.nn.Linear(self.widths[1], width)
        self.gamma = torch.nn.Parameter(torch.ones(width) * 1e-5)
        self.register_buffer("big", torch.arange(1 << 17))

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x))) * self.gamma


class Fused(torch.nn.Module):
    """Fuses a batch-norm-like scale into a linear layer by swapping its storage, as
    reparameterisable models (timm's RepViT, FastViT) do."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        scale, shift = torch.ones(4) * 2, torch.zeros(4)  # running stats, say
        self.fc.weight.data = self.fc.weight * scale[:, None]
        self.fc.bias.data = shift * scale  # computed from no weight: real under values


class FusedScheduled(Fused):
    def __init__(self):
        super().__init__()
        self.rates = torch.linspace(0, 0.3, 4).tolist()


class OnCuda(torch.nn.Module):
    """Values read back, and a small computed buffer moved to a CUDA device."""

    def __init__(self):
        super().__init__()
        self.rates = torch.linspace(0, 0.3, 4).tolist()
        self.register_buffer("index", torch.arange(8).to("cuda"))


def scheduled_quantized():
    """Reads a schedule (needs values), then quantizes (refused on fake tensors)."""
    torch.linspace(0, 0.3, 4).tolist()
    model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    return torch.ao.quantization.quantize_dynamic(model)


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 4)
        self.b = torch.nn.Linear(4, 4)
        self.a.bias = torch.nn.Parameter(torch.zeros(4))
        self.b.bias = self.a.bias

    def forward(self, x):
        return self.b(self.a(x))


class Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, bias=False)
        self.bn = torch.nn.BatchNorm2d(8)
        self.bn.weight.requires_grad_(False)
        self.conv.weight.note = "mine"  # a user's attribute on a tensor

    def forward(self, x):
        return self.bn(self.conv(x))


def copied():
    """A model deep-copied before it is returned, as timm's reparameterize_model
    does; the copy's batch norm is then folded into its convolution with tensor
    arithmetic, an identity kernel filled element by element, as RepVGG-style
    blocks do."""
    import copy

    model = copy.deepcopy(Scaled())
    scale = model.bn.weight / torch.sqrt(model.bn.running_var + model.bn.eps)
    identity = torch.zeros(8, 3, 3, 3)
    for i in range(3):
        identity[i, i, 1, 1] = 1
    fused = torch.nn.Conv2d(3, 8, 3)
    fused.weight.data = model.conv.weight * scale[:, None, None, None] + identity
    fused.bias.data = model.bn.bias - model.bn.running_mean * scale
    return Holder(model, fused)


def mismatched():
    torch.zeros(3, 4) @ torch.zeros(5, 6)  # the fake mode's meta kernel refuses it
    return torch.nn.Linear(8, 8)


def scheduled_then_asserts():
    """Reads a schedule (needs values), then fails for a reason of its own."""
    torch.linspace(0, 0.3, 4).tolist()
    raise AssertionError("Fusion only for eval!")


class Expanded(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("grid", torch.ones(1, 64).expand(32, 64))  # stride 0

    def forward(self, x):
        return x + self.grid


def copied_expanded():
    import copy

    return copy.deepcopy(Expanded())


class Holder(torch.nn.Module):
    def __init__(self, original, fused):
        super().__init__()
        self.original, self.fused = original, fused  # the copy is kept, not run
        self.rates = torch.linspace(0, 0.3, 4).tolist()  # and values read back

    def forward(self, x):
        return self.fused(x)
'''


@pytest.fixture
def ctor_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ctor_values.py").write_text(CTOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def spec_of(tmp_path: Path, model: str, shape: str = "[2, 8]"):
    p = tmp_path / f"{model.replace(':', '_')}.yaml"
    p.write_text(f"model: {model}\ninputs: [{{shape: {shape}}}]\n")
    return load_spec(p)


def test_a_constructor_reads_the_values_it_computes(ctor_module):
    model, args, _ = build_fake(spec_of(ctor_module, "ctor_values:Scheduled"))
    # the values, exactly as a real build computes them
    assert model.rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert model.widths == [8, 16]
    assert model.fc1.weight.shape == (16, 8)
    # and no real tensor is left in the model: weights, the small layer scale and
    # the large buffer are all fake
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and all(isinstance(t, FakeTensor) for t in tensors)
    assert all(isinstance(a, FakeTensor) for a in args)
    assert model.gamma.requires_grad and isinstance(model.gamma, torch.nn.Parameter)


def test_the_fake_count_equals_the_real_one(ctor_module):
    spec = spec_of(ctor_module, "ctor_values:Scheduled")
    fake, real = profile_spec(spec), profile_spec(spec, real=True)
    assert fake.totals().as_dict() == real.totals().as_dict()
    # 2 rows x (8x16 + 16x8) MACs
    assert fake.totals().matrix_flops == 2 * 2 * (8 * 16 + 16 * 8)


def test_a_model_that_builds_on_plain_fake_tensors_is_built_as_before(ctor_module):
    # fusing swaps a fake weight's storage for a computed one; with the scale real
    # (BuildValues) that swap would mix devices, so values are computed only for a
    # constructor that needs them
    model, _, _ = build_fake(spec_of(ctor_module, "ctor_values:Fused", "[2, 4]"))
    assert isinstance(model.fc.weight, FakeTensor) and model.fc.weight.shape == (4, 4)


def test_values_and_a_storage_swap_in_one_constructor(ctor_module):
    # the schedule needs values; the fused bias is computed from real tensors and
    # swapped into a fake parameter's place
    model, _, _ = build_fake(spec_of(ctor_module, "ctor_values:FusedScheduled", "[2, 4]"))
    assert model.rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert all(isinstance(t, FakeTensor) for t in model.parameters())


def test_a_quantized_refusal_in_the_second_build_is_the_error_raised(ctor_module):
    # the first build fails on the schedule; the second reaches the quantizer, whose
    # refusal carries the float model's size: that is the error to raise, so the
    # real build can be sized (8 x 8 weights and 8 biases, float32)
    from roofline.counting.real import real_build_bytes
    from roofline.counting.tracing import is_quantized_failure
    from roofline.errors import SpecError

    spec = spec_of(ctor_module, "ctor_values:scheduled_quantized")
    with pytest.raises(SpecError) as info:
        build_fake(spec)
    assert is_quantized_failure(info.value.__cause__)
    assert real_build_bytes(spec) == (64 + 8) * 4


def test_tied_parameters_stay_tied(ctor_module):
    model, _, _ = build_fake(spec_of(ctor_module, "ctor_values:Tied", "[2, 4]"))
    assert model.a.bias is model.b.bias and isinstance(model.a.bias, FakeTensor)
    assert len(list(model.parameters())) == 3  # two weights, one shared bias


def test_what_stays_fake_while_building():
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with mode, BuildValues():
        small = torch.zeros(3)
        derived = small + torch.arange(3)
        empty = torch.empty(3)  # how weights are made: never real, whatever the size
        large = torch.arange(BUILD_VALUE_NUMEL + 1)  # computed, and large
        zeros = torch.zeros(BUILD_VALUE_NUMEL + 1)  # a constant: real up to FILLED_NUMEL
        huge = torch.zeros(FILLED_NUMEL + 1)
        mixed = derived + empty  # touches a fake tensor
        picked = large[:2]  # a view of a fake tensor
    assert type(small) is torch.Tensor and derived.tolist() == [0.0, 1.0, 2.0]
    assert type(zeros) is torch.Tensor and not zeros.any()
    for t in (empty, large, huge, mixed, picked):
        assert isinstance(t, FakeTensor)


def test_constants_shaped_like_a_fake_tensor_are_real():
    # zeros_like(weight): an identity kernel that a re-parameterised block then fills
    # element by element (as plain eager ops once it is real); new_full takes only the
    # dtype. Values never come from the fake tensor, so none is needed
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with mode, BuildValues():
        weight = torch.empty(16, 4, 3, 3).permute(0, 2, 3, 1)  # channels-last strides
        kernel = torch.zeros_like(weight)
        for i in range(4):
            kernel[i, 1, 1, i] = 1
        ones = torch.ones_like(weight, dtype=torch.float16)
        full = weight.new_full((2, 3), 7.0)
        noise = torch.rand_like(weight)  # random: its values are the point, stays fake
        uninit = torch.empty_like(weight)  # how weights are made: stays fake
        huge = torch.empty(FILLED_NUMEL + 1).new_zeros(FILLED_NUMEL + 1)
        fused = weight * kernel  # touches the fake weight: fake
    assert type(kernel) is torch.Tensor and kernel.stride() == weight.stride()
    assert kernel.sum().item() == 4 and kernel[2, 1, 1, 2].item() == 1
    assert type(ones) is torch.Tensor and ones.dtype == torch.float16
    assert type(full) is torch.Tensor and full.tolist() == [[7.0] * 3] * 2
    for t in (noise, uninit, huge, fused):
        assert isinstance(t, FakeTensor)


def test_constants_made_real_stop_at_the_build_budget(monkeypatch):
    # a model that made every weight with zeros_like would hold them all for real
    # while it is built: past the budget they stay fake
    from roofline.counting import tracing

    monkeypatch.setattr(tracing, "FILLED_BUDGET_BYTES", 2 * 4096 + 100)
    with FakeTensorMode(allow_non_fake_inputs=True), BuildValues():
        weight = torch.empty(32, 32)  # 4,096 B a copy
        made = [torch.zeros_like(weight) for _ in range(2)]
        made.append(torch.ones(BUILD_VALUE_NUMEL + 1, dtype=torch.uint8))  # 65,537 B
        made.append(torch.zeros_like(weight))  # the budget is spent
        made.append(torch.zeros(4))  # small: a value, not charged to the budget
    assert [type(t) is torch.Tensor for t in made] == [True, True, False, False, True]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_a_constant_like_a_fake_cuda_tensor_stays_fake():
    with FakeTensorMode(allow_non_fake_inputs=True), BuildValues():
        weight = torch.empty(4, 4, device="cuda")
        kernel = torch.zeros_like(weight)
    assert isinstance(kernel, FakeTensor) and kernel.device.type == "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_a_cuda_tensor_without_cuda_stays_fake():
    with FakeTensorMode(allow_non_fake_inputs=True), BuildValues():
        t = torch.zeros(3, device="cuda")
    assert isinstance(t, FakeTensor) and t.device.type == "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
@pytest.mark.skipif(
    not torch.backends.cuda.is_built(),
    reason="a CPU-only torch build makes no fake CUDA tensors ('not linked with support "
    "for cuda devices'; docs/conventions.md)",
)
def test_a_real_tensor_moved_to_cuda_without_cuda_stays_fake(ctor_module):
    # a schedule computed for real, then moved to the model's device: a plain fake
    # build makes a fake CUDA tensor of it; so must a build under BuildValues
    with FakeTensorMode(allow_non_fake_inputs=True), BuildValues():
        rates = torch.linspace(0, 0.3, 4)
        moved = rates.to("cuda")
    assert isinstance(moved, FakeTensor) and moved.device.type == "cuda"
    model, _, _ = build_fake(spec_of(ctor_module, "ctor_values:OnCuda"))
    assert model.rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert isinstance(model.index, FakeTensor) and model.index.device.type == "cuda"


def test_fakeify_module_converts_in_place():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    model[0].weight.requires_grad_(False)
    mode = FakeTensorMode()
    fakeify_module(model, mode)
    assert all(isinstance(t, FakeTensor) for t in [*model.parameters(), *model.buffers()])
    assert not model[0].weight.requires_grad and model[0].bias.requires_grad
    assert model[1].running_mean.shape == (2,)


@pytest.mark.parametrize(
    "name", ["convnext_atto", "regnetx_002", "deit_tiny_patch16_224, img_size: 64"]
)
def test_timm_models_build_on_fake_tensors(tmp_path, name):
    # each of these constructors reads tensor values (a linspace drop-path schedule,
    # torch.unique of stage widths); the fake count must equal a real build's
    pytest.importorskip("timm")
    p = tmp_path / "m.yaml"
    p.write_text(
        f"model: timm:create_model\nkwargs: {{model_name: {name}}}\n"
        "inputs: [{shape: [1, 3, 64, 64]}]\n"
    )
    spec = load_spec(p)
    fake, real = profile_spec(spec), profile_spec(spec, real=True)
    assert fake.totals().as_dict() == real.totals().as_dict()
    assert not fake.uncounted_ops


def test_a_model_deep_copied_while_built_stays_in_one_fake_mode(ctor_module):
    # torch's deepcopy of a fake tensor inside the fake mode tries a storage copy
    # (meta onto cpu), and outside it copies the fake mode too, so the copy's
    # tensors could not meet the inputs; roofline's copy keeps one mode
    model, args, _ = build_fake(spec_of(ctor_module, "ctor_values:copied", "[1, 3, 8, 8]"))
    scaled = model.original
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and all(isinstance(t, FakeTensor) for t in tensors)
    assert {t.fake_mode for t in [*tensors, *args]} == {args[0].fake_mode}
    # parameters stay parameters, with their requires_grad and attributes
    assert isinstance(scaled.conv.weight, torch.nn.Parameter)
    assert scaled.conv.weight.requires_grad and not scaled.bn.weight.requires_grad
    assert scaled.conv.weight.note == "mine"
    assert not isinstance(scaled.bn.running_mean, torch.nn.Parameter)
    assert (
        model.rates
        if hasattr(model, "rates")
        else scaled.rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    )
    assert model(*args).shape == (1, 8, 6, 6)


def test_a_deep_copied_model_counts_as_a_real_build(ctor_module):
    spec = spec_of(ctor_module, "ctor_values:copied", "[1, 3, 8, 8]")
    fake, real = profile_spec(spec), profile_spec(spec, real=True)
    assert fake.totals().as_dict() == real.totals().as_dict()
    # conv 8x3x3x3 (no bias) + bn 8+8 + fused conv 8x3x3x3 + 8
    assert fake.totals().params == 216 + 16 + 216 + 8


def test_deep_copies_of_fake_tensors_share_what_the_original_shared():
    import copy

    from roofline.counting.tracing import FakeDeepcopy

    with FakeTensorMode() as mode, FakeDeepcopy():
        a = torch.nn.Linear(4, 4)
        b = torch.nn.Linear(4, 4)
        b.weight = a.weight  # tied
        a.weight.grad = torch.ones(4, 4)
        pair = copy.deepcopy(torch.nn.ModuleList([a, b]))
    assert pair[0].weight is pair[1].weight and pair[0].weight is not a.weight
    assert isinstance(pair[0].weight, FakeTensor) and pair[0].weight.fake_mode is mode
    assert pair[0].weight.grad is not None and pair[0].weight.grad.shape == (4, 4)


@pytest.mark.parametrize("name", ["repvit_m0_9", "levit_128", "mobileone_s0"])
def test_re_parameterised_timm_models_build_on_fake_tensors(tmp_path, monkeypatch, name):
    # timm's benchmark table was made with --reparam: reparameterize_model deep-copies
    # the model and fuses its batch norms and branches. The fused counts, on fake
    # tensors, equal a real build's, and the parameters are the table's (5.07 M,
    # 9.19 M). MobileOne (not in the table) fills identity kernels made with
    # zeros_like(weight) one element at a time: made real, they fill as eager ops; its
    # fused S0 has the 2.08 M "deploy" parameters of mmpretrain's MobileOne table
    # (configs/mobileone/README.md; 5.29 M as trained)
    pytest.importorskip("timm")
    (tmp_path / "fused_timm.py").write_text(
        "import timm\n"
        "from timm.utils.model import reparameterize_model\n\n\n"
        "def fused(name):\n"
        "    return reparameterize_model(timm.create_model(name, pretrained=False))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    p = tmp_path / "m.yaml"
    p.write_text(
        f"model: fused_timm:fused\nkwargs: {{name: {name}}}\ninputs: [{{shape: [1, 3, 224, 224]}}]\n"
    )
    spec = load_spec(p)
    fake, real = profile_spec(spec), profile_spec(spec, real=True)
    assert fake.totals().as_dict() == real.totals().as_dict()
    table = {"repvit_m0_9": 5.07, "levit_128": 9.19, "mobileone_s0": 2.08}[name]
    assert round(fake.totals().params / 1e6, 2) == table


def test_a_failed_build_logs_nothing_beside_its_error(ctor_module, caplog):
    # FakeTensorMode logs a traceback when an op fails on it; the build's error is
    # the one line the user sees, so that log stays quiet
    from roofline.errors import SpecError

    with caplog.at_level(logging.DEBUG), pytest.raises(SpecError, match="same reduction dim"):
        build_fake(spec_of(ctor_module, "ctor_values:mismatched"))
    assert not [r for r in caplog.records if r.name.startswith("torch")]


def test_a_second_build_failing_its_own_way_is_named_too(ctor_module):
    # the first build stops at the schedule; the values build gets past it and hits
    # the constructor's own assertion: the error says both, and keeps the first
    # cause (data-dependent), so the commands still suggest --real
    from roofline.counting.tracing import is_data_dependent
    from roofline.errors import SpecError

    with pytest.raises(SpecError) as info:
        build_fake(spec_of(ctor_module, "ctor_values:scheduled_then_asserts"))
    text = str(info.value)
    assert "reads tensor values" in text
    assert text.endswith("the build then failed: AssertionError: Fusion only for eval!")
    assert "\n" not in text and is_data_dependent(info.value.__cause__)


def test_a_deep_copy_keeps_a_broadcast_tensor_broadcast(ctor_module):
    # torch's copy keeps a tensor's strides (it copies the storage); a clone packed
    # the expanded 1 x 64 buffer into 32 x 64, so the add read 32x its bytes
    spec = spec_of(ctor_module, "ctor_values:copied_expanded", "[32, 64]")
    fake, real = profile_spec(spec), profile_spec(spec, real=True)
    assert fake.totals().as_dict() == real.totals().as_dict()
    assert fake.totals().bytes_read == (32 * 64 + 64) * 4
    model, _, _ = build_fake(spec)
    assert model.grid.stride() == (0, 1)


def test_a_deep_copy_refuses_a_non_leaf_tensor_as_torch_does():
    # torch refuses to deep-copy a tensor computed from one that needs a gradient
    # (an old weight_norm module holds one), so the real build of such a model fails;
    # the fake copy made it a leaf and the fake build went on to count a model that
    # cannot be built
    import copy

    from roofline.counting.tracing import FakeDeepcopy

    real = torch.nn.utils.weight_norm(torch.nn.Linear(4, 4))
    with pytest.raises(RuntimeError, match="graph leaves") as torch_refusal:
        copy.deepcopy(real)
    with FakeTensorMode(), FakeDeepcopy():
        fake = torch.nn.utils.weight_norm(torch.nn.Linear(4, 4))
        with pytest.raises(RuntimeError, match="graph leaves") as ours:
            copy.deepcopy(fake)
    assert str(ours.value) == str(torch_refusal.value)


def test_a_fake_tensor_inside_a_copied_attribute_stays_in_the_mode():
    # a tensor's attribute holding fake tensors in a container was deep-copied by
    # torch's own path, into a second fake mode that refuses to meet the first
    import copy

    from roofline.counting.tracing import FakeDeepcopy

    with FakeTensorMode() as mode, FakeDeepcopy():
        lin = torch.nn.Linear(4, 4)
        lin.weight.cache = {"rows": [torch.zeros(2)]}
        new = copy.deepcopy(lin)
        (row,) = new.weight.cache["rows"]
        assert isinstance(row, FakeTensor) and row.fake_mode is mode
        assert (row + torch.zeros(2)).shape == (2,)
