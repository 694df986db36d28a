"""Quantized (int8) models: their kernels' formulas, their packed weights as
parameters, and the hint on fake tensors. Numbers derived by hand."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import roofline
from roofline.analysis import dtype_precision
from roofline.counting import profile_spec
from roofline.errors import CountingError, SpecError
from roofline.spec import InputSpec, ModelSpec
from tests.fixtures.models import TinyQuant, tiny_quantized

ENGINE = next(
    (e for e in ("x86", "fbgemm") if e in torch.backends.quantized.supported_engines), None
)
pytestmark = [
    pytest.mark.skipif(ENGINE is None, reason="no x86/fbgemm quantized engine"),
    pytest.mark.filterwarnings("ignore::UserWarning"),  # torch's quantized-dtype deprecation
]


@pytest.fixture(scope="module")
def tiny() -> tuple[nn.Module, torch.Tensor, int]:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 8, 8)
    float_model = TinyQuant()
    float_params = sum(p.numel() for p in float_model.parameters())
    return tiny_quantized(float_model, x), x, float_params


def _op(prof: roofline.ModelProfile, prefix: str) -> roofline.OpRecord:
    (op,) = [o for o in prof.ops if o.op.startswith(prefix)]
    return op


def test_tiny_quantized_model_counted_by_hand(tiny):
    model, x, _ = tiny
    prof = roofline.profile(model, x, real=True)
    assert dict(prof.uncounted_ops) == {}

    q = _op(prof, "aten.quantize_per_tensor")
    # 1x3x8x8 = 192 elements: 5 FLOPs each (scale, round, zero point, clamp 2)
    assert (q.vector_flops, q.bytes_read, q.bytes_written) == (5 * 192, 192 * 4, 192)

    conv = _op(prof, "quantized.conv2d_relu")
    # out 1x8x6x6 = 288 elements, each 3 * 3*3 = 27 MACs: 7,776 MACs
    assert conv.matrix_flops == 2 * 288 * 27
    # per output: bias 1 + requantize 6 (zero-point share, scale, round, zero point,
    # clamp 2); the fused ReLU is the clamp's lower bound
    assert conv.vector_flops == 288 * 7
    # read: input 192 B (quint8) + weight 8*3*3*3 = 216 B (qint8) + bias 8 * 4 B
    assert conv.bytes_read == 192 + 216 + 32
    assert conv.weight_bytes == 216 + 32
    assert conv.bytes_written == 288
    assert conv.op_class == "conv"
    assert dtype_precision(conv.dtype) == "int8"

    fc = _op(prof, "quantized.linear")
    # [1, 288] @ [288, 10]: 2,880 MACs; bias + requantize 7 per output
    assert (fc.matrix_flops, fc.vector_flops) == (2 * 288 * 10, 10 * 7)
    assert fc.bytes_read == 288 + 2880 + 10 * 4
    assert fc.bytes_written == 10
    assert (fc.op_class, dict(fc.dims)) == ("gemm", {"m": 1, "n": 10, "k": 288})
    assert fc.module == "fc"

    dq = _op(prof, "aten.dequantize")
    assert (dq.vector_flops, dq.bytes_read, dq.bytes_written) == (2 * 10, 10, 40)

    assert prof.totals().macs == 7776 + 2880


def test_packed_weights_are_parameters(tiny):
    model, x, float_params = tiny
    assert sum(p.numel() for p in model.parameters()) == 0  # all packed
    prof = roofline.profile(model, x, real=True)
    # conv 8*3*3*3 + 8, linear 10*288 + 10: the float model's 3,114
    assert prof.params == float_params == 216 + 8 + 2880 + 10
    assert prof.trainable_params == 0
    # int8 weights 1 byte, fp32 biases 4
    assert prof.param_bytes == 216 + 2880 + (8 + 10) * 4
    # per module, the linear layer's at the Linear (not its _packed_params child)
    assert prof.module("conv").params == 224
    assert prof.module("fc").params == 2890
    assert prof.dtype == "qint8"
    assert dtype_precision(prof.dtype) == "int8"


def test_quantized_add_dequantizes_both_inputs():
    class Add(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.ops.quantized.add_relu(a, b, 0.1, 0)

    a = torch.quantize_per_tensor(torch.randn(2, 4, 5, 5), 0.05, 10, torch.quint8)
    prof = roofline.profile(Add(), (a, a.clone()), real=True)
    (op,) = prof.ops
    # 200 outputs: dequantize both (2 + 2), add 1, quantize 5 (the ReLU is the clamp)
    assert (op.vector_flops, op.bytes_read, op.bytes_written) == (200 * 10, 2 * 200, 200)


def test_quantized_model_on_fake_tensors_says_use_real(tiny):
    model, x, _ = tiny
    with pytest.raises(CountingError, match=r"quantized model.*--real"):
        roofline.profile(model, x)


def test_a_real_run_that_fails_does_not_suggest_real():
    # a float add on quantized tensors fails over real tensors too: the error is the
    # kernel's, without the fake-tensor hint that sent the user to --real again
    class FloatAdd(nn.Module):
        def forward(self, a: torch.Tensor) -> torch.Tensor:
            return a + a

    a = torch.quantize_per_tensor(torch.randn(2, 4), 0.05, 10, torch.quint8)
    with pytest.raises(CountingError) as exc:
        roofline.profile(FloatAdd(), (a,), real=True)
    text = str(exc.value)
    assert "QuantizedCPU" in text and "--real" not in text and "fake" not in text


def _quantized_resnet18_spec() -> ModelSpec:
    qm = pytest.importorskip("torchvision.models.quantization")

    def build() -> nn.Module:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return qm.resnet18(weights=None, quantize=True).eval()

    return ModelSpec(
        name="quantized_resnet18", factory=build, inputs=(InputSpec((1, 3, 224, 224)),)
    )


def test_torchvision_quantized_resnet18():
    tv = pytest.importorskip("torchvision")
    spec = _quantized_resnet18_spec()
    # on fake tensors: a one-line hint, and no heap left corrupted for the real build
    with pytest.raises(SpecError, match=r"a quantized model.*profile --real"):
        profile_spec(spec)
    with torch.no_grad():
        prof = profile_spec(spec, real=True)
    assert dict(prof.uncounted_ops) == {}
    # torchvision documents the float resnet18's 1.814 GMACs for its quantized twin
    assert round(prof.totals().macs / 1e9, 3) == 1.814
    # layer by layer, the same products as the float model (each op's own weights:
    # the dispatcher passes a fresh wrapper of the packed params at every call)
    float_prof = roofline.profile(tv.models.resnet18().eval(), torch.randn(1, 3, 224, 224))
    products = sorted(o.matrix_flops for o in prof.ops if o.matrix_flops)
    assert products == sorted(o.matrix_flops for o in float_prof.ops if o.matrix_flops)
    # the float model's 11,689,512 params less one per batch-norm channel: fusing a
    # batch norm into its conv turns its weight and bias (2 per channel) into a bias (1)
    float_model = tv.models.resnet18()
    bn_channels = sum(
        m.num_features for m in float_model.modules() if isinstance(m, nn.BatchNorm2d)
    )
    assert sum(p.numel() for p in float_model.parameters()) == 11_689_512
    assert prof.params == 11_689_512 - bn_channels
