"""`roofline gpus` and `roofline calibrate` through roofline.cli.main, plus the shared options."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import pytest

from roofline.cli import main
from roofline.cli._device_args import add_device_arguments, device_from_args
from roofline.devices import host_cpu
from roofline.devices.cache import save_measured
from roofline.devices.model import MeasuredCeilings


def one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("roofline: error: ")
    return err


def test_gpus_table(capsys):
    assert main(["gpus"]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA GeForce RTX 3090" in out and "AMD Instinct MI300X" in out
    row = next(line for line in out.splitlines() if line.startswith("rtx-3090 "))
    # 24 GiB, 936 GB/s, FP32 35.6, TF32 35.6, FP16 71.0, BF16 71.0, no FP8, INT8 284.0, 350 W, ridge 35.6e12/936e9 = 38.0
    assert row.split()[-10:] == [
        "24",
        "936",
        "35.6",
        "35.6",
        "71.0",
        "71.0",
        "-",
        "284.0",
        "350",
        "38.0",
    ]
    for header in (
        "mem GiB",
        "BW GB/s",
        "FP32 TFLOP/s",
        "TF32",
        "FP16",
        "BF16",
        "FP8",
        "INT8 TOP/s",
        "TDP W",
        "ridge fp32",
    ):
        assert header in out


def test_gpus_json(tmp_path, capsys):
    target = tmp_path / "out.json"
    assert main(["gpus", "--json", str(target)]) == 0
    data = json.loads(target.read_text())
    assert isinstance(data, list) and len(data) >= 40
    by_key = {d["key"]: d for d in data}
    d = by_key["rtx-3090"]
    assert "3090" in d["aliases"]
    assert d["memory_bytes"] == 24 * 2**30
    assert d["memory_bandwidth_bytes_per_s"] == 936e9
    assert d["tdp_watts"] == 350
    assert d["peak_flops"]["fp32"] == pytest.approx(35.6e12)
    assert d["peak_flops"]["int8"] == pytest.approx(284e12)
    assert "fp8" not in d["peak_flops"]
    assert by_key["h100-sxm"]["peak_flops"]["fp8"] == pytest.approx(1979e12)
    assert d["sources"] and d["peaks"]["fp16"]["pipe"] == "tensor"


def test_gpus_json_never_replaces_a_users_file(tmp_path, capsys):
    mine = tmp_path / "notes.json"
    mine.write_text("precious\n")
    assert main(["gpus", "--json", str(mine)]) == 2
    assert "not written by roofline" in capsys.readouterr().err
    assert mine.read_text() == "precious\n"
    # its own list (no generator field: the file is a list) and object are replaced
    ours, one = tmp_path / "all.json", tmp_path / "one.json"
    for _ in range(2):
        assert main(["gpus", "--json", str(ours)]) == 0
        assert main(["gpus", "show", "3090", "--json", str(one)]) == 0
    assert json.loads(one.read_text())["key"] == "rtx-3090"
    assert main(["gpus", "--json", str(mine), "--force"]) == 0
    assert isinstance(json.loads(mine.read_text()), list)


def test_gpus_show(capsys):
    assert main(["gpus", "show", "rtx 3090"]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA GeForce RTX 3090" in out
    assert "GA102 GPU Architecture whitepaper" in out
    assert "Sources:" in out and "1695 MHz" in out and "936 GB/s" in out
    # the 3090's dense TF32 equals its fp32: fp32 convolutions keep the fp32 roof
    assert "tf32 tensor roof" not in out
    # an A100's TF32 tensor cores: fp32 convolutions run there by default
    assert main(["gpus", "show", "a100"]) == 0
    out = capsys.readouterr().out
    assert "fp32 analyses hold dense convolutions to the tf32 tensor roof (156 TFLOP/s)" in out


def test_gpus_show_json(tmp_path):
    target = tmp_path / "one.json"
    assert main(["gpus", "show", "a100", "--json", str(target)]) == 0
    d = json.loads(target.read_text())
    assert isinstance(d, dict) and d["key"] == "a100-sxm4-80gb"
    assert set(d["peak_flops"]) == {"fp64", "fp32", "tf32", "fp16", "bf16", "int8"}


def test_gpus_specs_flag(tmp_path, capsys, spec_writer):
    folder = tmp_path / "specs"
    spec_writer(folder, key="lab-card", name="Lab Card")
    assert main(["gpus", "--specs", str(folder)]) == 0
    assert "Lab Card" in capsys.readouterr().out
    assert main(["gpus", "show", "lab card", "--specs", str(folder)]) == 0
    assert "Example datasheet" in capsys.readouterr().out


def test_key_differing_from_file_name_via_file_folder_and_env(
    tmp_path, monkeypatch, capsys, spec_writer
):
    folder = tmp_path / "specs"
    folder.mkdir()
    src = spec_writer(tmp_path / "src", key="my-card", name="My Card")
    (folder / "my_card.yaml").write_text(src.read_text())
    assert main(["gpus", "show", str(folder / "my_card.yaml")]) == 0
    assert "My Card" in capsys.readouterr().out
    assert main(["gpus", "show", "my-card", "--specs", str(folder)]) == 0
    assert "My Card" in capsys.readouterr().out
    monkeypatch.setenv("ROOFLINE_GPU_SPECS", str(folder))
    assert main(["gpus", "show", "my_card"]) == 0
    assert "My Card" in capsys.readouterr().out
    # a second file with the same key in the folder: one line naming both, exit 2
    (folder / "other.yaml").write_text(src.read_text())
    assert main(["gpus"]) == 2
    err = one_line_error(capsys)
    assert "other.yaml" in err and "my_card.yaml" in err


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["gpus", "show", "3O90"], "closest: rtx-3090"),
        (["gpus", "show", "rtx 6000"], "ambiguous"),
        (["calibrate", "--gpu", "3090"], "use --gpu local or --gpu cpu"),
    ],
)
def test_bad_input_exit_2(argv, expect, capsys):
    assert main(argv) == 2
    assert expect in one_line_error(capsys)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_pipe_or_device_in_a_specs_folder_is_refused_unread(tmp_path, capsys, special):
    """A named pipe called x.yaml in a --specs folder blocked the command for ever on
    its read (nobody writes to it), a link to /dev/zero read 16 MiB before refusing:
    neither is a spec file, and neither is opened."""
    import os
    import signal

    folder = tmp_path / "specs"
    folder.mkdir()
    if special == "fifo":
        os.mkfifo(folder / "x.yaml")
    else:
        (folder / "x.yaml").symlink_to(special)

    def hung(*a):
        raise AssertionError("the spec folder's pipe was opened: the read blocked")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        assert main(["gpus", "--specs", str(folder)]) == 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert "x.yaml: not a regular file (a pipe or device)" in one_line_error(capsys)


def test_malformed_spec_file_exit_2(tmp_path, capsys, spec_writer):
    folder = tmp_path / "specs"
    spec_writer(folder, key="broken", text="key: broken\nname: [oops\n")
    assert main(["gpus", "--specs", str(folder)]) == 2
    assert "broken.yaml:3:1: YAML syntax error" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # was "malformed YAML at line 1; fix the syntax": the syntax was fine
        (
            'key: !!python/object/apply:os.system ["echo hi"]\n',
            "x.yaml:1: unsafe or unknown YAML tag (",
        ),
        ("? [a, b]\n: 1\n", "x.yaml:1: found unhashable key; a key must be plain text"),
        # was a TypeError traceback (the repeated-key check unpacked a sequence)
        ("key: x\nname: !!map [1, 2]\n", "x.yaml:2: expected a mapping node, but found"),
        ("key: !!float x\n", "x.yaml:1: cannot build the value (could not convert"),
    ],
)
def test_a_device_file_the_safe_loader_refuses_says_why(tmp_path, capsys, text, expect):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    for argv in (["gpus", "show", str(path)], ["gpus", "--specs", str(tmp_path)]):
        assert main(argv) == 2
        err = one_line_error(capsys)
        assert expect in err, err
        assert (
            "device spec files are plain data" in err
            or "unhashable" in err
            or "write the value as plain YAML" in err
        )


def test_spec_file_errors_name_the_folder_as_given(tmp_path, capsys, spec_writer, monkeypatch):
    # `--specs myspecs`: the error named /tmp/.../myspecs/broken.yaml, an absolute path
    # the user never typed
    spec_writer(tmp_path / "myspecs", key="broken", text="key: broken\nname: [oops\n")
    monkeypatch.chdir(tmp_path)
    assert main(["gpus", "--specs", "myspecs"]) == 2
    err = one_line_error(capsys)
    assert err.startswith("roofline: error: myspecs/broken.yaml:3:1: YAML syntax error"), err
    assert str(tmp_path) not in err


def test_negative_peak_exit_2(tmp_path, capsys, spec_writer):
    folder = tmp_path / "specs"
    spec_writer(folder, key="neg", fp32=-1)
    assert main(["gpus", "--specs", str(folder)]) == 2
    err = one_line_error(capsys)
    assert "neg.yaml" in err and "'peaks.fp32.plain.tflops'" in err and "positive" in err


def test_unknown_precision_exit_2(tmp_path, capsys, spec_writer):
    folder = tmp_path / "specs"
    path = spec_writer(folder, key="odd")
    path.write_text(path.read_text().replace("fp16: {tensor", "fp4: {tensor"))
    assert main(["gpus", "show", str(path)]) == 2
    assert "'peaks.fp4': unknown precision" in one_line_error(capsys)


def test_calibrate_local_without_nvml_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert main(["calibrate", "--gpu", "local"]) == 2
    assert "NVML is not available" in one_line_error(capsys)


def test_calibrate_reads_full_width_names_as_profile_does(monkeypatch, capsys):
    # profile --gpu ｃｐｕ was the host CPU, calibrate --gpu ｃｐｕ "use --gpu local or
    # --gpu cpu": calibrate matched the names without the NFKC step get_device takes
    from roofline.errors import MeasurementError

    def measured(quick=False, progress=None):
        raise MeasurementError("the host CPU was measured")

    monkeypatch.setattr(host_cpu, "measure", measured)
    assert main(["calibrate", "--gpu", "ｃｐｕ", "--ceilings-only"]) == 2
    assert "the host CPU was measured" in one_line_error(capsys)
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert main(["calibrate", "--gpu", "ＬＯＣＡＬ"]) == 2
    assert "NVML is not available" in one_line_error(capsys)


def test_calibrate_cpu(monkeypatch, capsys):
    real = host_cpu.measure
    monkeypatch.setattr(
        host_cpu, "measure", lambda quick=False, progress=None: real(quick=True, progress=progress)
    )
    assert main(["calibrate", "--gpu", "cpu", "--quick", "--ceilings-only"]) == 0
    captured = capsys.readouterr()
    assert "per-module overhead" not in captured.err  # --ceilings-only skips the latency fit
    assert "gemm fp32" in captured.out and "copy bandwidth" in captured.out
    assert "calibrate: host CPU: fp32 matmul" in captured.err  # progress on stderr


def _parse(argv):
    p = argparse.ArgumentParser()
    add_device_arguments(p)
    return p.parse_args(argv)


def test_device_args_helper():
    assert device_from_args(_parse([])) is None
    assert device_from_args(_parse(["--gpu", "3090"])).key == "rtx-3090"
    assert device_from_args(_parse(["--device", "a100"])).key == "a100-sxm4-80gb"
    save_measured(
        "gpu-rtx-3090",
        MeasuredCeilings({"fp32": 20e12}, {"fp32": 20e12}, 800e9, 4e-6, "2026-01-01", "2.15", "h"),
    )
    d = device_from_args(_parse(["--gpu", "3090", "--measured"]))
    assert d.is_measured_view and d.peak("fp32").flops_per_s == 20e12


def test_a_missing_specs_folder_fails_without_a_gpu_too(tmp_path, capsys):
    # a typo in --specs must not pass unnoticed because no device was looked up
    from tests.fixtures.models import TINY_SPEC

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    assert main(["profile", str(spec), "--specs", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "spec folder" in err and "does not exist" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        (["--dtype", "fp16"], "a latency calibration on the CPU cannot time fp16 kernels: use"),
        (["--dtype", "fp32", "nope"], "unknown dtype 'nope'"),
        (["--dtype", "bf16", "--ceilings-only"], "--ceilings-only fits none"),
    ],
)
def test_calibrate_dtype_checked_before_measuring(monkeypatch, capsys, extra, expect):
    def no_work(*a, **k):
        raise AssertionError("calibrate measured before checking --dtype")

    monkeypatch.setattr(host_cpu, "measure", no_work)
    assert main(["calibrate", "--gpu", "cpu", *extra]) == 2
    assert expect in one_line_error(capsys)


def test_calibrate_checks_its_specs_folders_before_measuring(monkeypatch, tmp_path, capsys):
    """``calibrate --gpu cpu --specs TYPO`` measured for minutes: the CPU reads no spec
    folder, so the missing one was never looked at."""

    def no_work(*a, **k):
        raise AssertionError("calibrate measured before checking --specs")

    monkeypatch.setattr(host_cpu, "measure", no_work)
    assert main(["calibrate", "--gpu", "cpu", "--specs", str(tmp_path / "nope")]) == 2
    assert "spec folder" in one_line_error(capsys)


def test_calibrate_checks_its_cache_before_measuring(monkeypatch, tmp_path, capsys):
    """With $ROOFLINE_CACHE_DIR naming a file, calibrate measured first and then failed
    to store what it had measured (minutes without --quick)."""

    def no_work(*a, **k):
        raise AssertionError("calibrate measured before checking where it stores")

    monkeypatch.setattr(host_cpu, "measure", no_work)
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("")
    monkeypatch.setenv("ROOFLINE_CACHE_DIR", str(not_a_folder))
    assert main(["calibrate", "--gpu", "cpu"]) == 2
    err = one_line_error(capsys)
    assert f"cannot write measured ceilings under {not_a_folder}/measured" in err, err
    assert f"{not_a_folder} is not a folder); set $ROOFLINE_CACHE_DIR" in err, err


def test_calibrate_cpu_for_bf16_models(monkeypatch, capsys):
    # one latency fit per dtype asked for, each stored beside the others
    from roofline.latency import store

    real = host_cpu.measure
    monkeypatch.setattr(
        host_cpu, "measure", lambda quick=False, progress=None: real(quick=True, progress=progress)
    )
    fitted = []

    def fit(target, *, quick=False, progress=None, dtype="float32"):
        from tests.latency.test_predict import eff

        fitted.append((target, quick, dtype))
        return None, dataclasses.replace(eff(), dtype=dtype)

    monkeypatch.setattr(store, "calibrate_and_store", fit)
    assert main(["calibrate", "--gpu", "cpu", "--quick", "--dtype", "bf16", "fp32", "bf16"]) == 0
    out = capsys.readouterr().out
    assert fitted == [("cpu", True, "bfloat16"), ("cpu", True, "float32")]
    assert "latency model (bf16 kernels" in out and "latency model (fp32 kernels" in out
    # --dtype given twice adds to the list (argparse's default kept the last one only,
    # silently skipping the fp32 fit)
    fitted.clear()
    assert main(["calibrate", "--gpu", "cpu", "--quick", "--dtype", "fp32", "--dtype", "bf16"]) == 0
    assert fitted == [("cpu", True, "float32"), ("cpu", True, "bfloat16")]


def test_calibrate_takes_the_device_names_get_device_takes(monkeypatch, capsys):
    # host-cpu is the CPU (the dtype check answers for it, before any measurement);
    # local:x is refused rather than crashing on int()
    monkeypatch.setattr(host_cpu, "measure", lambda *a, **k: pytest.fail("measured"))
    assert main(["calibrate", "--gpu", "host-cpu", "--dtype", "fp16"]) == 2
    assert "calibration on the CPU cannot time fp16" in one_line_error(capsys)
    assert main(["calibrate", "--gpu", "local:x"]) == 2
    assert "local:x" in one_line_error(capsys)
    # local:² is no index either (read through NFKC first it was GPU 2, as in no
    # other command)
    assert main(["calibrate", "--gpu", "local:²"]) == 2
    assert "local:N takes this machine's GPU index" in one_line_error(capsys)
