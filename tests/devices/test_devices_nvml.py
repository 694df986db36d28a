"""The local GPU through NVML, with NVML mocked by fake devices (as gpustat's tests do)."""

from __future__ import annotations

import sys
import types

import pytest

from roofline.devices import get_device
from roofline.devices.nvml import LocalGpu, read_local_gpus
from roofline.errors import DeviceError


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


def fake_pynvml(gpus, init_error=None):
    """A stand-in for the pynvml module. Each gpu is a dict; a value that is an
    exception class is raised when that field is read."""
    nv = types.ModuleType("pynvml")
    nv.NVMLError = NVMLError
    nv.NVMLError_NotSupported = NVMLError_NotSupported
    nv.NVML_CLOCK_SM = 1
    nv.NVML_CLOCK_MEM = 2
    nv.calls = []

    def field(h, name):
        value = gpus[h][name]
        if isinstance(value, type) and issubclass(value, Exception):
            raise value()
        return value

    def init():
        if init_error:
            raise init_error()
        nv.calls.append("init")

    nv.nvmlInit = init
    nv.nvmlShutdown = lambda: nv.calls.append("shutdown")
    nv.nvmlDeviceGetCount = lambda: len(gpus)
    nv.nvmlSystemGetDriverVersion = lambda: "555.42"
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    nv.nvmlDeviceGetName = lambda h: field(h, "name")
    nv.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=field(h, "memory"))
    nv.nvmlDeviceGetCudaComputeCapability = lambda h: field(h, "cc")
    nv.nvmlDeviceGetMaxClockInfo = lambda h, kind: field(
        h, "sm_clock" if kind == 1 else "mem_clock"
    )
    nv.nvmlDeviceGetMemoryBusWidth = lambda h: field(h, "bus")
    nv.nvmlDeviceGetEnforcedPowerLimit = lambda h: field(h, "power_mw")
    nv.nvmlDeviceGetMigMode = lambda h: (field(h, "mig"), 0)
    return nv


RTX3090 = {
    "name": b"NVIDIA GeForce RTX 3090",  # older pynvml returns bytes
    "memory": 24 * 2**30,
    "cc": (8, 6),
    "sm_clock": 2100,  # MHz (NVML's max SM clock is above the datasheet boost)
    "mem_clock": 9751,  # MHz; 2 x 9751 MHz x 384 / 8 = 936.1 GB/s
    "bus": 384,
    "power_mw": 350_000,
    "mig": NVMLError_NotSupported,
}
A100_MIG_CAPPED = {
    "name": "NVIDIA A100-SXM4-80GB",
    "memory": 80 * 2**30,
    "cc": (8, 0),
    "sm_clock": 1410,
    "mem_clock": 1593,  # 2 x 1593 MHz x 5120 / 8 = 2039 GB/s
    "bus": 5120,
    "power_mw": 250_000,  # capped below the 400 W TDP
    "mig": 1,
}
OLD_DRIVER_T4 = {
    "name": "Tesla T4",
    "memory": 15 * 2**30,  # 15 GiB visible of 16
    "cc": (7, 5),
    "sm_clock": NVMLError_NotSupported,
    "mem_clock": NVMLError_NotSupported,
    "bus": NVMLError_NotSupported,
    "power_mw": NVMLError_NotSupported,
    "mig": NVMLError_NotSupported,
}


@pytest.fixture
def nvml(monkeypatch):
    def install(gpus, init_error=None):
        module = fake_pynvml(gpus, init_error)
        monkeypatch.setitem(sys.modules, "pynvml", module)
        return module

    return install


def test_reads_every_field(nvml):
    nv = nvml([RTX3090, A100_MIG_CAPPED, OLD_DRIVER_T4])
    gpus = read_local_gpus()
    assert [g.name for g in gpus] == [
        "NVIDIA GeForce RTX 3090",
        "NVIDIA A100-SXM4-80GB",
        "Tesla T4",
    ]
    g = gpus[0]
    assert g.compute_capability == "8.6"
    assert g.max_memory_clock_hz == 9751e6
    assert g.power_limit_watts == 350
    assert g.derived_bandwidth_bytes_per_s == pytest.approx(2 * 9751e6 * 384 / 8)
    assert g.unsupported == ("mig_mode",)
    assert nv.calls == ["init", "shutdown"]


def test_not_supported_fields_are_none(nvml):
    nvml([OLD_DRIVER_T4])
    (g,) = read_local_gpus()
    assert g.max_sm_clock_hz is None and g.bus_width_bits is None and g.power_limit_watts is None
    assert g.derived_bandwidth_bytes_per_s is None
    assert set(g.unsupported) == {
        "max_sm_clock",
        "max_memory_clock",
        "bus_width",
        "power_limit",
        "mig_mode",
    }


def test_local_3090_matches_database(nvml):
    nvml([RTX3090])
    d = get_device("local")
    assert d.key == "rtx-3090"
    assert d.origin.startswith("nvml:0:")
    assert d.peak("fp32").flops_per_s == pytest.approx(35.6e12)
    diffs = d.extra["local_differences"]
    # 2100 vs 1695 MHz is reported; bandwidth 936.1 vs 936 and memory agree
    assert any("max SM clock 2100 MHz" in x for x in diffs)
    assert not any("bandwidth" in x or "memory" in x for x in diffs)


def test_local_capped_mig_card_differences(nvml):
    nvml([RTX3090, A100_MIG_CAPPED])
    d = get_device("local:1")
    assert d.key == "a100-sxm4-80gb"
    diffs = " | ".join(d.extra["local_differences"])
    assert "MIG is enabled" in diffs
    assert "power-capped: limit 250 W below the datasheet 400 W" in diffs
    assert any(n.startswith("local GPU: ") for n in d.notes)


def test_local_card_with_less_memory(nvml):
    nvml([OLD_DRIVER_T4])
    d = get_device("local")
    assert d.key == "tesla-t4"
    assert d.memory_bytes == 15 * 2**30  # the live figure
    assert any(
        "memory 15.0 GiB differs from the datasheet 16.0 GiB" in x
        for x in d.extra["local_differences"]
    )


def test_unknown_local_card(nvml):
    nvml([{**RTX3090, "name": "NVIDIA Quantum Card 9000"}])
    with pytest.raises(DeviceError, match="not in the spec database; add a spec file"):
        get_device("local")


def test_no_driver(nvml):
    nvml([], init_error=NVMLError_LibraryNotFound)
    with pytest.raises(DeviceError, match="cannot talk to an NVIDIA driver"):
        get_device("local")


def test_no_gpu(nvml):
    nvml([])
    with pytest.raises(DeviceError, match="no NVIDIA GPU found"):
        get_device("local")


def test_nvml_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    with pytest.raises(DeviceError, match="NVML is not available"):
        get_device("local")


def test_index_out_of_range(nvml):
    nvml([RTX3090])
    with pytest.raises(DeviceError, match="out of range"):
        get_device("local:3")


@pytest.mark.parametrize(
    ("name", "local", "cpu"),
    [
        ("local", True, False),
        ("nvml", True, False),
        ("This", True, False),
        ("local:1", True, False),
        ("ｌｏｃａｌ：１", True, False),  # full-width, colon too (NFKC)
        ("cpu", False, True),
        ("host-cpu", False, True),
        ("ｃｐｕ", False, True),
        ("3090", False, False),
        ("localhost", False, False),
    ],
)
def test_the_one_test_of_the_special_device_names(name, local, cpu):
    from roofline.devices import is_cpu_name, is_local_name

    assert is_local_name(name) is local and is_cpu_name(name) is cpu


# local:٣ (Arabic-Indic) passed isdigit() and meant GPU 3: digits 0-9 only, as every number;
# local:² (superscript) read as local:2 through NFKC
@pytest.mark.parametrize("name", ["local:x", "local:-1", "local:", "local:٣", "local:²"])
def test_an_index_that_is_not_a_number_is_refused(nvml, name):
    nvml([RTX3090])  # GPU 0 exists: the name must not fall back to it
    with pytest.raises(DeviceError, match=r"local:N takes this machine's GPU index"):
        get_device(name)


def test_local_gpu_dataclass_bandwidth():
    g = LocalGpu(0, "x", None, None, None, 1215e6, 5120, None, None, None)
    # 2 x 1215 MHz x 5120 / 8 = 1555.2 GB/s (A100 40GB)
    assert g.derived_bandwidth_bytes_per_s == pytest.approx(1555.2e9)
