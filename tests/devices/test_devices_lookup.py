"""Lookup rules, user spec folders, and the Device interface."""

from __future__ import annotations

import dataclasses

import pytest

from roofline.devices import Device, MeasuredCeilings, Peak, all_devices, get_device, normalize
from roofline.errors import DeviceError


@pytest.mark.parametrize(
    "name", ["3090", "rtx3090", "RTX 3090", "NVIDIA GeForce RTX 3090", "rtx-3090", " Rtx 3090 "]
)
def test_spellings_of_3090(name):
    assert get_device(name).key == "rtx-3090"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        # full-width forms (an East Asian input method's) were "empty device name"
        ("ｒｔｘ３０９０", "rtx-3090"),
        ("ＲＴＸ　３０９０", "rtx-3090"),  # with a full-width space
        ("ｈ１００", "h100-sxm"),
    ],
)
def test_full_width_names_read_as_plain(name, key):
    assert get_device(name).key == key


def test_full_width_cpu_is_the_host_cpu():
    assert get_device("ｃｐｕ").kind == "cpu"


def test_a_name_without_letters_or_digits_is_not_called_empty():
    with pytest.raises(DeviceError, match=r"^no letters or digits in '—': try `roofline gpus`"):
        get_device("—")


def test_normalize():
    assert normalize("NVIDIA GeForce RTX 3090") == "rtx3090"
    assert normalize("Tesla V100-SXM2-16GB") == "v100sxm216gb"
    assert normalize("AMD Instinct MI300X") == "mi300x"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("a100", "a100-sxm4-80gb"),  # documented default
        ("a100-80gb", "a100-sxm4-80gb"),
        ("a100-40gb", "a100-sxm4-40gb"),
        ("NVIDIA A100-PCIE-40GB", "a100-pcie-40gb"),  # NVML's name
        ("NVIDIA A100 80GB PCIe", "a100-pcie-80gb"),
        ("h100", "h100-sxm"),
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H200", "h200-sxm"),  # NVML's names of the two H200 boards
        ("NVIDIA H200 NVL", "h200-nvl"),
        ("h200", "h200-sxm"),
        ("Tesla T4", "tesla-t4"),
        ("a10", "a10"),  # not swallowed by a100
        ("l4", "l4"),
        ("l40s", "l40s"),
        ("3090 ti", "rtx-3090-ti"),
        ("p100", "tesla-p100-pcie-16gb"),
        ("v100", "tesla-v100-sxm2-16gb"),
        ("MI300X", "mi300x"),
    ],
)
def test_lookup(name, key):
    assert get_device(name).key == key


def test_ambiguous_name_lists_candidates():
    with pytest.raises(DeviceError) as err:
        get_device("rtx 6000")
    msg = str(err.value)
    assert "ambiguous" in msg and "quadro-rtx-6000" in msg and "rtx-6000-ada" in msg
    assert "\n" not in msg


def test_unknown_name_suggests_closest():
    with pytest.raises(DeviceError) as err:
        get_device("3O90")
    msg = str(err.value)
    assert "unknown device '3O90'" in msg and "rtx-3090" in msg
    assert "\n" not in msg


def test_user_folder_overrides_and_extends(tmp_path, monkeypatch, spec_writer):
    folder = tmp_path / "specs"
    spec_writer(folder, key="my-card", name="My Card", alias="mycard")
    # override the bundled 3090 by key: a deliberately different memory size
    text = (folder / "my-card.yaml").read_text()
    spec_writer(
        folder,
        key="rtx-3090",
        text=text.replace("my-card", "rtx-3090")
        .replace("My Card", "Lab 3090")
        .replace("mycard", "3090"),
    )
    dev = get_device("mycard", spec_dirs=[folder])
    assert dev.key == "my-card"
    # 1000 lanes x 2 x 1 GHz = 2 TFLOP/s
    assert dev.peak("fp32").flops_per_s == pytest.approx(2e12)
    assert get_device("3090", spec_dirs=[folder]).name == "Lab 3090"
    assert get_device("3090").name == "NVIDIA GeForce RTX 3090"  # bundled again without the folder
    # the environment variable works the same way
    monkeypatch.setenv("ROOFLINE_GPU_SPECS", str(folder))
    assert get_device("mycard").key == "my-card"
    assert len(all_devices()) == len(all_devices(spec_dirs=[]))


def test_user_file_is_validated(tmp_path, spec_writer):
    folder = tmp_path / "specs"
    spec_writer(folder, key="bad-card", fp32=-2)
    with pytest.raises(DeviceError, match=r"bad-card.yaml: field 'peaks.fp32.plain.tflops'"):
        get_device("3090", spec_dirs=[folder])


def test_key_differing_from_file_name_is_accepted_on_every_route(
    tmp_path, monkeypatch, spec_writer
):
    # my_card.yaml holding key: my-card works given directly, in a --specs folder and in
    # $ROOFLINE_GPU_SPECS alike (the file name is not part of the device's identity).
    folder = tmp_path / "specs"
    src = spec_writer(tmp_path / "src", key="my-card", name="My Card", alias="mycard")
    folder.mkdir()
    path = folder / "my_card.yaml"
    path.write_text(src.read_text())
    assert get_device(str(path)).key == "my-card"
    assert get_device("my-card", spec_dirs=[folder]).name == "My Card"
    assert get_device("my_card", spec_dirs=[folder]).key == "my-card"
    monkeypatch.setenv("ROOFLINE_GPU_SPECS", str(folder))
    assert get_device("mycard").key == "my-card"


def test_duplicate_keys_in_one_folder_name_both_files(tmp_path, spec_writer):
    # two files whose keys differ only in '-' vs '_' are one device to lookup: an error
    folder = tmp_path / "specs"
    first = spec_writer(folder, key="my-card")
    (folder / "z_copy.yaml").write_text(first.read_text().replace("my-card", "my_card"))
    with pytest.raises(DeviceError) as err:
        get_device("3090", spec_dirs=[folder])
    msg = str(err.value)
    assert "z_copy.yaml" in msg and "my-card.yaml" in msg and "'my_card'" in msg
    assert "\n" not in msg


def test_later_folder_overrides_same_key_under_another_file_name(tmp_path, spec_writer):
    # across folders the same key is an override, not a duplicate, whatever the file names
    a = spec_writer(tmp_path / "a", key="my-card", name="Old Card")
    b = tmp_path / "b"
    b.mkdir()
    (b / "newer.yaml").write_text(a.read_text().replace("Old Card", "New Card"))
    assert get_device("my-card", spec_dirs=[a.parent, b]).name == "New Card"
    # a bundled key spelt with '_' replaces the bundled entry instead of shadowing it
    (b / "lab.yaml").write_text(
        a.read_text().replace("my-card", "rtx_3090").replace("Old Card", "Lab 3090")
    )
    devices = all_devices(spec_dirs=[b])
    assert [d.name for d in devices if "3090" in d.name and "Ti" not in d.name] == ["Lab 3090"]
    assert get_device("rtx-3090", spec_dirs=[b]).name == "Lab 3090"


def test_missing_user_folder(tmp_path):
    with pytest.raises(DeviceError, match="does not exist"):
        get_device("3090", spec_dirs=[tmp_path / "nope"])


def test_spec_file_path(tmp_path, spec_writer):
    path = spec_writer(tmp_path, key="whatever", name="Card From Path")
    assert get_device(str(path)).name == "Card From Path"
    with pytest.raises(DeviceError, match="not found"):
        get_device(str(tmp_path / "missing.yaml"))
    # a folder is not "not found": it points at --specs, which takes folders
    with pytest.raises(DeviceError, match=r"is a folder; --gpu takes one spec file"):
        get_device(str(tmp_path) + "/")


class TestInterface:
    def test_peaks_and_ceilings(self):
        a100 = get_device("a100-80gb")
        # A100 datasheet: FP16 tensor 312, FP64 tensor 19.5 / plain 9.7, FP32 19.5; whitepaper FP16 non-tensor 78
        assert a100.matrix_peak("fp16").flops_per_s == pytest.approx(312e12)
        assert a100.matrix_peak("fp16").pipe == "tensor"
        assert a100.vector_peak("fp16").flops_per_s == pytest.approx(78e12)
        assert a100.matrix_peak("fp64").flops_per_s == pytest.approx(19.5e12)
        assert a100.vector_peak("fp64").flops_per_s == pytest.approx(9.7e12)
        # no plain tf32 figure -> the fp32 plain figure
        assert a100.vector_peak("tf32").flops_per_s == pytest.approx(19.5e12)
        # 312e12 / 2039e9 = 153.0 FLOPs/byte
        assert a100.ridge_point("fp16") == pytest.approx(312e12 / 2039e9)
        assert a100.peak("float16") is a100.peak("fp16")

    def test_missing_and_unknown_precision(self):
        v100 = get_device("v100")
        with pytest.raises(DeviceError, match="no bf16 peak"):
            v100.matrix_peak("bf16")
        with pytest.raises(DeviceError, match="unknown precision 'fp4'"):
            v100.peak("fp4")

    def test_as_dict(self):
        d = get_device("3090").as_dict()
        for key in (
            "name",
            "aliases",
            "memory_bytes",
            "memory_bandwidth_bytes_per_s",
            "tdp_watts",
            "peak_flops",
        ):
            assert key in d
        assert d["peak_flops"]["fp16"] == pytest.approx(71e12)
        assert "fp8" not in d["peak_flops"]  # the 3090 has no FP8
        assert d["tdp_watts"] == 350
        assert d["memory_gb"] == 24  # everything else the file holds

    def test_with_measured(self):
        d = get_device("3090")
        with pytest.raises(DeviceError, match="roofline calibrate"):
            d.with_measured()
        m = MeasuredCeilings(
            gemm_flops_per_s={"fp32": 25e12, "fp16": 60e12},
            gemm_flops_per_s_no_tensor={"fp32": 25e12},
            copy_bandwidth_bytes_per_s=800e9,
            launch_overhead_s=5e-6,
            measured_at="2026-01-01",
            torch_version="2.15",
            host="box",
        )
        md = dataclasses.replace(d, measured=m).with_measured()
        assert isinstance(md, Device) and md.is_measured_view
        assert md.peak("fp16") == Peak(60e12, "tensor", md.peak("fp16").source, "", True)
        assert md.peak("fp16").source.startswith("measured 2026-01-01")
        assert md.memory_bandwidth_bytes_per_s == 800e9
        assert md.ridge_point("fp32") == pytest.approx(25e12 / 800e9)
        with pytest.raises(DeviceError):
            md.peak("tf32")  # not measured: not silently mixed with the datasheet
        assert d.peak("fp16").flops_per_s == pytest.approx(71e12)  # original untouched
        assert MeasuredCeilings.from_dict(m.as_dict()) == m
