"""The torchvision zoo: roofline's MACs and parameters against torchvision's own figures.

torchvision documents, for each pretrained weight, ``meta["_ops"]`` (its "GFLOPS"
column, which counts multiply-accumulates of convolutions and matrix products) and
``meta["num_params"]``. This script profiles every model in
``torchvision.models.list_models()`` the way the tool does (a :class:`ModelSpec`
built on fake tensors, counted by :func:`roofline.counting.profile_spec`) at the
input size the documented figure was computed at, and compares.

The model is built by torchvision's own builder *with* the weights enum, so the
builder sets what those weights imply (class count, image size, auxiliary heads,
frozen batch norms, quantization), while the weights themselves are never
downloaded: ``WeightsEnum.get_state_dict`` and the ``load_state_dict`` that follows
are stubbed out for the build. Input sizes, as torchvision's metadata script used
them: classification and quantization ``1x3xCxC`` with C the weights' crop size;
video ``1x3x16xCxC`` (16 frames); segmentation ``1x3x520x520`` (the resize size);
detection one square image (the model's own transform resizes it, e.g. to 800x800);
optical flow two ``1x3xHxW`` frames (``--flow-size``).

A model whose forward depends on tensor values (detection post-processing) cannot
run on fake tensors; it is counted again over real tensors (``profile --real``),
unless ``--fake-only``.

    .venv/bin/python benchmarks/zoo_counts.py [--only resnet50,vit_b_16] [--json out.json]
        [--out docs/zoo_table.md] [--all-weights] [--family classification,video]

Progress goes to stderr; the Markdown table to stdout (and ``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchvision
from torchvision import models

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import fmt, machine_line, md_cell  # noqa: E402

from roofline.counting import profile_spec  # noqa: E402
from roofline.counting.tracing import is_data_dependent  # noqa: E402
from roofline.errors import first_line  # noqa: E402
from roofline.spec import InputSpec, ModelSpec  # noqa: E402

#: torchvision's model families, in the order its metadata script visited them
FAMILIES = {
    "classification": models,
    "video": models.video,
    "segmentation": models.segmentation,
    "optical_flow": models.optical_flow,
    "detection": models.detection,
    "quantization": models.quantization,
}

#: frames per clip for the video models (torchvision's script: ``t=16``)
VIDEO_FRAMES = 16
#: side of the square image given to the detection models (their transform resizes it)
DETECTION_SIZE = 800
#: rounding of the documented figures: 3 decimals of GMACs
DOC_ROUNDING = 0.0005e9
#: above this relative difference (and outside the rounding) a row is flagged
TOLERANCE = 0.005


@dataclass
class Row:
    """One model (one weights entry) of the sweep."""

    model: str
    family: str
    weights: str
    input: str = ""
    doc_gmacs: float | None = None
    gmacs: float | None = None
    doc_params: int | None = None
    params: int | None = None
    counter: str = ""
    seconds: float = 0.0
    uncounted: dict[str, int] = field(default_factory=dict)
    error: str = ""
    #: detection: the proposals and detections the value-dependent heads ran on
    detail: str = ""

    @property
    def rel_diff(self) -> float | None:
        if self.gmacs is None or not self.doc_gmacs:
            return None
        return self.gmacs / self.doc_gmacs - 1

    @property
    def macs_ok(self) -> bool | None:
        if self.gmacs is None or self.doc_gmacs is None:
            return None
        diff = abs(self.gmacs - self.doc_gmacs) * 1e9
        return diff <= DOC_ROUNDING or diff <= TOLERANCE * self.doc_gmacs * 1e9

    @property
    def params_ok(self) -> bool | None:
        if self.params is None or self.doc_params is None:
            return None
        return self.params == self.doc_params

    @property
    def status(self) -> str:
        if self.error:
            return "failed" if not self.error.startswith("skipped") else "skipped"
        flags = []
        if self.macs_ok is False:
            flags.append("MACs")
        if self.params_ok is False:
            flags.append("params")
        if self.uncounted:
            flags.append("uncounted")
        return "ok" if not flags else "differs: " + ", ".join(flags)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(rel_diff=self.rel_diff, status=self.status)
        return d


class _CountOverReal(Exception):
    """Internal: go straight to the count over real tensors."""


#: detection heads whose work depends on how many proposals or detections survive
_ROI_HEADS = {
    "roi_heads.box_head": "proposals",
    "roi_heads.mask_head": "mask detections",
    "roi_heads.keypoint_head": "keypoint detections",
}


def _detection_detail(prof: Any) -> str:
    """How many rows the value-dependent detection heads ran on."""
    parts = []
    for module, what in _ROI_HEADS.items():
        info = prof.module(module)
        if info is not None and info.input_shape:
            parts.append(f"{info.input_shape[0][0]} {what}")
    return ", ".join(parts)


class _NoStateDict(dict):
    """Stands for a downloaded state dict: ``load_state_dict`` ignores it."""


@contextlib.contextmanager
def no_weight_download() -> Iterator[None]:
    """Let torchvision's builders take a weights enum without downloading it."""
    from torchvision.models._api import WeightsEnum

    get_state_dict = WeightsEnum.get_state_dict
    load_state_dict = torch.nn.Module.load_state_dict

    def fake_get(self: Any, *args: Any, **kwargs: Any) -> dict:
        return _NoStateDict()

    def fake_load(self: torch.nn.Module, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(state_dict, _NoStateDict):
            return None
        return load_state_dict(self, state_dict, *args, **kwargs)

    WeightsEnum.get_state_dict = fake_get  # type: ignore[method-assign]
    torch.nn.Module.load_state_dict = fake_load  # type: ignore[method-assign]
    try:
        yield
    finally:
        WeightsEnum.get_state_dict = get_state_dict  # type: ignore[method-assign]
        torch.nn.Module.load_state_dict = load_state_dict  # type: ignore[method-assign]


def _crop(weights: Any) -> tuple[int, int]:
    crop = weights.transforms.keywords.get("crop_size", 224)
    if isinstance(crop, int):
        return crop, crop
    return (crop[0], crop[0]) if len(crop) == 1 else (crop[0], crop[1])


def input_specs(family: str, weights: Any, flow_size: tuple[int, int]) -> tuple[InputSpec, ...]:
    """The inputs the documented figure was computed at (see the module docstring)."""
    if family in ("classification", "quantization"):
        return (InputSpec((1, 3, *_crop(weights))),)
    if family == "video":
        return (InputSpec((1, 3, VIDEO_FRAMES, *_crop(weights))),)
    if family == "segmentation":
        size = weights.transforms.keywords.get("resize_size", 520)
        return (InputSpec((1, 3, size, size)),)
    if family == "detection":
        return (InputSpec((1, 3, DETECTION_SIZE, DETECTION_SIZE)),)
    if family == "optical_flow":
        return (InputSpec((1, 3, *flow_size)), InputSpec((1, 3, *flow_size)))
    raise ValueError(family)


def model_spec(name: str, family: str, weights: Any, flow_size: tuple[int, int]) -> ModelSpec:
    """A spec that builds ``name`` as its builder does with ``weights`` (not loaded)."""
    extra = {"quantize": True} if family == "quantization" else {}

    def build() -> torch.nn.Module:
        with no_weight_download(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return models.get_model(name, weights=weights, **extra).eval()

    return ModelSpec(name=name, factory=build, inputs=input_specs(family, weights, flow_size))


def sweep_entries(
    only: set[str] | None, families: set[str] | None, all_weights: bool
) -> list[tuple[str, str, Any]]:
    """(model, family, weights) to profile, in family order."""
    entries = []
    seen: set[str] = set()
    for family, module in FAMILIES.items():
        if families and family not in families:
            continue
        for name in models.list_models(module=module):
            if name in seen or (only and name not in only):
                continue
            seen.add(name)
            weights = list(models.get_model_weights(name))
            if not all_weights:
                weights = weights[:1]
            else:  # one per distinct documented figure and input
                distinct: dict[tuple, Any] = {}
                for w in weights:
                    key = (w.meta.get("_ops"), w.meta.get("num_params"), str(w.transforms))
                    distinct.setdefault(key, w)
                weights = list(distinct.values())
            entries.extend((name, family, w) for w in weights)
    return entries


def profile_one(
    name: str,
    family: str,
    weights: Any,
    flow_size: tuple[int, int],
    fake_only: bool,
    real: bool = False,
) -> Row:
    """Profile one weights entry on fake tensors (over real ones when the model is
    data-dependent, or when ``real``)."""
    row = Row(
        model=name,
        family=family,
        weights=weights.name,
        doc_gmacs=weights.meta.get("_ops"),
        doc_params=weights.meta.get("num_params"),
    )
    spec = model_spec(name, family, weights, flow_size)
    row.input = " + ".join("x".join(map(str, i.shape)) for i in spec.inputs)
    start = time.perf_counter()
    try:
        try:
            if real:
                raise _CountOverReal
            prof = profile_spec(spec)
        except Exception as exc:
            if not real and (fake_only or not is_data_dependent(exc)):
                raise
            start = time.perf_counter()  # the real count's own time
            torch.manual_seed(0)  # proposals and detections depend on the values
            with torch.no_grad():
                prof = profile_spec(spec, real=True)
        row.counter = prof.counter
        row.gmacs = prof.totals().macs / 1e9
        row.params = prof.params
        row.uncounted = dict(prof.uncounted_ops)
        row.detail = _detection_detail(prof) if family == "detection" else ""
    except Exception as exc:
        row.error = f"{type(exc).__name__}: {first_line(exc)}"
    row.seconds = time.perf_counter() - start
    return row


def profile_in_child(name: str, weights: Any, flow_size: tuple[int, int]) -> Row:
    """Count a quantized model over real tensors in a child process.

    Quantized models cannot be built on fake tensors (``quantize_model`` calibrates
    with a forward and converts to quantized kernels, which have no fake-tensor
    implementation: "Mixing fake modes NYI"), so they are counted over real tensors;
    some quantized engines crash the process (qnnpack here: SIGSEGV), hence the child.
    """
    cmd = [sys.executable, __file__, "--child", f"{name}:{weights.name}"]
    cmd += ["--flow-size", "x".join(map(str, flow_size))]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        done = None
    if done is not None and done.returncode == 0:
        data = json.loads(done.stdout.strip().splitlines()[-1])
        data.pop("rel_diff", None)
        data.pop("status", None)
        return Row(**data)
    row = Row(
        model=name,
        family="quantization",
        weights=weights.name,
        doc_gmacs=weights.meta.get("_ops"),
        doc_params=weights.meta.get("num_params"),
        input=" + ".join(
            "x".join(map(str, i.shape)) for i in input_specs("quantization", weights, flow_size)
        ),
        counter="real",
        seconds=time.perf_counter() - start,
    )
    if done is None:
        row.error = "timed out (600 s) counting over real tensors"
    elif done.returncode < 0:
        row.error = (
            f"crashed (signal {-done.returncode}) counting over real tensors with the "
            f"{weights.meta.get('backend', '?')} engine"
        )
    else:
        row.error = first_line(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    return row


def markdown(rows: list[Row]) -> str:
    lines = [
        "| model | weights | input | documented GMACs | roofline GMACs | diff | "
        "documented params | roofline params | uncounted ops | counter | time | status | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        uncounted = ", ".join(f"{k} ×{v}" for k, v in sorted(r.uncounted.items())) or "—"
        params_diff = (
            "" if r.params_ok is not False else f" ({r.params - r.doc_params:+,})"  # type: ignore[operator]
        )
        status = r.status if not r.error else md_cell(f"{r.status}: {r.error}")
        lines.append(
            f"| {r.model} | {r.weights} | {r.input} | {fmt(r.doc_gmacs, '.3f')} | "
            f"{fmt(r.gmacs, '.3f')} | {fmt(None if r.rel_diff is None else 100 * r.rel_diff, '+.2f')}% | "
            f"{fmt(r.doc_params, ',')} | {fmt(r.params, ',')}{params_diff} | {uncounted} | "
            f"{r.counter or '—'} | {r.seconds:.2f} s | {status} | {r.detail or ''} |"
        )
    return "\n".join(lines)


def machine() -> str:
    return machine_line(torchvision)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated model names (default: every model)")
    ap.add_argument("--family", help=f"comma-separated families: {', '.join(FAMILIES)}")
    ap.add_argument(
        "--all-weights",
        action="store_true",
        help="every weights entry with its own figure or input (default: the first entry)",
    )
    ap.add_argument(
        "--flow-size",
        default="512x512",
        help="HxW of the optical-flow frames (default 512x512, where both RAFT figures match)",
    )
    ap.add_argument(
        "--fake-only",
        action="store_true",
        help="do not count data-dependent models over real tensors",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)  # MODEL:WEIGHTS, one real count
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = ap.parse_args(argv)

    only = set(args.only.split(",")) if args.only else None
    families = set(args.family.split(",")) if args.family else None
    if families and families - set(FAMILIES):
        ap.error(f"unknown family {', '.join(sorted(families - set(FAMILIES)))}")
    known = set(models.list_models())
    if only and only - known:
        ap.error(f"not a torchvision model: {', '.join(sorted(only - known))}")
    h, _, w = args.flow_size.partition("x")
    flow_size = (int(h), int(w))

    if args.child:
        name, _, wname = args.child.partition(":")
        weights = models.get_model_weights(name)[wname]
        family = next(f for f, m in FAMILIES.items() if name in models.list_models(module=m))
        row = profile_one(name, family, weights, flow_size, args.fake_only, real=True)
        print(json.dumps(row.as_dict()))
        return 0

    entries = sweep_entries(only, families, args.all_weights)
    rows = []
    total = time.perf_counter()
    for i, (name, family, weights) in enumerate(entries, 1):
        if family == "quantization" and not args.fake_only:
            row = profile_in_child(name, weights, flow_size)
        else:
            row = profile_one(name, family, weights, flow_size, args.fake_only)
        rows.append(row)
        print(
            f"[{i}/{len(entries)}] {name} {weights.name}: {row.status}"
            + (f" ({row.error})" if row.error else "")
            + f" {row.seconds:.2f} s",
            file=sys.stderr,
            flush=True,
        )
    elapsed = time.perf_counter() - total
    table = markdown(rows)
    header = f"Machine: {machine()}; {len(rows)} entries in {elapsed:.0f} s\n\n"
    print(header + table)
    if args.out:
        args.out.write_text(header + table + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": machine(), "seconds": elapsed, "rows": [r.as_dict() for r in rows]},
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
