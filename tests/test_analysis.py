"""Roofline analysis: hand-derived numbers on a made-up device, and invariants."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline.analysis import analyze, ceilings, op_time
from roofline.counting.profile import ModelProfile, ModuleInfo, OpRecord
from roofline.devices import Device, Peak
from roofline.errors import AnalysisError

# A made-up device with round numbers:
#   bandwidth 100 B/s
#   fp32: plain pipes 400 FLOP/s (no tensor cores)        -> ridge 400 / 100 = 4 FLOP/B
#   fp16: tensor cores 1600 FLOP/s, plain pipes 800 FLOP/s -> ridge 1600 / 100 = 16 FLOP/B
BW = 100.0


def toy_device() -> Device:
    return Device(
        key="toy",
        name="Toy GPU",
        vendor="Test",
        kind="gpu",
        aliases=(),
        memory_bytes=2**30,
        memory_bandwidth_bytes_per_s=BW,
        peaks={
            "fp32": Peak(400.0, "plain", "made up"),
            "fp16": Peak(1600.0, "tensor", "made up"),
        },
        plain_peaks={
            "fp32": Peak(400.0, "plain", "made up"),
            "fp16": Peak(800.0, "plain", "made up"),
        },
    )


def linear_op(module: str = "fc", batch: int = 2) -> OpRecord:
    """nn.Linear(4 -> 3) on a [batch, 4] float32 input, as aten.addmm."""
    return OpRecord(
        op="aten.addmm.default",
        module=module,
        phase="forward",
        op_class="gemm",
        matrix_flops=2 * batch * 4 * 3,  # 2 FLOPs per MAC, m*k*n MACs = 48 for batch 2
        vector_flops=batch * 3,  # the bias add: one add per output = 6
        bytes_read=(batch * 4 + 3 * 4 + 3) * 4,  # input 8 + weight 12 + bias 3 floats = 92 B
        bytes_written=batch * 3 * 4,  # output 6 floats = 24 B
        weight_bytes=(3 * 4 + 3) * 4,  # weight + bias = 60 B
        dtype="float32",
    )


def make_profile(ops: list[OpRecord], dtype: str = "float32", batch: int = 2) -> ModelProfile:
    names = sorted({o.module for o in ops})
    modules = [ModuleInfo("", "Net", 0, 0, 0, 0, 0, False)]
    modules += [ModuleInfo(n, "Linear", 1, 15, 15, 15, 0, True) for n in names]
    return ModelProfile(
        name="net",
        mode="inference",
        inputs=({"shape": [batch, 4], "dtype": dtype},),
        dtype=dtype,
        modules=tuple(modules),
        ops=tuple(ops),
        params=15 * len(names),
    )


def test_single_linear_by_hand():
    a = analyze(make_profile([linear_op()]), toy_device(), "fp32")
    (row,) = a.layers
    # FLOPs 48 + 6 = 54; bytes 92 + 24 = 116; intensity 54 / 116 = 0.4655 FLOP/B
    assert row.flops == 54 and row.bytes == 116
    assert row.intensity == pytest.approx(54 / 116)
    # fp32 has no tensor cores: both ceilings are the 400 FLOP/s plain pipes
    assert row.matrix_ceiling.pipe == "plain" and row.vector_ceiling.pipe == "plain"
    # compute 48/400 + 6/400 = 0.135 s; memory 116/100 = 1.16 s -> memory-bound, 1.16 s
    assert row.compute_time_s == pytest.approx(0.135)
    assert row.memory_time_s == pytest.approx(1.16)
    assert row.time_s == pytest.approx(1.16)
    assert row.bound == "memory"
    # attainable = min(400, 0.4655 * 100) = 46.55 FLOP/s = 54 / 1.16
    assert row.attainable_flops_per_s == pytest.approx(54 / 1.16)
    assert row.roof_fraction == pytest.approx(1.0)  # one op: on the roof
    assert row.peak_fraction == pytest.approx(54 / 1.16 / 400)
    assert row.share == pytest.approx(1.0)
    # the dominant traffic: weights 60 B vs activations in 32 B vs out 24 B
    assert row.explanation.startswith("memory-bound: reads 60 B of weights")
    t = a.totals
    assert t.ridge_point == pytest.approx(4.0)
    assert t.time_s == pytest.approx(1.16) and t.roof_time_s == pytest.approx(1.16)
    assert t.samples_per_s == pytest.approx(2 / 1.16)  # batch 2
    assert t.memory_bound_layers == 1 and t.compute_bound_layers == 0


def test_single_linear_fp16_uses_tensor_ceiling_and_warns():
    a = analyze(make_profile([linear_op()]), toy_device(), "fp16")
    (row,) = a.layers
    # compute 48/1600 (tensor) + 6/800 (plain) = 0.03 + 0.0075 = 0.0375 s
    assert row.compute_time_s == pytest.approx(0.0375)
    assert row.matrix_ceiling.pipe == "tensor" and row.matrix_ceiling.flops_per_s == 1600
    assert row.vector_ceiling.pipe == "plain" and row.vector_ceiling.flops_per_s == 800
    # effective peak of the mix: 54 / 0.0375 = 1440 FLOP/s; its ridge 14.4 FLOP/B
    assert row.effective_peak_flops_per_s == pytest.approx(1440.0)
    assert row.ridge_point == pytest.approx(14.4)
    assert a.totals.ridge_point == pytest.approx(16.0)  # the device's: 1600 / 100
    # the profile holds float32 bytes: the analysis says so
    assert any("float32" in w and "fp16" in w for w in a.warnings)


def test_op_time_formula():
    dev = toy_device()
    # fp16: 1600 matrix FLOPs -> 1 s on tensor cores, 800 vector FLOPs -> 1 s plain: 2 s
    # against 100 bytes -> 1 s of memory
    assert op_time(1600, 800, 100, dev, "fp16") == pytest.approx(2.0)
    assert op_time(0, 0, 500, dev, "fp16") == pytest.approx(5.0)


@pytest.mark.parametrize("precision", ["fp8", "int8", "tf32"])
def test_precision_the_device_lacks(precision):
    with pytest.raises(AnalysisError, match=r"no .* peak") as e:
        analyze(make_profile([linear_op()]), toy_device(), precision)
    assert "\n" not in str(e.value)


def test_unknown_precision():
    with pytest.raises(AnalysisError, match="unknown precision 'fp13'"):
        ceilings(toy_device(), "fp13")


def test_layers_mixing_bounds_sit_below_the_roof():
    dev = toy_device()
    # one compute-bound op (400 FLOPs, 1 byte: 1 s compute vs 0.01 s memory) and one
    # memory-bound op (0 FLOPs, 100 bytes: 1 s memory) in the same module
    a_op = OpRecord("aten.mm.default", "blk", "forward", "gemm", 400, 0, 1, 0, 0, "float32")
    b_op = OpRecord("aten.clone.default", "blk", "forward", "copy", 0, 0, 50, 50, 0, "float32")
    a = analyze(make_profile([a_op, b_op]), dev, "fp32")
    (row,) = a.layers
    # time = 1 + 1 = 2 s (the ops cannot overlap); as a whole: 400 FLOPs / 101 B
    assert row.time_s == pytest.approx(2.0)
    assert row.attainable_flops_per_s == pytest.approx(200.0)
    # roof at intensity 400/101: min(400, 3.96 * 100) = 396.04 -> 200 / 396.04
    assert row.roof_flops_per_s == pytest.approx(400 / 101 * 100)
    assert row.roof_fraction == pytest.approx(200 / (400 / 101 * 100))
    # whole: compute 1 s >= memory 1.01 s? no: memory-bound by 0.01 s
    assert row.bound == "memory"
    assert a.totals.roof_time_s == pytest.approx(1.01)


def test_as_dict_is_json():
    a = analyze(make_profile([linear_op("a"), linear_op("b")]), toy_device(), "fp16")
    data = json.loads(json.dumps(a.as_dict()))
    assert len(data["layers"]) == 2 and len(data["ops"]) == 2
    assert data["layers"][0]["matrix_ceiling"]["pipe"] == "tensor"
    assert data["totals"]["time_s"] == pytest.approx(sum(r["time_s"] for r in data["layers"]))


# -- invariants ---------------------------------------------------------------------

sizes = st.integers(min_value=0, max_value=10**12)
pos = st.integers(min_value=1, max_value=10**12)


def op_of(mf: int, vf: int, nbytes: int, module: str = "m") -> OpRecord:
    return OpRecord("aten.x", module, "forward", "gemm", mf, vf, nbytes, 0, 0, "float16")


@settings(max_examples=200, deadline=None)
@given(mf=sizes, vf=sizes, nbytes=pos, precision=st.sampled_from(["fp32", "fp16"]))
def test_attainable_never_above_peak(mf, vf, nbytes, precision):
    a = analyze(make_profile([op_of(mf, vf, nbytes)]), toy_device(), precision)
    (row,) = a.layers
    peak = a.ceilings.matrix.flops_per_s
    assert row.attainable_flops_per_s <= peak * (1 + 1e-12)
    assert row.attainable_flops_per_s <= row.intensity * BW * (1 + 1e-12)
    assert 0 <= row.roof_fraction <= 1


@settings(max_examples=200, deadline=None)
@given(mf=sizes, vf=sizes, nbytes=sizes, more=pos, precision=st.sampled_from(["fp32", "fp16"]))
def test_time_grows_with_flops_and_bytes(mf, vf, nbytes, more, precision):
    dev = toy_device()
    t = op_time(mf, vf, nbytes, dev, precision)
    assert op_time(mf + more, vf, nbytes, dev, precision) >= t
    assert op_time(mf, vf + more, nbytes, dev, precision) >= t
    assert op_time(mf, vf, nbytes + more, dev, precision) >= t
    # and strictly when memory is the binding side
    c = ceilings(dev, precision)
    if nbytes / BW > mf / c.matrix.flops_per_s + vf / c.vector.flops_per_s:
        assert op_time(mf, vf, nbytes + more, dev, precision) > t


@settings(max_examples=200, deadline=None)
@given(
    nbytes=st.integers(min_value=1, max_value=10**9), precision=st.sampled_from(["fp32", "fp16"])
)
def test_bound_flips_exactly_at_the_ridge(nbytes, precision):
    dev = toy_device()
    ridge = ceilings(dev, precision).ridge_point  # 4 (fp32) or 16 (fp16): whole numbers
    flops_at_ridge = int(ridge) * nbytes  # pure matrix work at exactly the ridge
    below = analyze(make_profile([op_of(flops_at_ridge - 1, 0, nbytes)]), dev, precision)
    at = analyze(make_profile([op_of(flops_at_ridge, 0, nbytes)]), dev, precision)
    above = analyze(make_profile([op_of(flops_at_ridge + 1, 0, nbytes)]), dev, precision)
    assert below.layers[0].bound == "memory"
    assert at.layers[0].bound == "compute"  # a tie goes to compute: both limits bind
    assert above.layers[0].bound == "compute"
    assert at.layers[0].attainable_flops_per_s == pytest.approx(
        ceilings(dev, precision).matrix.flops_per_s
    )


@settings(max_examples=100, deadline=None)
@given(
    ops=st.lists(
        st.tuples(sizes, sizes, sizes, st.sampled_from(["a", "a.x", "a.y", "b", "b.z"])),
        min_size=1,
        max_size=12,
    ),
    depth=st.sampled_from([1, 2, None]),
)
def test_layer_times_add_up_to_total(ops, depth):
    records = [op_of(mf, vf, nb, mod) for mf, vf, nb, mod in ops]
    modules = [ModuleInfo("", "Net", 0, 0, 0, 0, 0, False)]
    modules += [ModuleInfo(n, "Block", 1, 0, 0, 0, 0, False) for n in ("a", "b")]
    modules += [ModuleInfo(n, "Leaf", 2, 0, 0, 0, 0, True) for n in ("a.x", "a.y", "b.z")]
    prof = ModelProfile(
        "net", "inference", ({"shape": [1]},), "float16", tuple(modules), tuple(records)
    )
    a = analyze(prof, toy_device(), "fp16", depth=depth)
    assert sum(r.time_s for r in a.layers) == pytest.approx(a.totals.time_s, rel=1e-12, abs=1e-300)
    assert sum(r.time_s for r in a.ops) == pytest.approx(a.totals.time_s, rel=1e-12, abs=1e-300)
    assert sum(r.flops for r in a.layers) == a.totals.flops
    if a.totals.time_s > 0:
        assert math.isclose(sum(r.share for r in a.layers), 1.0, rel_tol=1e-9)
    # the whole model as one kernel is never slower than op by op
    assert a.totals.roof_time_s <= a.totals.time_s * (1 + 1e-12)


def test_real_profile_on_the_3090():
    """A counted model on a database device: integration of counter, devices, analysis."""
    import torch

    import roofline
    from roofline.devices import get_device

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU())
    prof = roofline.profile(model, (torch.randn(1, 3, 32, 32),))
    a = analyze(prof, get_device("3090"), "fp32")
    assert [r.type for r in a.layers] == ["Conv2d", "ReLU"]
    # ReLU: 1*16*32*32 elements, read + write at 4 B, one FLOP each: 0.125 FLOP/B
    relu = a.layers[1]
    assert relu.intensity == pytest.approx(16 * 1024 / (2 * 16 * 1024 * 4))
    assert relu.bound == "memory"
    assert a.totals.ridge_point == pytest.approx(35.6e12 / 936e9)  # 3090 fp32 datasheet


def tf32_device() -> Device:
    import dataclasses

    # the toy device with a TF32 tensor figure 8x its fp32 plain peak (as an A100:
    # 156 vs 19.5 TFLOP/s); PyTorch's default cudnn.allow_tf32 puts convs there
    return dataclasses.replace(
        toy_device(),
        vendor="NVIDIA",
        peaks={**toy_device().peaks, "tf32": Peak(3200.0, "tensor", "made up")},
    )


def conv_op() -> OpRecord:
    import dataclasses

    return dataclasses.replace(linear_op(), op="aten.convolution.default", op_class="conv")


def test_fp32_convolutions_on_tf32_tensor_cores_by_default():
    import dataclasses

    dev = tf32_device()
    conv, fc = conv_op(), linear_op("fc2")
    a = analyze(make_profile([conv, fc]), dev)
    assert a.ceilings.conv is not None and a.ceilings.conv.flops_per_s == 3200.0
    conv_row, fc_row = a.layers
    # conv: 48 matrix FLOPs at the TF32 roof, 6 vector FLOPs at the plain 400:
    # 48 / 3200 + 6 / 400 = 0.015 + 0.015 = 0.03 s; memory 116 B / BW
    assert conv_row.compute_time_s == pytest.approx(48 / 3200 + 6 / 400)
    assert conv_row.matrix_ceiling.precision == "tf32" and conv_row.ceiling_text() == "tensor+plain"
    # the row's peak fraction is against its own matrix roof (3200), not the fp32 one
    assert conv_row.peak_fraction == pytest.approx(conv_row.attainable_flops_per_s / 3200)
    # the GEMM stays at fp32 (matmul.allow_tf32 is off): 48 / 400 + 6 / 400
    assert fc_row.compute_time_s == pytest.approx(54 / 400)
    assert fc_row.matrix_ceiling.precision == "fp32"
    # the model's matrix peak is the mix: 96 FLOPs in 48/3200 + 48/400 s
    t = a.totals
    assert t.peak_fraction == pytest.approx(
        t.attainable_flops_per_s / (96 / (48 / 3200 + 48 / 400))
    )
    w = [x for x in a.warnings if "TF32" in x]
    # matrix FLOPs: conv 48 of 96 = 50%
    assert len(w) == 1 and "fp32 convolutions (50% of this model's matrix FLOPs)" in w[0]
    assert "torch.backends.cudnn.allow_tf32" in w[0] and "--no-tf32-conv" in w[0]
    # a conv share that rounds to 0 % (a ViT's patch embedding) reads "<1%", not "0%"
    big = dataclasses.replace(linear_op("fc3"), matrix_flops=48 * 1000)
    w = [x for x in analyze(make_profile([conv, big]), dev).warnings if "TF32" in x]
    assert "fp32 convolutions (<1% of this model's matrix FLOPs)" in w[0]
    # and one that rounds to 100 % beside a GEMM (ResNet-50's fc) reads ">99%"
    tiny = dataclasses.replace(linear_op("fc3"), matrix_flops=2)
    w = [x for x in analyze(make_profile([conv, tiny]), dev).warnings if "TF32" in x]
    # conv 48 of 48 + 2 matrix FLOPs = 96 %: as computed; 4800 of 4802 rounds to 100
    assert "fp32 convolutions (96% of this model's matrix FLOPs)" in w[0]
    many = dataclasses.replace(conv, matrix_flops=4800)
    w = [x for x in analyze(make_profile([many, tiny]), dev).warnings if "TF32" in x]
    assert "fp32 convolutions (>99% of this model's matrix FLOPs)" in w[0]
    # tf32_conv=False: the strict fp32 roof for both, and nothing to say
    strict = analyze(make_profile([conv, fc]), dev, tf32_conv=False)
    assert strict.ceilings.conv is None
    assert strict.layers[0].compute_time_s == pytest.approx(54 / 400)
    assert not [x for x in strict.warnings if "TF32" in x]
    # no convolutions, another precision, no TF32 figure, or a CPU: no conv ceiling
    assert not [x for x in analyze(make_profile([linear_op()]), dev).warnings if "TF32" in x]
    # depthwise convolutions run on the plain pipes: fp32 roof, nothing to say
    dw = dataclasses.replace(conv, op_class="depthwise_conv")
    a_dw = analyze(make_profile([dw]), dev)
    assert a_dw.layers[0].compute_time_s == pytest.approx(54 / 400)
    assert not [x for x in a_dw.warnings if "TF32" in x]
    assert analyze(make_profile([conv]), dev, "fp16").ceilings.conv is None
    assert analyze(make_profile([conv]), toy_device()).ceilings.conv is None
    cpu = dataclasses.replace(dev, kind="cpu")
    assert analyze(make_profile([conv]), cpu).ceilings.conv is None
    # on ROCm PyTorch keeps fp32 convolutions at fp32 by default (TF32 is opt-in)
    amd = dataclasses.replace(dev, vendor="AMD")
    assert analyze(make_profile([conv]), amd).ceilings.conv is None
    from roofline.devices import get_device

    assert analyze(make_profile([conv]), get_device("mi300x")).ceilings.conv is None


def test_naive_latency_prices_fp32_convolutions_at_tf32():
    from roofline.analysis import op_time

    dev = tf32_device()
    # 48 matrix FLOPs on TF32, no vector work, 1 byte: compute-bound at 48 / 3200
    assert op_time(48, 0, 1, dev, "fp32", "conv") == pytest.approx(48 / 3200)
    assert op_time(48, 0, 1, dev, "fp32", "gemm") == pytest.approx(48 / 400)
    assert op_time(48, 0, 1, dev, "fp32", "conv", tf32_conv=False) == pytest.approx(48 / 400)


def test_no_tf32_warning_where_tf32_is_no_faster():
    # the RTX 3090's dense TF32 tensor figure equals its fp32 plain one (35.6 TFLOP/s)
    from roofline.devices import get_device

    conv = OpRecord(
        "aten.convolution.default", "c", "forward", "conv", 10**6, 0, 10**4, 10**4, 0, "float32"
    )
    assert not [
        x for x in analyze(make_profile([conv]), get_device("3090")).warnings if "TF32" in x
    ]
    assert [x for x in analyze(make_profile([conv]), get_device("a100")).warnings if "TF32" in x]


def test_precision_follows_the_profile_dtype_where_the_device_has_it():
    from roofline.analysis import default_precision

    dev = toy_device()
    half = make_profile([dataclasses.replace(linear_op(), dtype="float16")], dtype="float16")
    assert default_precision(half, dev) == "fp16"
    a = analyze(half, dev)  # no precision asked: fp16, the tensor roof, no warning
    assert a.precision == "fp16" and a.layers[0].matrix_ceiling.flops_per_s == 1600
    assert not any("dtype" in w for w in a.warnings)
    # bf16 bytes on a device without a bf16 figure: fp32 roofs, and the warning says why
    bf = make_profile([dataclasses.replace(linear_op(), dtype="bfloat16")], dtype="bfloat16")
    assert default_precision(bf, dev) == "fp32"
    a = analyze(bf, dev)
    assert a.precision == "fp32"
    assert any("has no bf16 figure" in w and "bytes stay bfloat16" in w for w in a.warnings)
    assert analyze(make_profile([linear_op()]), dev).precision == "fp32"


def test_layer_rows_show_what_the_module_received_json_and_hover():
    """A layer row's input shapes are its module's inputs, not its first op's first
    argument (resnet50's fc: 1x2048, not the addmm bias; Focus: the unsliced image)."""
    import torch

    import roofline
    from roofline.devices import get_device
    from roofline.report.html import _hover_row
    from tests.fixtures.models import FocusThenGate

    torchvision = pytest.importorskip("torchvision")
    dev = get_device("3090")
    resnet = roofline.profile(torchvision.models.resnet50(), torch.randn(1, 3, 224, 224))
    fc = {r.name: r for r in analyze(resnet, dev, "fp32", depth=1).layers}["fc"]
    assert fc.as_dict()["input_shapes"] == [[1, 2048]]
    assert _hover_row(fc)[2] == "1x2048 -&gt; 1x1000"

    a = analyze(roofline.profile(FocusThenGate(), torch.randn(2, 3, 8, 8)), dev, "fp32", depth=1)
    rows = {r.name: r for r in a.layers}
    assert _hover_row(rows["focus"])[2] == "2x3x8x8 -&gt; 2x8x4x4"
    assert rows["gate"].as_dict()["input_shapes"] == [[2, 8], [2, 1]]
    assert _hover_row(rows["gate"])[2] == "2x8, 2x1 -&gt; 2x8"
    # op rows keep their own arguments
    cat = next(r for r in a.ops if r.op == "aten.cat.default")
    assert cat.input_shapes == ((2, 3, 4, 4),) * 4


def test_a_slow_half_rate_falls_back_to_fp32_and_says_why():
    # Pascal (GTX 1080 Ti datasheet): fp16 at 1/64 of fp32; PyTorch computes fp16 GEMMs
    # in fp32 there, so an fp16 model is held to the fp32 roofs, with the reason
    from roofline.analysis import default_precision

    slow = dataclasses.replace(
        toy_device(),
        peaks={"fp32": Peak(400.0, "plain", "made up"), "fp16": Peak(6.25, "plain", "made up")},
        plain_peaks={"fp32": Peak(400.0, "plain", "made up"), "fp16": Peak(6.25, "plain", "x")},
    )
    half = make_profile([dataclasses.replace(linear_op(), dtype="float16")], dtype="float16")
    assert default_precision(half, slow) == "fp32"
    a = analyze(half, slow)
    assert a.precision == "fp32"
    (w,) = [w for w in a.warnings if "fp16 rate" in w]
    assert "below its fp32 rate" in w and "bytes stay float16" in w
    assert analyze(half, slow, "fp16").precision == "fp16"  # asked for: given


@settings(max_examples=25, deadline=None)
@given(
    device=st.sampled_from(["3090", "a100", "h100", "t4", "v100", "cpu"]),
    precision=st.sampled_from(["fp32", "fp16", "bf16"]),
    batch=st.integers(1, 4),
    mode=st.sampled_from(["inference", "training"]),
    depth=st.sampled_from([1, 2, None]),
)
def test_every_row_on_datasheet_devices_sits_under_its_roof(device, precision, batch, mode, depth):
    import torch

    import roofline
    from roofline.devices import get_device
    from roofline.errors import DeviceError
    from tests.fixtures.models import tiny_cnn

    dev = get_device(device)
    try:
        c = ceilings(dev, precision)
    except (AnalysisError, DeviceError):
        return  # the device has no such peak: refused, as tested elsewhere
    prof = roofline.profile(tiny_cnn(), torch.randn(batch, 3, 8, 8), mode=mode)
    a = analyze(prof, dev, precision, depth)
    top = max(c.matrix.flops_per_s, c.conv.flops_per_s if c.conv else 0, c.vector.flops_per_s)
    bw = c.bandwidth_bytes_per_s
    for row in (*a.ops, *a.layers):
        # time is never below either limit, and the memory limit is bytes / bandwidth
        assert row.memory_time_s == pytest.approx(row.bytes / bw, rel=1e-12)
        assert row.time_s >= max(row.compute_time_s, row.memory_time_s) * (1 - 1e-12)
        assert row.time_s >= row.flops / top * (1 - 1e-12)
        # attainable FLOP/s never above the peak nor the bandwidth line
        assert row.attainable_flops_per_s <= top * (1 + 1e-12)
        if row.bytes:
            assert row.attainable_flops_per_s <= row.intensity * bw * (1 + 1e-12)
        assert 0 <= row.roof_fraction <= 1
    assert sum(r.time_s for r in a.layers) == pytest.approx(a.totals.time_s, rel=1e-12)
    assert sum(r.flops for r in a.layers) == a.totals.flops == prof.totals().flops


def test_launch_note_and_the_compare_table_show_the_ops_a_roofline_time_leaves_out():
    import torch
    from torch import nn

    import roofline
    from roofline.analysis import launch_note
    from roofline.devices import get_device
    from roofline.report.text import compare_launch_notes, compare_table

    # one Linear(256, 256) at batch 64 is 1 op (addmm); Linear(8, 8) -> ReLU ->
    # Linear(8, 8) at batch 2 is 3 (addmm, relu, addmm), with far less roofline time
    dev = get_device("3090")
    wide = analyze(
        roofline.profile(nn.Sequential(nn.Linear(256, 256)), (torch.randn(64, 256),), name="w"),
        dev,
    )
    chain = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
    three = analyze(roofline.profile(chain, (torch.randn(2, 8),), name="c"), dev)
    assert (len(wide.ops), len(three.ops)) == (1, 3)
    assert three.time_per_op_s == pytest.approx(three.totals.time_s / 3)
    note = launch_note(three, wide, "w")
    ratio = three.totals.time_s / wide.totals.time_s
    assert note is not None and note.startswith(
        f"{ratio:.3f}× the roofline time of w, but 3.00× its ops (3 against 1), at "
    )
    # the other way round (more time, fewer ops), or against itself: no note
    assert launch_note(wide, three, "c") is None and launch_note(wide, wide, "w") is None
    lines = compare_launch_notes([wide, three])
    assert lines == [f"note: c on {dev.name}: {launch_note(three, wide, f'w on {dev.name}')}"]
    table = compare_table([wide, three]).splitlines()
    header = table[0].split()
    assert "ops" in header and "time/op" in header
    assert compare_launch_notes([wide]) == [] and compare_launch_notes([]) == []
