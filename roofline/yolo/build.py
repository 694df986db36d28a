"""Build a model from a YOLOv5-format architecture, following YOLOv5's ``parse_model`` rules.

The document has ``nc``, ``depth_multiple``, ``width_multiple``, ``anchors`` and two
lists, ``backbone`` and ``head``, of rows ``[from, number, module, args]``. Rows are
numbered from 0 through both lists, as YOLOv5 prints them.

Rules (as in YOLOv5's ``models/yolo.py``):

* ``from``: -1 is the previous row, ``k >= 0`` row ``k``, other negatives count back;
  a list feeds several rows to one module (Concat, Detect).
* ``number`` > 1 is scaled to ``max(round(number * depth_multiple), 1)``.
* Channel blocks (Conv, C3, ...) get the input channels inserted as first argument; their
  output channels ``args[0]`` are scaled by ``width_multiple`` and rounded *up* to a
  multiple of ``channel_multiple`` (8; unless equal to the detection output count). The
  seed's MobileNetV3 blocks are exempt from width scaling, as in the seed's modified
  ``parse_model``. The yaml's ``activation`` replaces SiLU in every Conv.
* Blocks that take repeats (BottleneckCSP, C3, C3Ghost, C3TR, C3x) get ``number`` as
  their third argument and are built once; other modules repeated ``number`` times are
  chained in a Sequential.
* Concat's channels are the sum of its inputs; Detect and Segment get the channels of
  their inputs appended to their arguments (one input per anchor level; Segment's proto
  channels are width-scaled); Contract/Expand multiply/divide the channels by gain²;
  ``nn.BatchNorm2d`` gets the channel count; any other ``torch.nn`` module keeps its
  input's channels (``nn.Conv*`` takes ``args[1]``), except ``nn.ConvTranspose2d``, a
  channel block as in YOLOv5.
* A dotted module name (``mypkg.blocks.MyBlock``) is imported and treated like Conv:
  input channels first, ``args[0]`` is the width-scaled output channel count. A class
  can opt out of width scaling with ``yolo_width_scaling = False`` and ask for the
  repeat count as third argument with ``yolo_repeats = True``.

String arguments are resolved without ``eval``: ``nc``, ``anchors``, ``None``, ``True``,
``False`` and Python literals; anything else stays a string (``'nearest'``).
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from roofline.errors import SpecError, error_line
from roofline.yolo import blocks

#: module name → kind. "conv": channel block (c1 inserted, args[0] width-scaled);
#: "conv_fixed": channel block exempt from width scaling; "repeat": conv + repeats
#: passed in; "concat"; "detect"; "segment" (Detect plus mask prototypes); "contract" and
#: "expand" (space to depth and back: channels times or over gain squared).
BUILTIN_BLOCKS: dict[str, tuple[type[nn.Module], str]] = {
    "Conv": (blocks.Conv, "conv"),
    "DWConv": (blocks.DWConv, "conv"),
    "Focus": (blocks.Focus, "conv"),
    "Bottleneck": (blocks.Bottleneck, "conv"),
    "BottleneckCSP": (blocks.BottleneckCSP, "repeat"),
    "C3": (blocks.C3, "repeat"),
    "SPP": (blocks.SPP, "conv"),
    "SPPF": (blocks.SPPF, "conv"),
    "C3x": (blocks.C3x, "repeat"),
    "C3TR": (blocks.C3TR, "repeat"),
    "C3Ghost": (blocks.C3Ghost, "repeat"),
    "C3SPP": (blocks.C3SPP, "conv"),
    "CrossConv": (blocks.CrossConv, "conv"),
    "MixConv2d": (blocks.MixConv2d, "conv"),
    "GhostConv": (blocks.GhostConv, "conv"),
    "GhostBottleneck": (blocks.GhostBottleneck, "conv"),
    "DWConvTranspose2d": (blocks.DWConvTranspose2d, "conv"),
    "Concat": (blocks.Concat, "concat"),
    "Contract": (blocks.Contract, "contract"),
    "Expand": (blocks.Expand, "expand"),
    "Detect": (blocks.Detect, "detect"),
    "Segment": (blocks.Segment, "segment"),
    "MobileNetV3_FirstLayer": (blocks.MobileNetV3_FirstLayer, "conv_fixed"),
    "MobileNetV3_InvertedResidual": (blocks.MobileNetV3_InvertedResidual, "conv_fixed"),
}

_CONV_KINDS = ("conv", "conv_fixed", "repeat")
_NN_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def ceil_to(x: float, divisor: int = 8) -> int:
    """YOLOv5's ``make_divisible``: round up to a multiple of ``divisor``."""
    return math.ceil(x / divisor) * divisor


@dataclass(frozen=True)
class Row:
    """One resolved row: what YOLOv5 prints for it, and how to build it."""

    index: int
    section: str  # "backbone" or "head"
    section_index: int
    source: Any  # the 'from' field
    n: int  # after depth scaling (what YOLOv5 prints)
    module: str  # the name as written
    cls: type[nn.Module]
    args: tuple[Any, ...]  # the constructor arguments (what YOLOv5 prints)
    repeat: int  # how many instances are chained (1 when folded into the block)
    c_out: int

    @property
    def where(self) -> str:
        return f"row {self.index} ({self.section}[{self.section_index}], {self.module})"

    def as_info(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "from": _plain(self.source),
            "n": self.n,
            "module": self.module,
            "args": [_plain(a) for a in self.args],
        }


@dataclass(frozen=True)
class Architecture:
    """A parsed YOLO-format document, ready to build."""

    rows: tuple[Row, ...]
    nc: int | None
    depth_multiple: float
    width_multiple: float
    ch: int
    save: tuple[int, ...] = field(default=())
    where: str = "model.yaml"  #: the file, named in build-time errors like every other
    #: the yaml's ``activation`` (what ``act=True`` builds in Conv), or None for SiLU
    activation: Callable[[], nn.Module] | None = None

    def build(self) -> YoloModel:
        """Build the model in the current device/tensor context (raises on failure)."""
        with blocks.default_activation(self.activation):
            return self._build()

    def _build(self) -> YoloModel:
        layers = []
        for row in self.rows:
            try:
                if row.repeat > 1:
                    m: nn.Module = nn.Sequential(*(row.cls(*row.args) for _ in range(row.repeat)))
                else:
                    m = row.cls(*row.args)
            except Exception as exc:
                raise SpecError(
                    f"{self.where}: {row.where}: building failed: {error_line(exc)}"
                ) from exc
            m.i, m.f, m.type = row.index, row.source, row.module  # type: ignore[assignment]
            m.section = row.section  # type: ignore[assignment]  # --freeze backbone
            layers.append(m)
        return YoloModel(layers, self.save)


def route(x: Any, outputs: Sequence[Any], f: int | Sequence[int]) -> Any:
    """A row's input, YOLOv5's ``from``: the previous output (-1), the output of row
    ``f``, or a list of those."""
    if f == -1:
        return x
    if isinstance(f, int):
        return outputs[f]
    return [x if j == -1 else outputs[j] for j in f]


class YoloModel(nn.Module):
    """The rows in ``self.model`` (named ``model.0``, ``model.1`` ...), run in order.

    Each row module carries ``i`` (its index), ``f`` (its ``from``) and ``section``
    (``"backbone"`` or ``"head"``, the list it came from); outputs that a later row
    reads are kept (``save``).
    """

    def __init__(self, layers: Sequence[nn.Module], save: Sequence[int]) -> None:
        super().__init__()
        self.model = nn.Sequential(*layers)
        self.save = sorted(set(save))

    def forward(self, x: torch.Tensor) -> Any:
        image_h = x.shape[-2]
        outputs: list[Any] = []
        for m in self.model:
            x = route(x, outputs, m.f)
            if isinstance(m, blocks.Detect):
                # pixels per grid cell, from shapes only (YOLOv5 finds it by a test pass)
                m.stride = [image_h / feat.shape[-2] for feat in x]
            x = m(x)
            outputs.append(x if m.i in self.save else None)
        return x


def parse_architecture(
    data: Mapping[str, Any],
    *,
    nc: int | None = None,
    base: Path | None = None,
    where: str = "model.yaml",
) -> Architecture:
    """Resolve the rows of a YOLO-format document (no modules are built)."""
    for key in ("backbone", "head"):
        if key not in data or data[key] is None:
            raise SpecError(
                f"{where}: missing '{key}': a YOLO-format file needs both 'backbone' and "
                "'head' lists of [from, number, module, args] rows"
            )
        if not isinstance(data[key], list):
            raise SpecError(f"{where}: '{key}' must be a list of [from, number, module, args] rows")
    if not data["head"]:
        raise SpecError(
            f"{where}: 'head' is empty: a YOLO-format architecture needs head rows ending in "
            "Detect (without them only the backbone would be profiled)"
        )
    nc = nc if nc is not None else data.get("nc")
    if nc is not None and not is_count(nc):
        raise SpecError(f"{where}: 'nc' must be a positive integer, got {nc!r}")
    gd = _multiple(data, "depth_multiple", where)
    gw = _multiple(data, "width_multiple", where)
    ch_in = data.get("ch", 3)
    if not is_count(ch_in):
        raise SpecError(f"{where}: 'ch' (input channels) must be a positive integer")
    ch_mul = data.get("channel_multiple") or 8  # YOLOv5: a missing or 0 value means 8
    if not is_count(ch_mul):
        raise SpecError(
            f"{where}: 'channel_multiple' (width rounding) must be a positive integer, "
            f"got {ch_mul!r}"
        )
    activation = _parse_activation(data.get("activation"), where)
    anchors = data.get("anchors")
    na = _anchors_per_level(anchors, where)
    no = na * (nc + 5) if (na is not None and nc is not None) else None
    names = {"nc": nc, "anchors": anchors, "None": None, "True": True, "False": False}

    ch: list[int] = [ch_in]
    rows: list[Row] = []
    save: list[int] = []
    entries = [("backbone", j, r) for j, r in enumerate(data["backbone"])]
    entries += [("head", j, r) for j, r in enumerate(data["head"])]
    for i, (section, j, raw) in enumerate(entries):
        label = f"row {i} ({section}[{j}])"
        if not isinstance(raw, list | tuple) or len(raw) != 4:
            raise SpecError(f"{where}: {label}: expected [from, number, module, args], got {raw!r}")
        f, n, name, args = raw
        if not isinstance(name, str) or not name:
            raise SpecError(f"{where}: {label}: the module must be a name, got {name!r}")
        label = f"row {i} ({section}[{j}], {name})"
        if args is None:
            args = []
        if not isinstance(args, list | tuple):
            raise SpecError(f"{where}: {label}: args must be a list, got {args!r}")
        if not is_count(n):
            raise SpecError(f"{where}: {label}: number must be a positive integer, got {n!r}")
        _check_from(f, i, where, label)
        args = [_resolve_arg(a, names) for a in args]
        if "nc" in _strings(raw[3]) and nc is None:
            raise SpecError(f"{where}: {label}: uses 'nc' but the file has no 'nc' (or use --nc)")
        if "anchors" in _strings(raw[3]) and anchors is None:
            raise SpecError(f"{where}: {label}: uses 'anchors' but the file has no 'anchors'")
        cls, kind = _resolve_module(name, base, where, label)

        n_scaled = max(round(n * gd), 1) if n > 1 else n
        repeat = n_scaled
        single = isinstance(f, int)
        if kind in (*_CONV_KINDS, "nn_conv", "nn_bn", "nn", "contract", "expand"):
            if not single:
                raise SpecError(
                    f"{where}: {label}: 'from' must be one row index for {name}, got {f!r} "
                    "(only Concat, Detect and blocks taking a list accept several inputs)"
                )
        c_in = ch[f] if single else None
        if kind in _CONV_KINDS:
            if not args:
                raise SpecError(
                    f"{where}: {label}: needs its output channels as the first argument"
                )
            c2 = args[0]
            if not is_count(c2):
                raise SpecError(
                    f"{where}: {label}: the first argument (output channels) must be a "
                    f"positive integer, got {c2!r}"
                )
            if kind != "conv_fixed" and c2 != no:
                c2 = ceil_to(c2 * gw, ch_mul)
            args = [c_in, c2, *args[1:]]
            if kind == "repeat":
                args.insert(2, n_scaled)
                repeat = 1
        elif kind == "nn_bn":
            args = [c_in]
            c2 = c_in
        elif kind == "nn_conv":
            c2 = args[1] if len(args) > 1 and isinstance(args[1], int) else c_in
        elif kind in ("contract", "expand"):
            gain = args[0] if args else 2
            if not is_count(gain):
                raise SpecError(
                    f"{where}: {label}: the gain must be a positive integer, got {gain!r}"
                )
            c2 = c_in * gain**2 if kind == "contract" else c_in // gain**2
            if kind == "expand" and c_in % gain**2:
                raise SpecError(
                    f"{where}: {label}: {c_in} input channels do not split into {gain}x{gain} "
                    "pixels (Expand needs a multiple of gain squared)"
                )
        elif kind == "concat":
            idx = [f] if single else list(f)
            c2 = sum(ch[x] for x in idx)
        elif kind in ("detect", "segment"):
            idx = [f] if single else list(f)
            args = list(args)
            if kind == "segment":
                if len(args) != 4 or not all(is_count(a) for a in args[2:]):
                    raise SpecError(
                        f"{where}: {label}: Segment takes [nc, anchors, masks, protos] "
                        f"(YOLOv5's [nc, anchors, 32, 256]), got {_plain(args)}"
                    )
                args[3] = ceil_to(args[3] * gw, ch_mul)  # proto channels, width-scaled
            args.append([ch[x] for x in idx])
            if len(args) > 1 and isinstance(args[1], int):
                args[1] = [list(range(args[1] * 2))] * len(idx)
            levels = args[1] if len(args) > 1 and isinstance(args[1], list | tuple) else None
            if levels is not None and len(levels) != len(idx):
                raise SpecError(
                    f"{where}: {label}: 'from' gives {len(idx)} input(s) {_plain(f)} but the "
                    f"anchors have {len(levels)} level(s): Detect needs one input per anchor level"
                )
            c2 = ch[-1]
        else:  # any other torch.nn module or list-taking user block: keeps channels
            c2 = c_in if c_in is not None else ch[-1]
        _check_arity(cls, args, where, label)
        rows.append(
            Row(
                index=i,
                section=section,
                section_index=j,
                source=f,
                n=n_scaled,
                module=name,
                cls=cls,
                args=tuple(args),
                repeat=repeat,
                c_out=c2,
            )
        )
        save.extend(x % i for x in ([f] if single else f) if x != -1)
        if i == 0:
            ch = []
        ch.append(c2)
    return Architecture(tuple(rows), nc, gd, gw, ch_in, tuple(sorted(set(save))), where, activation)


# ------------------------------------------------------------------------------ helpers


def is_count(value: Any) -> bool:
    """Whether a yaml value is a positive integer (a bool, which is an int, is not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _multiple(data: Mapping[str, Any], key: str, where: str) -> float:
    v = data.get(key, 1.0)
    if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
        raise SpecError(f"{where}: '{key}' must be a positive number, got {v!r}")
    return float(v)


def _parse_activation(text: Any, where: str) -> Callable[[], nn.Module] | None:
    """YOLOv5's ``activation: nn.LeakyReLU(0.1)`` → a factory, read without ``eval``:
    a torch.nn module class (``nn.X``, ``torch.nn.X`` or ``X``), called with literals."""
    if text is None or text == "":
        return None
    hint = (
        f"{where}: 'activation' must be a torch.nn module call such as nn.LeakyReLU(0.1), "
        f"nn.ReLU() or nn.Hardswish(), got {text!r}"
    )
    if not isinstance(text, str):
        raise SpecError(hint)
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise SpecError(hint) from None
    call_args: list[Any] = []
    call_kwargs: dict[str, Any] = {}
    if isinstance(node, ast.Call):
        try:
            call_args = [ast.literal_eval(a) for a in node.args]
            call_kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        except ValueError:
            raise SpecError(hint + " (arguments must be plain numbers or booleans)") from None
        if any(k.arg is None for k in node.keywords):
            raise SpecError(hint)
        node = node.func
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise SpecError(hint)
    parts.insert(0, node.id)
    if parts[:2] == ["torch", "nn"]:
        parts = parts[2:]
    elif parts[:1] == ["nn"]:
        parts = parts[1:]
    cls = getattr(nn, parts[0], None) if len(parts) == 1 else None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise SpecError(hint + f": torch.nn has no module {'.'.join(parts)!r}")
    try:
        cls(*call_args, **call_kwargs)
    except Exception as exc:
        raise SpecError(
            f"{where}: 'activation' {text!r} cannot be built: {error_line(exc)}"
        ) from exc
    return functools.partial(cls, *call_args, **call_kwargs)


def _anchors_per_level(anchors: Any, where: str) -> int | None:
    if anchors is None:
        return None
    if is_count(anchors):
        return anchors
    if (
        isinstance(anchors, list)
        and anchors
        and all(
            isinstance(level, list)
            and level
            and len(level) % 2 == 0
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in level)
            for level in anchors
        )
        and len({len(level) for level in anchors}) == 1
    ):
        return len(anchors[0]) // 2
    raise SpecError(
        f"{where}: 'anchors' must be a list per level of [w, h, w, h, ...] pixel sizes "
        "(the same count on every level), or the number of anchors per level"
    )


def _check_from(f: Any, i: int, where: str, label: str) -> None:
    items = [f] if isinstance(f, int) and not isinstance(f, bool) else f
    if not isinstance(items, list | tuple) or not items:
        raise SpecError(
            f"{where}: {label}: 'from' must be a row index or a list of them, got {f!r}"
        )
    for x in items:
        if not isinstance(x, int) or isinstance(x, bool):
            raise SpecError(f"{where}: {label}: 'from' must hold integers, got {x!r}")
        if x == -1:
            continue
        if x >= i or x < -i:
            earlier = f"0..{i - 1}" if i else "none (this is the first row)"
            raise SpecError(
                f"{where}: {label}: 'from' index {x} is out of range: it must name an earlier "
                f"row ({earlier}, or -1 for the previous one)"
            )


def _strings(obj: Any) -> set[str]:
    if isinstance(obj, str):
        return {obj}
    if isinstance(obj, list | tuple):
        out: set[str] = set()
        for x in obj:
            out |= _strings(x)
        return out
    return set()


def _resolve_arg(a: Any, names: Mapping[str, Any]) -> Any:
    """A string argument → its value (names, literals); anything else unchanged."""
    if not isinstance(a, str):
        return a
    if a in names:
        return names[a]
    try:
        return ast.literal_eval(a)
    except (ValueError, SyntaxError):
        return a


def _resolve_module(
    name: str, base: Path | None, where: str, label: str
) -> tuple[type[nn.Module], str]:
    if name in BUILTIN_BLOCKS:
        return BUILTIN_BLOCKS[name]
    for prefix in ("nn.", "torch.nn."):
        if name.startswith(prefix):
            cls = getattr(nn, name[len(prefix) :], None)
            if isinstance(cls, type) and issubclass(cls, nn.Module):
                return cls, _nn_kind(cls)
            raise SpecError(
                f"{where}: {label}: unknown module {name!r}: torch.nn has no {name[len(prefix) :]!r}"
            )
    if "." in name:
        from roofline.spec import resolve_callable

        module_part, _, attr = name.rpartition(".")
        obj = resolve_callable(f"{module_part}:{attr}", base or Path.cwd(), f"{where}: {label}")
        if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
            raise SpecError(f"{where}: {label}: {name!r} is not an nn.Module class")
        if obj.__module__.startswith("torch.nn"):
            return obj, _nn_kind(obj)
        if getattr(obj, "yolo_repeats", False):
            return obj, "repeat"
        if getattr(obj, "yolo_width_scaling", True) is False:
            return obj, "conv_fixed"
        return obj, "conv"
    known = ", ".join(sorted(BUILTIN_BLOCKS))
    raise SpecError(
        f"{where}: {label}: unknown module {name!r}; built-in blocks are {known}, "
        "plus nn.<Module> from torch.nn, or a dotted import path to your own class"
    )


def _nn_kind(cls: type[nn.Module]) -> str:
    if cls is nn.ConvTranspose2d:  # YOLOv5 lists it with its channel blocks
        return "conv"
    if issubclass(cls, nn.BatchNorm2d):
        return "nn_bn"
    if issubclass(cls, _NN_CONVS):
        return "nn_conv"
    return "nn"


def _check_arity(cls: type[nn.Module], args: Sequence[Any], where: str, label: str) -> None:
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args)
    except TypeError:
        params = [
            p
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        has_var = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
        required = sum(1 for p in params if p.default is p.empty)
        names = ", ".join(p.name for p in params)
        expect = (
            f"at least {required}"
            if has_var
            else (f"{required}" if required == len(params) else f"{required} to {len(params)}")
        )
        raise SpecError(
            f"{where}: {label}: wrong number of arguments: {cls.__name__}({names}) takes "
            f"{expect}, got {len(args)} after channel inference: {[_plain(a) for a in args]}"
        ) from None


def _plain(x: Any) -> Any:
    if isinstance(x, tuple):
        return [_plain(v) for v in x]
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x
