"""The counter on real models: external references, attribution, properties."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import roofline
from tests.fixtures.models import (
    FocusThenGate,
    Gated,
    MaskSelect,
    Nested,
    Rejects,
    Rewraps,
    SharedBlock,
    Tied,
    TinyCNN,
    ValueDependent,
)

torchvision = pytest.importorskip("torchvision")
ROOT = Path(__file__).resolve().parents[2]


# torchvision documents each model's "GFLOPS" as `_ops` in its weights meta: MACs of
# conv/linear/attention at 224x224 (e.g. ResNet50_Weights.IMAGENET1K_V1.meta["_ops"]).
TORCHVISION_GMACS = {
    "resnet50": 4.089,
    "mobilenet_v3_small": 0.057,
    "efficientnet_b0": 0.386,
    "vit_b_16": 17.564,
    "convnext_tiny": 4.456,
    "swin_t": 4.491,
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_GMACS))
def test_torchvision_documented_gmacs(name):
    model = getattr(torchvision.models, name)()
    prof = roofline.profile(model, torch.randn(1, 3, 224, 224))
    gmacs = prof.totals().macs / 1e9
    # within the rounding of the 3-decimal documented figure (and 0.5%)
    assert round(gmacs, 3) == pytest.approx(TORCHVISION_GMACS[name], abs=0.0005 + 1e-9)
    assert gmacs == pytest.approx(
        TORCHVISION_GMACS[name], rel=0.005 if name != "mobilenet_v3_small" else 0.01
    )
    assert prof.totals().vector_flops > 0  # vector work is counted on top


def test_torchvision_documented_meta_matches_our_table():
    # the figures above are torchvision's own; check them against its metadata
    weights = torchvision.models.get_model_weights("resnet50").IMAGENET1K_V1
    assert weights.meta["_ops"] == pytest.approx(TORCHVISION_GMACS["resnet50"])
    assert weights.meta["num_params"] == 25557032


# A wider, fast subset of the zoo (benchmarks/zoo_counts.py sweeps all of it, see
# docs/zoo.md): distinct architectures and families, each at the input its documented
# figure was computed at. name: (weights entry, input shapes, builder kwargs that
# give the architecture those weights imply, documented GMACs, documented params).
TORCHVISION_ZOO = {
    "alexnet": ("IMAGENET1K_V1", [(1, 3, 224, 224)], {}, 0.714, 61_100_840),
    "vgg11": ("IMAGENET1K_V1", [(1, 3, 224, 224)], {}, 7.609, 132_863_336),
    "squeezenet1_1": ("IMAGENET1K_V1", [(1, 3, 224, 224)], {}, 0.349, 1_235_496),
    "resnext50_32x4d": ("IMAGENET1K_V1", [(1, 3, 224, 224)], {}, 4.23, 25_028_904),
    "wide_resnet50_2": ("IMAGENET1K_V1", [(1, 3, 224, 224)], {}, 11.398, 68_883_240),
    "shufflenet_v2_x1_0": ("IMAGENET1K_V1", [(1, 3, 224, 224)], {}, 0.145, 2_278_604),
    "mnasnet1_0": ("IMAGENET1K_V1", [(1, 3, 224, 224)], {}, 0.314, 4_383_312),
    "regnet_x_400mf": ("IMAGENET1K_V1", [(1, 3, 224, 224)], {}, 0.414, 5_495_976),
    "googlenet": (
        "IMAGENET1K_V1",
        [(1, 3, 224, 224)],
        {"aux_logits": False, "init_weights": False},  # the weights drop the aux heads
        1.498,
        6_624_904,
    ),
    "inception_v3": (  # these weights keep the aux head: its params count, it never runs
        "IMAGENET1K_V1",
        [(1, 3, 299, 299)],
        {"init_weights": False},
        5.713,
        27_161_264,
    ),
    "efficientnet_v2_s": ("IMAGENET1K_V1", [(1, 3, 384, 384)], {}, 8.366, 21_458_488),
    "vit_b_32": ("IMAGENET1K_V1", [(1, 3, 224, 224)], {}, 4.409, 88_224_232),
    "swin_v2_t": ("IMAGENET1K_V1", [(1, 3, 256, 256)], {}, 5.94, 28_351_570),
    # video: 16 frames at the 112x112 crop; segmentation: 520x520, 21 VOC classes,
    # with the auxiliary head the weights carry; optical flow: two 512x512 frames
    "r2plus1d_18": (
        "KINETICS400_V1",
        [(1, 3, 16, 112, 112)],
        {"num_classes": 400},
        40.519,
        31_505_325,
    ),
    "fcn_resnet50": (
        "COCO_WITH_VOC_LABELS_V1",
        [(1, 3, 520, 520)],
        {"num_classes": 21, "aux_loss": True, "weights_backbone": None},
        152.717,
        35_322_218,
    ),
    "raft_small": ("C_T_V1", [(1, 3, 512, 512)] * 2, {}, 47.655, 990_162),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_ZOO))
def test_torchvision_zoo_documented_gmacs_and_params(name):
    from roofline.counting import profile_spec
    from roofline.spec import InputSpec, ModelSpec

    _, shapes, kwargs, doc_gmacs, doc_params = TORCHVISION_ZOO[name]
    spec = ModelSpec(
        name=name,
        factory=lambda: torchvision.models.get_model(name, weights=None, **kwargs),
        inputs=tuple(InputSpec(s) for s in shapes),
    )
    if name.startswith("regnet"):
        # RegNet's constructor computes its widths with tensors (``.tolist()``), which
        # fake tensors refuse: build it for real, count on fake copies of its weights
        prof = roofline.profile(spec.build(), spec.example_inputs()[0])
    else:
        prof = profile_spec(spec)  # built on fake tensors, as `roofline profile` does
    # the documented figure has 3 decimals: agree within its rounding, half a unit of
    # the last place (0.0005 GMACs; that is within 0.15% for every model here)
    assert prof.totals().macs / 1e9 == pytest.approx(doc_gmacs, abs=0.0005 + 1e-9)
    assert prof.params == doc_params
    # every op has a formula, RAFT's correlation lookup (grid_sampler_2d) included
    assert prof.uncounted_ops == {}


def test_torchvision_zoo_table_is_torchvisions_metadata():
    for name, (weights, _, _, doc_gmacs, doc_params) in TORCHVISION_ZOO.items():
        meta = torchvision.models.get_model_weights(name)[weights].meta
        assert meta["_ops"] == pytest.approx(doc_gmacs), name
        assert meta["num_params"] == doc_params, name


def test_resnet50_params_exact_and_training_is_about_three_times():
    model = torchvision.models.resnet50()
    x = torch.randn(1, 3, 224, 224)
    inf = roofline.profile(model, x)
    assert inf.params == 25_557_032
    train = roofline.profile(model, x, mode="training")
    ratio = train.totals().flops / inf.totals().flops
    assert ratio == pytest.approx(3.0, rel=0.05)
    assert {o.phase for o in train.ops} == {"forward", "backward"}
    assert any(o.op == "aten.convolution_backward.default" for o in train.ops)


def test_fake_counting_leaves_real_weights_untouched():
    model = TinyCNN()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    roofline.profile(model, torch.randn(2, 3, 8, 8), mode="training")
    after = model.state_dict()
    for k in before:
        assert torch.equal(before[k], after[k]), k  # BN running stats not updated either
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_fake_counting_puts_back_a_module_shared_under_several_names(mode):
    # torch.func.functional_call swaps names back in order: a module reachable under
    # several names got its real parameters back from the first, fakes from the others
    model = SharedBlock()
    roofline.profile(model, torch.randn(2, 8), mode=mode)
    params = dict(model.named_parameters(remove_duplicate=False))
    assert all(type(p) is torch.nn.Parameter for p in params.values()), params
    model(torch.randn(2, 8)).sum().backward()


def test_fake_and_real_counts_agree():
    model = torchvision.models.resnet18()
    x = torch.randn(1, 3, 64, 64)
    fake = roofline.profile(model, x, mode="training")
    real = roofline.profile(model, x, mode="training", real=True)
    assert fake.totals() == real.totals()
    assert [o.op for o in fake.ops] == [o.op for o in real.ops]


def test_forward_and_backward_attributed_to_modules():
    prof = roofline.profile(Nested(), torch.randn(3, 16), mode="training")
    by_module: dict[str, set[str]] = {}
    for o in prof.ops:
        by_module.setdefault(o.module, set()).add(o.phase)
    assert by_module["block1.a"] == {"forward", "backward"}
    assert by_module["head"] == {"forward", "backward"}
    # the functional ReLU and the residual add run in block1's own forward
    fwd_block1 = [o.op for o in prof.ops if o.module == "block1" and o.phase == "forward"]
    assert fwd_block1 == ["aten.relu.default", "aten.add.Tensor"]
    # functional ReLU between two children is the parent's op too
    relu = [o for o in prof.ops if o.op.startswith("aten.relu")]
    assert {o.module for o in relu} == {"block1", "block2"}


@pytest.mark.parametrize("depth", [1, 2, 3, None])
def test_layers_partition_the_totals(depth):
    model = torchvision.models.resnet18()
    prof = roofline.profile(model, torch.randn(2, 3, 32, 32), mode="training")
    rows = prof.layers(depth)
    total = prof.totals()
    assert sum(r.totals.flops for r in rows) == total.flops
    assert sum(r.totals.bytes_read for r in rows) == total.bytes_read
    assert sum(r.totals.bytes_written for r in rows) == total.bytes_written
    assert sum(r.totals.params for r in rows) == total.params
    assert sum(len(r.ops) for r in rows) == len(prof.ops)


def test_layer_table_names_types_and_shapes():
    prof = roofline.profile(TinyCNN(), torch.randn(2, 3, 8, 8))
    rows = {r.name: r for r in prof.layers(1)}
    assert rows["conv"].type == "Conv2d"
    assert rows["conv"].output_shape == (2, 8, 8, 8)
    assert rows["conv"].params == 8 * 3 * 9 + 8
    assert rows["fc"].output_shape == (2, 10)
    # relu and flatten are called functionally in the root's forward
    assert rows["(model)"].self_only


def test_layer_input_shapes_are_what_each_module_received():
    # resnet50's fc gets the flattened pool output, 1x2048 (its first op, addmm, takes
    # the 1000-element bias first: that is not the layer's input)
    prof = roofline.profile(torchvision.models.resnet50(), torch.randn(1, 3, 224, 224))
    rows = {r.name: r for r in prof.layers(1)}
    assert rows["fc"].input_shapes == ((1, 2048),)
    assert rows["fc"].output_shape == (1, 1000)
    assert rows["conv1"].input_shapes == ((1, 3, 224, 224),)
    assert rows["layer4"].input_shapes == ((1, 1024, 14, 14),)
    assert prof.as_dict(1)["layers"][-1]["input_shapes"] == [[1, 2048]]


def test_layer_input_shapes_of_slicing_and_keyword_called_modules():
    prof = roofline.profile(FocusThenGate(), torch.randn(2, 3, 8, 8))
    rows = {r.name: r for r in prof.layers(1)}
    # Focus slices its input before its first op: the row shows the unsliced 2x3x8x8
    assert rows["focus"].input_shapes == ((2, 3, 8, 8),)
    assert rows["focus"].output_shape == (2, 8, 4, 4)
    # called as gate(x=pooled, gate=pooled[:, :1]): both keyword tensors, in call order
    assert rows["gate"].input_shapes == ((2, 8), (2, 1))
    assert rows["gate"].output_shape == (2, 8)
    # the root's own ops (mean, slice) sit in a self row: it received the model inputs
    assert rows["(model)"].self_only
    assert rows["(model)"].input_shapes == ((2, 3, 8, 8),)
    deep = {r.name: r for r in prof.layers(2)}
    assert deep["focus.conv"].input_shapes == ((2, 12, 4, 4),)
    assert deep["gate.fc"].input_shapes == ((2, 8),)
    # keyword model inputs reach the root's row too
    kw = roofline.profile(Gated(), (), {"x": torch.randn(3, 8), "gate": torch.randn(3, 1)})
    kw_rows = {r.name: r for r in kw.layers(1)}
    assert kw_rows["(model)"].input_shapes == ((3, 8), (3, 1))
    assert kw_rows["fc"].input_shapes == ((3, 8),)


def test_shared_parameters_counted_once():
    prof = roofline.profile(Tied(), torch.randint(0, 50, (2, 3)))
    assert prof.params == 50 * 8  # one table, not two


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.integers(min_value=1, max_value=6), mode=st.sampled_from(["inference", "training"]))
def test_flops_and_bytes_scale_linearly_with_batch(batch, mode):
    model = TinyCNN()

    def totals(b: int):
        return roofline.profile(model, torch.randn(b, 3, 8, 8), mode=mode).totals()

    one, two, many = totals(1), totals(2), totals(batch)
    # work done on activations is affine in batch: f(B) = f(1) + (B - 1) * per-sample
    # cost, where the per-sample cost (f(2) - f(1)) is positive. (In training a few
    # per-parameter ops, e.g. the bias-gradient reductions, add a batch-free constant.)
    for what, f in (
        ("matrix FLOPs", lambda t: t.matrix_flops),
        ("vector FLOPs", lambda t: t.vector_flops),
        ("activation bytes", lambda t: t.bytes - t.weight_bytes),
    ):
        per_sample = f(two) - f(one)
        assert per_sample > 0, what
        assert f(many) == f(one) + (batch - 1) * per_sample, what
    assert many.matrix_flops == batch * one.matrix_flops  # matrix work is exactly linear
    if mode == "inference":  # no per-parameter work: everything is proportional
        assert many.vector_flops == batch * one.vector_flops
        assert many.bytes - many.weight_bytes == batch * (one.bytes - one.weight_bytes)
    # weight reads do not depend on batch; in inference each parameter and each
    # BatchNorm running statistic is read once, as float32
    assert many.weight_bytes == one.weight_bytes
    if mode == "inference":
        read_once = sum(p.numel() for p in model.parameters())
        read_once += model.bn.running_mean.numel() + model.bn.running_var.numel()
        assert one.weight_bytes == 4 * read_once


def test_model_that_rejects_its_input_names_the_layer():
    with pytest.raises(roofline.errors.CountingError, match="at layer 'second'"):
        roofline.profile(Rejects(), torch.randn(2, 4))
    # an error in the model's own code after its last layer returned blames no layer
    # (the message used to name 'fc', the last module entered)
    from tests.fixtures.models import MaskSelect

    with pytest.raises(roofline.errors.CountingError) as info:
        roofline.profile(MaskSelect(), torch.randn(2, 4))
    assert "at layer" not in str(info.value)
    assert str(info.value).startswith("the model rejected its inputs: DynamicOutputShape")


def test_something_that_is_not_a_module_is_a_counting_error():
    # 'str' object has no attribute 'named_modules' (an AttributeError) before
    with pytest.raises(roofline.errors.CountingError, match=r"expected a torch\.nn\.Module"):
        roofline.profile("resnet50", torch.randn(2, 4))
    # the builder itself, not the model it builds
    with pytest.raises(roofline.errors.CountingError, match="call the builder"):
        roofline.profile(TinyCNN, torch.randn(1, 3, 8, 8))


@pytest.mark.parametrize(
    ("model", "error"),
    [
        (ValueDependent, "DataDependentOutputException"),  # .item() in a branch
        (MaskSelect, "DynamicOutputShapeException"),  # y[y > 0]: nonzero
        (Rewraps, "ValueError"),  # the same, re-raised by the model as a plain error
    ],
)
def test_data_dependent_models_are_told_to_try_real(model, error):
    with pytest.raises(roofline.errors.CountingError, match=error) as info:
        roofline.profile(model(), torch.randn(2, 4))
    assert "depends on tensor values" in str(info.value)
    assert "try --real" in str(info.value)
    # and --real counts them
    assert roofline.profile(model(), torch.randn(2, 4), real=True).totals().matrix_flops > 0


def test_is_data_dependent_recognises_the_fake_tensor_and_symbolic_errors():
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    from roofline.counting.tracing import data_dependent_hint, is_data_dependent

    guard = GuardOnDataDependentSymNode(None, "Could not guard on data-dependent expression")
    assert is_data_dependent(guard)
    try:
        try:
            raise guard
        except RuntimeError as inner:
            raise KeyError("wrapped") from inner
    except KeyError as outer:
        assert is_data_dependent(outer)
    shape_error = RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x4 and 5x2)")
    assert not is_data_dependent(shape_error)
    assert data_dependent_hint(shape_error, "do X") == ""
    assert data_dependent_hint(guard, "do X").endswith("; do X)")


def test_keyword_inputs():
    class KW(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 4)

        def forward(self, input_ids: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            return self.emb(input_ids) * scale

    prof = roofline.profile(
        KW(), (), {"input_ids": torch.randint(0, 10, (2, 3)), "scale": torch.randn(1)}
    )
    assert prof.totals().vector_flops == 2 * 3 * 4
    assert prof.inputs[0]["name"] == "input_ids"
    assert prof.batch == 2
    # a 0-d input has no batch dimension: the first input that has one gives it
    scalar_first = roofline.profile(
        KW(), (), {"scale": torch.tensor(0.5), "input_ids": torch.randint(0, 10, (4, 3))}
    )
    assert scalar_first.batch == 4
    assert scalar_first.as_dict()["batch"] == 4


def test_llama_7b_profiles_under_2gb_resident():
    script = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from roofline import load_spec
        from roofline.counting import profile_spec
        p = profile_spec(load_spec({str(ROOT / "examples" / "llama-7b.yaml")!r}))
        print(p.params, p.totals().flops)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    params, flops, maxrss_kb = (int(x) for x in out.stdout.split())
    # LLaMA-7B: 6.74e9 parameters (Touvron et al. 2023 round it to 6.7B)
    assert params == 6_738_415_616
    # forward FLOPs at 2048 tokens ~ 2 * params * tokens plus attention
    assert flops == pytest.approx(2 * params * 2048, rel=0.1)
    assert maxrss_kb * 1024 < 2 * 2**30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def test_fused_estimate_folds_elementwise_chain_into_producer():
    prof = roofline.profile(TinyCNN(), torch.randn(2, 3, 8, 8))
    saved = {o.op.split(".")[1]: o.fused_saved for o in prof.ops}
    act = 2 * 8 * 8 * 8 * 4  # one 2x8x8x8 fp32 activation = 4096 bytes
    # conv -> bn -> relu: conv's output is read only by bn, bn's only by relu, so both
    # intermediates never reach memory; relu's output feeds max-pool (not fused)
    assert saved["convolution"] == act  # no write
    assert saved["native_batch_norm"] == 2 * act  # no read, no write
    assert saved["relu"] == act  # no read; its write stays
    assert saved["max_pool2d_with_indices"] == 0 and saved["addmm"] == 0
    t = prof.totals()
    assert t.fused_bytes == t.bytes - 4 * act
    train = roofline.profile(TinyCNN(), torch.randn(2, 3, 8, 8), mode="training")
    assert train.totals().fused_bytes == train.totals().bytes  # not estimated in training


class _ReadThenScatter(nn.Module):
    """``h = 2x``, read by a ReLU, then one row of ``h`` overwritten in place, then
    ``h`` read again."""

    def forward(self, x: torch.Tensor, idx: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        h = x * 2
        y = h.relu()
        h.index_copy_(0, idx, row)
        return h + y


def test_a_partial_in_place_write_keeps_the_tensor_it_updates_in_memory():
    # h (64x256 fp32, 65,536 B) is written by mul and read by relu; index_copy_ then
    # stores one row into it, so the other 63 rows of what the add reads are mul's:
    # h is needed by two ops, and mul's write and relu's read of it stay. Since
    # index_copy_ reads none of h (Cost.reads), the estimate took relu for h's only
    # reader and dropped both (mul saved 65,536 B, relu 131,072 B, not 65,536 B)
    act = 64 * 256 * 4
    prof = roofline.profile(
        _ReadThenScatter(), (torch.randn(64, 256), torch.tensor([3]), torch.randn(1, 256))
    )
    saved = {o.op.split(".")[1]: o.fused_saved for o in prof.ops}
    assert saved["mul"] == 0
    assert saved["relu"] == act  # its output, y, read by the add alone: its write only


def test_models_whose_init_inspects_values_build_on_fake_tensors():
    # vit_b_16 and convnext_tiny initialise with trunc_normal_, which inspects its
    # tensor; on fake tensors initialisation is skipped (there is no data to fill)
    from roofline.counting import profile_spec
    from roofline.spec import InputSpec, ModelSpec

    for name, gmacs in (("vit_b_16", 17.564), ("convnext_tiny", 4.456)):
        spec = ModelSpec(name, getattr(torchvision.models, name), (InputSpec((1, 3, 224, 224)),))
        assert profile_spec(spec).totals().macs / 1e9 == pytest.approx(gmacs, abs=0.0005)


def test_transformer_encoder_built_on_fake_tensors():
    # nn.TransformerEncoder deep-copies its layer: the copies' fake weights land in a
    # second FakeTensorMode, which the counter re-homes into one
    from roofline.counting import profile_spec
    from roofline.spec import InputSpec, ModelSpec

    def build() -> nn.Module:
        return nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 2)

    fake = profile_spec(ModelSpec("enc", build, (InputSpec((2, 10, 64)),)))
    real = roofline.profile(build(), torch.randn(2, 10, 64))
    assert fake.totals().flops == real.totals().flops > 0


def test_counting_leaves_no_fake_tensors_cached_in_the_model():
    # YOLOv5's Detect caches its grids in a list attribute during forward
    from roofline.spec import load_spec

    spec = load_spec(ROOT / "examples" / "yolov5n.yaml", imgsz=64)
    model = spec.build().eval()
    x = torch.randn(1, 3, 64, 64)
    roofline.profile(model, x)
    with torch.no_grad():
        out = model(x)  # would fail on fake tensors left in the grid cache
    assert isinstance(out, torch.Tensor | tuple)
    assert not any(
        type(v).__name__ == "FakeTensor"
        for m in model.modules()
        for v in vars(m).values()
        if isinstance(v, torch.Tensor)
    )


def test_a_module_called_three_times_says_so_beside_its_first_calls_shapes():
    # torchvision's Bottleneck runs its one ReLU three times (64, 64, 256 channels): the
    # row counts every call, its shapes are the first call's, and it says so
    from torch import nn

    from roofline.report.text import layer_row

    class Reuse(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 2)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.b(self.act(self.a(self.act(x)))))

    prof = roofline.profile(Reuse(), torch.randn(3, 4))
    act = next(r for r in prof.layers(1) if r.name == "act")
    assert act.calls == 3 and act.output_shape == (3, 4) and act.input_shapes == ((3, 4),)
    assert act.totals.vector_flops == 3 * 4 + 3 * 8 + 3 * 2  # one compare per element, all calls
    assert layer_row(act)[2] == "3x4 (x3, first call)"
    assert next(r for r in prof.layers(1) if r.name == "a").calls == 1


class _PlainAttribute(nn.Module):
    """A scale kept as a plain tensor attribute: neither a parameter nor a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.scale = nn.Linear(8, 8), torch.full((8,), 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale


def test_a_plain_tensor_attribute_is_read_where_the_forward_meets_it():
    # counted as torch's fake mode refused it before ("convert all Tensors to
    # FakeTensors"); the attribute is left as it was, real
    model = _PlainAttribute()
    prof = roofline.profile(model, (torch.randn(2, 8),))
    t = prof.totals()
    # linear 2·(2·8·8) + its bias 16, the multiply 16; reads x 64 B, W 256, b 32,
    # then the linear's output 64 and the scale 32
    assert (t.matrix_flops, t.vector_flops) == (256, 32)
    assert t.bytes_read == 64 + 256 + 32 + 64 + 32 and t.weight_bytes == 288
    assert not isinstance(model.scale, torch._subclasses.FakeTensor)
    assert torch.equal(model.scale, torch.full((8,), 2.0))


def test_input_shapes_of_tensor_only_calls_match_the_flattened_form():
    # the tensors-only fast path gives what flattening the call gives
    from torch.utils._pytree import tree_flatten

    from roofline.counting.tracing import input_shapes_of

    a, b = torch.zeros(2, 3), torch.zeros(4)
    for args in [(a,), (a, b), ()]:
        leaves = tree_flatten((args, {}))[0]
        assert input_shapes_of(args) == (tuple(tuple(t.shape) for t in leaves) or None)
    assert input_shapes_of((a, b)) == ((2, 3), (4,))
    assert input_shapes_of(()) is None
    # containers and keywords still go through flattening
    assert input_shapes_of(([a, b], 3), {"m": a}) == ((2, 3), (4,), (2, 3))


def test_distinct_elements_of_dense_broadcast_and_overlapping_tensors():
    # the dense fast path and the general rule (1 + Σ (size − 1)·|stride|, stride-0
    # dims once) agree where they meet; each value by hand
    from roofline.counting.counter import _dense, _unique_elements

    x = torch.zeros(4, 5)
    assert _unique_elements(x) == 20  # dense: every element
    assert _unique_elements(x.t()) == 20  # transposed: not contiguous, still all 20
    assert _unique_elements(torch.zeros(2, 3, 4, 5).to(memory_format=torch.channels_last)) == 120
    # a size-1 dim of stride 0 is contiguous: 5 elements
    assert _unique_elements(torch.zeros(5).expand(1, 5)) == 5
    # broadcast over 4 rows: the 5 stored elements
    assert _unique_elements(torch.zeros(5).expand(4, 5)) == 5
    # 3 windows of 4 overlapping by 2 over 8 elements: 1 + 2·2 + 3·1 = 8, not 12
    assert _unique_elements(torch.zeros(8).unfold(0, 4, 2)) == 8
    assert _unique_elements(torch.zeros(())) == 1
    # the fast path is for strided, contiguous, non-empty tensors only: an mkldnn
    # tensor says it is contiguous over strides of its own, an empty one may span
    assert _dense(x) and not _dense(x.t()) and not _dense(torch.zeros(5).expand(4, 5))
    assert not _dense(torch.zeros(0, 3))
    if torch.backends.mkldnn.is_available():
        assert torch.zeros(2, 3).to_mkldnn().is_contiguous()
        assert not _dense(torch.zeros(2, 3).to_mkldnn())


def test_storage_keys_are_not_reused_within_one_count():
    # the fused estimate names tensors by their storage's address; the allocator hands a
    # freed address to the next tensor (200 short-lived fake tensors here share ~30
    # addresses), which joined unrelated tensors' dataflow: swin_t's fused bytes moved
    # by ~0.5 % from one profile to the next. Within a count every storage is held
    # weakly, so each new tensor gets an address of its own.
    from torch._subclasses.fake_tensor import FakeTensorMode

    from roofline.counting.counter import _storage_key

    with FakeTensorMode():
        keep: dict = {}
        keys = [_storage_key(torch.empty(16) * 2, keep) for _ in range(200)]
    assert len(set(keys)) == 200
    model = torchvision.models.swin_t().eval()
    x = torch.randn(1, 3, 224, 224)
    fused = {roofline.profile(model, x).totals().fused_bytes for _ in range(3)}
    assert len(fused) == 1


class _Apply(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args)


def _only_op(fn, *inputs: torch.Tensor, name: str, real: bool):
    prof = roofline.profile(_Apply(fn), inputs, real=real)
    (op,) = [o for o in prof.ops if o.op == name]
    return op


@pytest.mark.parametrize("real", [False, True])
def test_a_tensor_of_no_elements_moves_no_bytes_whatever_its_strides(real):
    from roofline.counting.counter import _unique_elements

    # a stride-0 view of shape (4, 0) spans one element's memory but addresses none:
    # read 0 (until 2026-12-06, 4 B); one of shape (4, 0, 3) cloned keeps its strides:
    # 0 read and 0 written (until 4 and 4)
    x = torch.randn(3)
    assert _unique_elements(x.as_strided((4, 0), (0, 0))) == 0
    mul = _only_op(lambda t: t.as_strided((4, 0), (0, 0)) * 2, x, name="aten.mul.Tensor", real=real)
    assert (mul.bytes_read, mul.bytes_written) == (0, 0)
    clone = _only_op(
        lambda t: t.as_strided((4, 0, 3), (0, 0, 0)).clone(),
        x,
        name="aten.clone.default",
        real=real,
    )
    assert (clone.bytes_read, clone.bytes_written) == (0, 0)
    # a (1, 0) tensor broadcast to (5, 0): 0, as it was
    add = _only_op(
        lambda t: t.expand(5, 0) + 1, torch.randn(1, 0), name="aten.add.Tensor", real=real
    )
    assert (add.bytes_read, add.bytes_written) == (0, 0)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="no mkldnn")
def test_mkldnn_tensors_count_all_their_elements():
    from roofline.counting.counter import _unique_elements

    # a 2x3 fp32 mkldnn tensor holds 6 elements, 24 B; torch reports its strides as
    # (1, 0), which the stride arithmetic read as 2 elements, 8 B (until 2026-12-06)
    x = torch.randn(2, 3).to_mkldnn()
    assert x.stride() == (1, 0) and _unique_elements(x) == 6
    op = _only_op(lambda t: t.to_dense(), x, name="aten._to_dense.default", real=True)
    assert (op.bytes_read, op.bytes_written) == (24, 24)
    # a Linear(3 → 4) converted to mkldnn keeps its weight (48 B) and bias (16 B) as
    # mkldnn buffers, which have no storage to name them: they count as weight bytes
    # by identity. mkldnn_linear reads 24 + 48 + 16 = 88 B, 64 of them weight bytes,
    # and writes 2x4 floats, 32 B (until: read 40, weight bytes 0, written 8)
    from torch.utils import mkldnn as mkldnn_utils

    with warnings.catch_warnings():  # torch.jit.script_method, inside to_mkldnn
        warnings.simplefilter("ignore", FutureWarning)
        linear = mkldnn_utils.to_mkldnn(nn.Linear(3, 4).eval())
    with torch.no_grad():
        prof = roofline.profile(linear, (x,), real=True)
    (rec,) = [o for o in prof.ops if o.op == "aten.mkldnn_linear.default"]
    assert (rec.bytes_read, rec.weight_bytes, rec.bytes_written) == (88, 64, 32)


@pytest.mark.parametrize("real", [False, True])
def test_out_tensors_are_written_not_read(real):
    # torch.add(a, b, out=c) on 100 fp32 elements reads a and b, 2 x 400 = 800 B, and
    # writes c, 400 B; until 2026-12-06 c was counted as read too (1,200 B). Passed as
    # an input as well (out=a) it is read once, as an input: still 800 B.
    def add_into_new(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        c = torch.empty_like(a)
        torch.add(a, b, out=c)
        return c

    def add_into_a(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a = a.clone()
        return torch.add(a, b, out=a)

    a, b = torch.randn(100), torch.randn(100)
    for fn in (add_into_new, add_into_a):
        op = _only_op(fn, a, b, name="aten.add.out", real=real)
        assert (op.bytes_read, op.bytes_written) == (800, 400), fn.__name__


@pytest.mark.parametrize("real", [False, True])
def test_an_out_tensor_of_an_op_without_a_formula_is_written_not_read(real):
    # aten._add_relu.out has no formula (its bytes come from the generic rule alone):
    # _add_relu(x, x, out=o) on 10 fp32 elements reads x once, 40 B, and writes o, 40 B;
    # until 2026-12-06 o counted as read there too (80 B), as the out= rule applied to
    # ops with a formula only
    from roofline.counting.formulas import lookup

    assert lookup(torch.ops.aten._add_relu.out) is None

    def add_relu_into(x: torch.Tensor) -> torch.Tensor:
        o = torch.empty_like(x)
        torch._VF._add_relu(x, x, out=o)
        return o

    op = _only_op(add_relu_into, torch.randn(10), name="aten._add_relu.out", real=real)
    assert (op.bytes_read, op.bytes_written) == (40, 40)


def test_index_range_hint_names_the_integer_inputs_values_only_for_an_index_error():
    from torch._subclasses.fake_tensor import FakeTensorMode

    from roofline.counting.tracing import index_range_hint

    err = IndexError("index out of range in self")
    ids, mask = torch.tensor([[3, 9, 4]]), torch.tensor([[1, 1, 1]])
    x = torch.randn(1, 3)  # floats and bools are not indices: left out
    hint = index_range_hint(err, ([ids, x], {"mask": mask, "keep": torch.ones(3).bool()}))
    assert hint.startswith(" (the integer inputs hold random values 3-9, 1; an index")
    assert index_range_hint(err, ([ids], {})).startswith(
        " (the integer input holds random values 3-9; an index"
    )
    # another error, no integer input, or fake tensors (no values): no hint
    assert index_range_hint(RuntimeError("index out of range"), [ids]) == ""
    assert index_range_hint(err, [x]) == ""
    with FakeTensorMode() as mode:
        fake = mode.from_tensor(ids)
    assert index_range_hint(err, [fake]) == ""
