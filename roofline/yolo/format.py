"""The ``yolo`` spec format: a YOLOv5 model yaml profiled directly.

A document with ``backbone`` and ``head`` (or with only one of them, or with YOLO's
``depth_multiple``/``width_multiple``/``anchors`` and no ``model`` line, so that the
error can say what is missing) is a YOLO-format architecture.

Loading parses every row, builds the model once on the meta device (no memory, no
arithmetic) and runs it on a meta input of the requested size, so that every mistake
surfaces here as a one-line :class:`~roofline.errors.SpecError` naming the row, not
later inside the counter. The same pass records per-row parameters, the module count
YOLOv5 prints as "layers" and the detection strides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from roofline.errors import SpecError, error_line
from roofline.fuse import RULES, fuse_model
from roofline.spec import InputSpec, ModelSpec, check_mode
from roofline.yolo import blocks
from roofline.yolo.build import Architecture, YoloModel, is_count, parse_architecture, route

DEFAULT_IMGSZ = 640

#: keys of YOLOv5's own files, plus roofline's optional extras
YOLO_KEYS = frozenset(
    {
        "nc",
        "depth_multiple",
        "width_multiple",
        "anchors",
        "backbone",
        "head",
        "ch",
        "activation",
        "channel_multiple",
    }
)
EXTRA_KEYS = frozenset({"name", "description", "imgsz", "batch", "mode", "dtype", "fuse"})
OVERRIDES = ("imgsz", "nc", "fuse")


class YoloFormat:
    """YOLOv5 ``models/*.yaml`` files (``backbone`` + ``head``)."""

    name = "yolo"

    def detect(self, data: Mapping[str, Any]) -> bool:
        if "backbone" in data or "head" in data:
            return True
        return "model" not in data and any(
            k in data for k in ("depth_multiple", "width_multiple", "anchors")
        )

    def load(
        self, data: Mapping[str, Any], path: Path | None, overrides: Mapping[str, Any]
    ) -> ModelSpec:
        where = str(path) if path else "model.yaml"
        unknown_opts = set(overrides) - set(OVERRIDES)
        if unknown_opts:
            raise SpecError(
                f"{where}: option(s) {', '.join('--' + k for k in sorted(unknown_opts))} do not "
                f"apply to YOLO-format files (they take {', '.join('--' + k for k in OVERRIDES)})"
            )
        unknown = set(data) - YOLO_KEYS - EXTRA_KEYS
        if unknown:
            raise SpecError(
                f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; a YOLO-format "
                f"file takes {', '.join(sorted(YOLO_KEYS | EXTRA_KEYS))}"
            )
        nc = overrides.get("nc")
        if nc is not None and not is_count(nc):
            raise SpecError(f"--nc must be a positive integer, got {nc!r}")
        imgsz = parse_imgsz(overrides.get("imgsz", data.get("imgsz", DEFAULT_IMGSZ)), where)
        fuse = parse_fuse(overrides.get("fuse", data.get("fuse", False)), where)
        arch = parse_architecture(data, nc=nc, base=path.parent if path else None, where=where)
        facts = dry_run(arch, imgsz, fuse, where)
        rows_info = []
        for row, params in zip(arch.rows, facts["row_params"], strict=True):
            d = row.as_info()
            d["params"] = params
            rows_info.append(d)
        info: dict[str, Any] = {
            "yolo_rows": rows_info,
            "nc": arch.nc,
            "depth_multiple": arch.depth_multiple,
            "width_multiple": arch.width_multiple,
            "ch": arch.ch,
            "imgsz": list(imgsz),
            "fused": fuse is not None,
            "fuse_rule": fuse,
            "layers": facts["layers"],
            "params": facts["params"],
            "strides": facts["strides"],
        }
        name = str(data.get("name") or (path.stem if path else "yolo"))
        return ModelSpec(
            name=name,
            factory=lambda: build_model(arch, fuse),
            inputs=(InputSpec((1, arch.ch, *imgsz)),),
            mode=check_mode(str(data.get("mode", "inference")), where),
            format=self.name,
            source=path,
            info=info,
        )


def parse_imgsz(value: Any, where: str = "model.yaml") -> tuple[int, int]:
    """``640`` or ``[h, w]`` → ``(h, w)``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(is_count(v) for v in value)
    ):
        return int(value[0]), int(value[1])
    raise SpecError(f"{where}: imgsz must be a positive integer or [height, width], got {value!r}")


def parse_fuse(value: Any, where: str = "model.yaml") -> str | None:
    """``False``/``None`` → no fusion; ``True`` → YOLOv5's rule; a rule name → that rule."""
    if value is None or value is False:
        return None
    if value is True:
        return "yolov5"
    if isinstance(value, str) and value in RULES:
        return value
    raise SpecError(
        f"{where}: fuse must be true, false or one of {', '.join(RULES)}, got {value!r}"
    )


def build_model(arch: Architecture, fuse: str | None = None) -> YoloModel:
    """Build (and optionally fuse) the model in the current device/tensor context."""
    model = arch.build()
    if fuse:
        fuse_model(model, fuse)
    return model


def dry_run(
    arch: Architecture, imgsz: tuple[int, int], fuse: str | None, where: str
) -> dict[str, Any]:
    """Build on the meta device and push a meta image through, row by row."""
    with torch.device("meta"):
        model = build_model(arch, fuse)
        x: Any = torch.empty(1, arch.ch, *imgsz)
    model.eval()
    outputs: list[Any] = []
    h = imgsz[0]
    with torch.no_grad():
        for row, m in zip(arch.rows, model.model, strict=True):
            x = route(x, outputs, m.f)
            if isinstance(m, blocks.Detect):
                m.stride = [h / feat.shape[-2] for feat in x]
            try:
                x = m(x)
            except Exception as exc:
                hint = ""
                stride = max(32, _max_stride(arch, fuse))
                if imgsz[0] % stride or imgsz[1] % stride:
                    up = [-(-v // stride) * stride for v in imgsz]
                    hint = (
                        f" (image size {imgsz[0]}x{imgsz[1]} is not a multiple of {stride}, the "
                        f"model's largest stride, to which YOLOv5 rounds sizes: try --imgsz "
                        f"{up[0]}"
                        + (f" or [{up[0]}, {up[1]}] in the yaml" if up[0] != up[1] else "")
                        + ")"
                    )
                raise SpecError(
                    f"{where}: {row.where}: forward failed on a {imgsz[0]}x{imgsz[1]} "
                    f"input: {error_line(exc)}{hint}"
                ) from exc
            outputs.append(x)
    strides = [list(m.stride) for m in model.model if isinstance(m, blocks.Detect)]
    return {
        "row_params": [_numel(m) for m in model.model],
        "params": _numel(model),
        "layers": len(list(model.modules())),
        "strides": strides[0] if len(strides) == 1 else strides,
    }


def _max_stride(arch: Architecture, fuse: str | None) -> int:
    """The model's largest detection stride, found by a meta pass at 1280x1280 (a
    multiple of every stride up to P7's 128); 0 if that pass fails too."""
    try:
        with torch.device("meta"):
            model = build_model(arch, fuse)
            x = torch.empty(1, arch.ch, 1280, 1280)
        model.eval()
        with torch.no_grad():
            model(x)
    except Exception:
        return 0
    strides = [s for m in model.model if isinstance(m, blocks.Detect) for s in m.stride]
    return int(max(strides, default=0))


def _numel(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
