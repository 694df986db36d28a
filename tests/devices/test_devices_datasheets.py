"""Bundled figures pinned to the vendor documents they come from.

Each expected number is the datasheet's (or whitepaper's) own, with the arithmetic that
turns a "with sparsity" figure into the dense one stored; none is copied from the
program's output.
"""

from __future__ import annotations

import pytest

from roofline.devices import get_device


def test_l40s_fp16_bf16_is_half_the_sparse_733():
    # NVIDIA L40S datasheet (2023): BF16/FP16 tensor "362.05 | 733*" (* with sparsity),
    # TF32 "183 | 366*", FP8 "733 | 1,466*". 733 / 2 = 366.5 dense, which is also
    # 568 tensor cores x 256 FLOP/clk x 2.52 GHz = 366.4; the dense column's 362.05 is
    # the L40's sparse 362.1 (at 2.49 GHz) and matches neither.
    d = get_device("l40s")
    for p in ("fp16", "bf16"):
        assert d.matrix_peak(p).flops_per_s == pytest.approx(733e12 / 2)
        assert d.matrix_peak(p).flops_per_s == pytest.approx(568 * 256 * 2.52e9, rel=1e-3)
    # same datasheet's TF32 and FP8 columns are at the same ratios: 1 : 2 : 4
    assert d.matrix_peak("tf32").flops_per_s == pytest.approx(366e12 / 2)
    assert d.matrix_peak("fp8").flops_per_s == pytest.approx(1466e12 / 2)
    assert d.matrix_peak("fp8").flops_per_s == pytest.approx(
        2 * d.matrix_peak("fp16").flops_per_s, rel=1e-3
    )
    # INT8 is not itemised for the L40S; on AD102 it runs at the dense FP8 rate (the L40 column
    # of the same datasheet: FP8 362 | 724*, INT8 362 | 724*): 568 x 512 op/clk x 2.52 GHz =
    # 732.9 TOPS dense, not the FP8 sparse 1466.
    assert d.matrix_peak("int8").flops_per_s == pytest.approx(568 * 512 * 2.52e9, rel=1e-3)
    assert d.matrix_peak("int8").flops_per_s == pytest.approx(1466e12 / 2)


def test_h100_pcie_bandwidth_is_the_stated_2_tb_per_s():
    # NVIDIA H100 datasheet, PCIe column: "GPU memory bandwidth 2TB/s"; H100 whitepaper
    # table: 2,000 GB/sec. (2039 GB/s is the A100 80GB SXM's figure.)
    d = get_device("h100-pcie")
    assert d.memory_bandwidth_bytes_per_s == pytest.approx(2000e9)
    # 1513 TFLOPS FP16 with sparsity / 2 = 756.5 dense; / 2 TB/s = 378.25 FLOPs/byte
    assert d.ridge_point("fp16") == pytest.approx(756.5e12 / 2000e9)


def test_p100_sxm2_bandwidth_is_the_datasheet_732():
    # NVIDIA Tesla P100 datasheet (Oct 2016): 732 GB/s for the NVLink (SXM2) board and the
    # PCIe 16 GB card alike; the pre-launch whitepaper's 720 GB/s is superseded.
    # Both ship with HBM2 at 715 MHz DDR = 1.43 Gbps per pin: 4096 bits / 8 x 1.43 Gbps = 732.16
    # GB/s (the whitepaper's pre-launch ~1.4 Gbps gave its 720).
    for name in ("p100-sxm2", "p100-pcie"):
        d = get_device(name)
        assert d.memory_bandwidth_bytes_per_s == pytest.approx(732e9)
        assert d.memory_data_rate_bits_per_s == pytest.approx(1.43e9)
        assert d.bus_width_bits / 8 * d.memory_data_rate_bits_per_s == pytest.approx(732.16e9)


@pytest.mark.parametrize(
    ("name", "bandwidth_gb_per_s", "memory_gb"),
    [
        # NVIDIA A100 datasheet: 40GB 1,555 GB/s; 80GB 2,039 GB/s (SXM) and 1,935 GB/s (PCIe)
        ("a100-sxm4-40gb", 1555, 40),
        ("a100-pcie-40gb", 1555, 40),
        ("a100-sxm4-80gb", 2039, 80),
        ("a100-pcie-80gb", 1935, 80),
        # NVIDIA H100 datasheet: SXM 80GB 3.35 TB/s; NVL 94GB 3.9 TB/s
        ("h100-sxm", 3350, 80),
        ("h100-nvl", 3900, 94),
        # NVIDIA H200 datasheet: 141GB HBM3e, 4.8 TB/s (SXM and NVL)
        ("h200-sxm", 4800, 141),
        ("h200-nvl", 4800, 141),
    ],
)
def test_data_centre_memory_figures(name, bandwidth_gb_per_s, memory_gb):
    d = get_device(name)
    assert d.memory_bandwidth_bytes_per_s == pytest.approx(bandwidth_gb_per_s * 1e9)
    assert d.memory_bytes == memory_gb * 2**30  # vendor "GB" of memory is binary


def test_h100_sxm_dense_tensor_figures():
    # NVIDIA H100 datasheet, SXM column, all "with sparsity": TF32 989, FP16/BF16 1,979,
    # FP8 3,958 TFLOPS, INT8 3,958 TOPS; dense is half (the whitepaper's 494.7 / 989.4 /
    # 1978.9 dense agree within 0.1 %). FP32 and FP64 tensor 67, FP64 34 are dense already.
    d = get_device("h100-sxm")
    assert d.matrix_peak("tf32").flops_per_s == pytest.approx(494.7e12, rel=1e-3)
    assert d.matrix_peak("fp16").flops_per_s == pytest.approx(989.4e12, rel=1e-3)
    assert d.matrix_peak("bf16").flops_per_s == pytest.approx(989.4e12, rel=1e-3)
    assert d.matrix_peak("fp8").flops_per_s == pytest.approx(1978.9e12, rel=1e-3)
    assert d.matrix_peak("int8").flops_per_s == pytest.approx(1978.9e12, rel=1e-3)
    assert d.vector_peak("fp32").flops_per_s == pytest.approx(67e12)


def test_rtx_3090_tensor_figures_from_the_ga102_whitepaper():
    # GA102 whitepaper, Appendix A, RTX 3090 (dense/sparse): FP16 tensor with FP16
    # accumulate 142/284, with FP32 accumulate 71/142; TF32 35.6/71; INT8 284/568.
    # PyTorch accumulates half GEMMs in FP32, so 71 is the FP16 roof.
    d = get_device("3090")
    assert d.matrix_peak("fp16").flops_per_s == pytest.approx(71e12)
    assert d.matrix_peak("bf16").flops_per_s == pytest.approx(71e12)
    assert d.matrix_peak("tf32").flops_per_s == pytest.approx(35.6e12)
    assert d.matrix_peak("int8").flops_per_s == pytest.approx(284e12)


def test_rtx_3060_tensor_figures_follow_from_its_101_tensor_tflops():
    # NVIDIA's RTX 3060 page gives only "101 tensor TFLOPS" (sparse, FP16 accumulate) and the
    # 1.777 GHz boost; GA10x SMs do 1024 FP16-accumulate FLOP/clk dense, 512 with FP32
    # accumulate, 256 TF32, 2048 INT8 op/clk: 28 SMs x 1024 x 2 x 1.777 GHz = 101.9 sparse.
    # Stored to 3-4 significant figures (TF32 12.7 for 12.74), hence rel=4e-3.
    d = get_device("rtx-3060")
    assert 28 * 1024 * 2 * 1.777e9 == pytest.approx(101e12, rel=0.01)
    assert d.matrix_peak("fp16").flops_per_s == pytest.approx(28 * 512 * 1.777e9, rel=4e-3)
    assert d.matrix_peak("bf16").flops_per_s == pytest.approx(28 * 512 * 1.777e9, rel=4e-3)
    assert d.matrix_peak("tf32").flops_per_s == pytest.approx(28 * 256 * 1.777e9, rel=4e-3)
    assert d.matrix_peak("int8").flops_per_s == pytest.approx(28 * 2048 * 1.777e9, rel=4e-3)


def test_b200_is_the_hgx_b200_column_of_one_nvidia_table():
    # NVIDIA GB200 NVL72 / HGX B200 specifications, HGX B200 column (per GPU, up to 1,000 W):
    # FP64/FP64 Tensor 37, FP32 75 TFLOPS; TF32 2.2, FP16/BF16 4.5, FP8 9 PFLOPS and INT8 9 POPS
    # with sparsity (dense = half); 180GB HBM3E at 7.7TB/s. Not the March 2024 datasheet's
    # 40 / 80 TFLOPS, 192 GB, 8 TB/s, which the file used to mix in.
    d = get_device("b200")
    assert d.vector_peak("fp32").flops_per_s == pytest.approx(75e12)
    assert d.vector_peak("fp64").flops_per_s == pytest.approx(37e12)
    assert d.matrix_peak("fp64").flops_per_s == pytest.approx(37e12)
    assert d.matrix_peak("tf32").flops_per_s == pytest.approx(2.2e15 / 2)
    for p in ("fp16", "bf16"):
        assert d.matrix_peak(p).flops_per_s == pytest.approx(4.5e15 / 2)
    assert d.matrix_peak("fp8").flops_per_s == pytest.approx(9e15 / 2)
    assert d.matrix_peak("int8").flops_per_s == pytest.approx(9e15 / 2)
    assert d.memory_bandwidth_bytes_per_s == pytest.approx(7.7e12)
    assert d.memory_bytes == 180 * 2**30
    assert d.tdp_watts == 1000


def test_rtx_5090_fp32_accumulate_figures_from_the_rtx_blackwell_whitepaper():
    # RTX Blackwell whitepaper, RTX 5090 table (dense/sparse): FP16 and BF16 with FP32
    # accumulate 209.5/419 (419/838 with FP16 accumulate), FP8 with FP32 accumulate 419/838
    # (838/1676 with FP16 accumulate), INT8 838/1676, TF32 104.8/209.5. PyTorch accumulates
    # in FP32 (cuBLAS half GEMMs, torch._scaled_mm), so the FP32-accumulate column is stored.
    d = get_device("5090")
    for p in ("fp16", "bf16"):
        assert d.matrix_peak(p).flops_per_s == pytest.approx(209.5e12)
    assert d.matrix_peak("fp8").flops_per_s == pytest.approx(419e12)
    assert d.matrix_peak("int8").flops_per_s == pytest.approx(838e12)
    assert d.matrix_peak("tf32").flops_per_s == pytest.approx(104.8e12)
    # per SM and clock: 209.5 TFLOP/s / (170 SMs x 2.407 GHz) = 512 FLOP/clk/SM
    assert 170 * 512 * 2.407e9 == pytest.approx(209.5e12, rel=1e-3)


def test_rtx_5080_tensor_figures_derived_at_the_5090_per_sm_rates():
    # No RTX 5080 tensor table at hand: NVIDIA gives 1801 AI TOPS (FP4, sparse) =
    # 84 SMs x 8192 x 2.617 GHz. FP32-accumulate FP16/BF16 at 512 FLOP/clk/SM (the 5090's
    # rate, above), FP8 at 1024, INT8 at 2048 op/clk/SM, TF32 at 256; stored to 0.1 TFLOP/s
    # (FP8 84 x 1024 x 2.617 GHz = 225.10, so 225.1, not 2 x the rounded 112.6).
    d = get_device("5080")
    assert 84 * 8192 * 2.617e9 == pytest.approx(1801e12, rel=1e-3)
    for p, per_sm in (("tf32", 256), ("fp16", 512), ("bf16", 512), ("fp8", 1024), ("int8", 2048)):
        expected = round(84 * per_sm * 2.617e9 / 1e12, 1) * 1e12
        assert d.matrix_peak(p).flops_per_s == pytest.approx(expected, rel=1e-9), p
