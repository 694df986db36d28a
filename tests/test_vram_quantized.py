"""``roofline vram`` of quantized (int8) models: built and traced over real tensors on
the CPU (fake tensors cannot run quantized kernels), weights at their packed int8
size, behind the real-build memory guard. Numbers derived by hand."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from roofline.cli import main

pytestmark = [
    pytest.mark.skipif(
        not {"x86", "fbgemm"} & set(torch.backends.quantized.supported_engines),
        reason="no x86/fbgemm quantized engine",
    ),
    pytest.mark.filterwarnings("ignore::UserWarning"),  # torch's quantized-dtype deprecation
]

#: tests.fixtures.models.TinyQuant: conv 3->8 (3x3, bias), linear 288->10 (bias)
TINY_YAML = """\
name: tiny_quantized
model: tests.fixtures.models:tiny_quantized
inputs:
  - shape: [2, 3, 8, 8]
"""
# packed int8 weights 8*3*3*3 = 216 and 10*288 = 2,880 (1 byte each), fp32 biases
# (8 + 10) * 4 = 72, and the QuantStub's buffers: scale (fp32, 4) and zero point (int64, 8)
TINY_WEIGHTS = 216 + 2880 + (8 + 10) * 4 + 4 + 8  # 3,180
TINY_PARAMS = 216 + 8 + 2880 + 10  # 3,114, as `profile --real` counts them
# the float model it quantizes: 3,114 fp32 parameters, no buffers yet
TINY_FLOAT_BYTES = 3114 * 4  # 12,456


@pytest.fixture
def tiny_spec(tmp_path):
    p = tmp_path / "tiny_quantized.yaml"
    p.write_text(TINY_YAML)
    return p


def _json(argv, tmp_path, capsys):
    out = tmp_path / "v.json"
    assert main(["vram", *argv, "--json", str(out)]) == 0
    capsys.readouterr()
    return json.loads(out.read_text())


def test_weights_are_the_packed_int8_params(tiny_spec, tmp_path, capsys):
    d = _json([str(tiny_spec)], tmp_path, capsys)
    assert d["weights"] == TINY_WEIGHTS
    assert d["params"] == TINY_PARAMS
    assert d["assumptions"]["dtype"] == "qint8"
    assert d["detail"]["quantized"] is True
    # the real trace's peak, in 512-byte allocator blocks, during fc: the fp32 input
    # 2*3*8*8*4 = 1,536; the conv's quint8 output 2*8*6*6 = 576 -> 1,024, written
    # channels-last by the quantized engine, so flatten copies it (another 1,024); the
    # linear's 2*10 = 20 -> 512 (the quantize output, 384 -> 512, was freed by then)
    assert d["activations"] == 1536 + 1024 + 1024 + 512
    # it runs on the CPU only: no CUDA context or cuBLAS workspace by default
    assert d["overhead_detail"]["cuda_context"] == 0 and d["workspace"] == 0
    # + the QuantStub's scale and zero point (12 B) in two 512-byte blocks
    assert d["block_rounding"] == 2 * 512 - 12
    assert d["allocated"] == TINY_WEIGHTS + 4096 + d["block_rounding"]
    assert any(n.startswith("quantized: the weights are the packed int8") for n in d["notes"])


def test_a_gpu_fit_says_quantized_kernels_are_cpu_only(tiny_spec, tmp_path, capsys):
    assert main(["vram", str(tiny_spec), "--gpu", "3090"]) == 0
    out = capsys.readouterr().out
    assert "note: quantized kernels run on the CPU only in PyTorch" in out
    assert "NVIDIA GeForce RTX 3090" in out  # the fit is still shown
    d = _json([str(tiny_spec), "--gpu", "3090"], tmp_path, capsys)
    assert any("run on the CPU only" in n for n in d["notes"])
    assert d["overhead_detail"]["cuda_context"] == 512 * 2**20  # as asked for a GPU
    # a CPU fit needs no such note
    d = _json([str(tiny_spec), "--gpu", "cpu"], tmp_path, capsys)
    assert not any("run on the CPU only" in n for n in d["notes"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--mode", "training"], "a quantized model cannot be traced in training"),
        (["--dtype", "bf16"], "--dtype does not apply to a quantized model"),
        (["--amp", "--mode", "training"], "--amp does not apply to a quantized model"),
    ],
)
def test_what_a_quantized_model_cannot_do_is_one_line(tiny_spec, capsys, options, message):
    assert main(["vram", str(tiny_spec), *options]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_the_real_build_is_sized_by_the_float_model_it_quantizes(tiny_spec):
    from roofline.counting.real import real_build_bytes
    from roofline.spec import load_spec

    assert real_build_bytes(load_spec(tiny_spec)) == TINY_FLOAT_BYTES


def test_vram_refuses_a_real_build_that_would_not_fit(tiny_spec, capsys, monkeypatch):
    from roofline.counting import real
    from roofline.spec import ModelSpec

    # 2 x 12,456 bytes of float weights against half of 20,000 bytes free
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 20_000)
    builds = []
    build = ModelSpec.build

    def watch(self):
        builds.append(self)
        return build(self)

    monkeypatch.setattr(ModelSpec, "build", watch)
    assert main(["vram", str(tiny_spec)]) == 2
    err = capsys.readouterr().err
    assert "vram traces this quantized model over real tensors" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert len(builds) == 1  # the fake build, refused where it quantizes; no real one


def test_above_batch_1_the_guard_counts_the_activations(tiny_spec, capsys, monkeypatch):
    from roofline.counting import real

    # batch 1's peak: input 768 -> 1,024, conv out 288 -> 512, its copy 512, fc 512:
    # 2,560 bytes; at batch 1000, 2 x 3,180 + 2,560 x 1000 = 2.57 MB, over half of 4 MB
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 4_000_000)
    assert main(["vram", str(tiny_spec), "--batch", "1000"]) == 2
    err = capsys.readouterr().err
    assert "at batch 1000, which needs about" in err and err.count("\n") == 1
    # batch 100 (256 KB) fits
    assert main(["vram", str(tiny_spec), "--batch", "100"]) == 0


def test_torchvision_quantized_resnet18_weights_by_hand():
    qm = pytest.importorskip("torchvision.models.quantization")
    from roofline.memory import estimate_from_spec
    from roofline.spec import InputSpec, ModelSpec

    def build() -> torch.nn.Module:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return qm.resnet18(weights=None, quantize=True).eval()

    spec = ModelSpec(name="qr18", factory=build, inputs=(InputSpec((1, 3, 224, 224)),))
    e = estimate_from_spec(spec)
    # resnet18's 11,689,512 parameters: 20 batch norms over 4,800 channels (64;
    # layer1 4 x 64; layer2 4 x 128 + its downsample's 128; layer3 5 x 256; layer4
    # 5 x 512), each folded into its conv as a bias, and fc's 1,000-element bias.
    # int8 conv and fc weights: 11,689,512 - 2 x 4,800 - 1,000 = 11,678,912 bytes;
    # fp32 biases (4,800 + 1,000) x 4 = 23,200; the QuantStub's scale and zero point 12
    assert e.weights == 11_678_912 + 23_200 + 12
    assert e.params == 11_689_512 - 4_800
    assert e.assumptions.dtype == "qint8" and e.activations


def test_a_quantized_run_too_large_to_trace_is_sized_from_batches_1_and_2(tiny_spec, monkeypatch):
    from roofline.counting import real
    from roofline.errors import OutOfMemory
    from roofline.latency.measure import measure
    from roofline.spec import load_spec

    # vram's real trace at batch 1 holds TINY_WEIGHTS + 2,560 (the fp32 input 768 ->
    # 1,024, the quantized conv's 288 -> 512, flatten's copy 512, the linear's 10 ->
    # 512) + the QuantStub's buffers' block rounding 1,012 = 6,752; at batch 2
    # TINY_WEIGHTS + 4,096 + 1,012 = 8,288 (above): 1,536 a sample.
    # At batch 4096 its guard refuses the batch-4096 trace (2 x 3,180 + 4096 x 2,560 =
    # 10.5 MB > half of 6 MB free), so the run is sized on the line through batches 1
    # and 2: 6,752 + 4095 x 1,536 = 6,296,672 B, above 80% of 6 MB (4.8 MB): refused
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 6_000_000)
    spec = load_spec(tiny_spec).with_batch(4096)
    assert real.run_bytes(spec) == 6752 + 4095 * 1536
    with pytest.raises(OutOfMemory, match=r"\(batch 4096, inference\) on cpu needs about"):
        measure(spec, repeat=1, layer_method=None)
    # 10 MB free: the trace is still refused, the run (8 MB usable) fits and runs
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 10_000_000)
    assert measure(spec, repeat=1, warmup=0, layer_method=None).batch == 4096


def test_measure_cpu_holds_the_packed_weights_and_leaves_the_kernels_scratch_out(
    tiny_spec, tmp_path, capsys
):
    # the measured step holds what the estimate's weights count (the packed int8 params,
    # outside any tensor storage) and the same activations; quantized::conv2d_relu's
    # im2col buffer is its own scratch; the QuantStub's two buffers (12 B) are 512-B
    # blocks in both
    d = _json([str(tiny_spec), "--measure", "cpu"], tmp_path, capsys)
    m = d["measured"]
    assert m["held"] == 216 + 2880 + 72 + 2 * 512 + 1536
    assert m["allocated"] == d["allocated"]
    assert m["with_scratch"] > m["allocated"]


def test_measure_cuda_of_a_quantized_model_is_one_line_before_anything_runs(
    tiny_spec, capsys, monkeypatch
):
    # as if CUDA were there: refused from the estimate's quantized flag, before any
    # build on the GPU (which would fail at the first quantized op)
    import importlib

    lm = importlib.import_module("roofline.latency.measure")  # the module, not the function
    monkeypatch.setattr(lm, "check_device", lambda device, option="--device": torch.device("cuda"))
    monkeypatch.setattr(
        torch.cuda, "get_device_capability", lambda *a: pytest.fail("reached the GPU")
    )
    assert main(["vram", str(tiny_spec), "--measure", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "--measure cuda: a quantized model runs on the CPU only" in err
