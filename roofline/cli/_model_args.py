"""The model a command profiles: a spec file, or an inline ``package.module:callable``.

``profile``, ``compare``, ``vram`` and ``bench`` take a model spec file
(``examples/resnet50.yaml``) or, instead of a file, the import format's ``model`` line
itself with its inputs and keyword arguments as options::

    roofline profile torchvision.models:resnet50 --input 3x224x224 --batch 32
    roofline profile timm:create_model --kwarg model_name=resnet50 --input 3x224x224

The command line builds the mapping a spec file with the same ``model``, ``kwargs`` and
``inputs`` would hold and loads it through the same format
(:func:`roofline.spec.spec_from_data`), so an inline model is validated, built and named
as that file's would be. Each command calls :func:`add_model_arguments` on its parser,
:func:`check_model_options` once with its targets, then :func:`load_model` per target.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from roofline.errors import RooflineError, SpecError

#: values an integer ``--input`` is drawn from, ``[low, high)``: 0 and 1, the default of
#: :class:`~roofline.spec.InputSpec`, which any embedding table or index input accepts
INLINE_INT_LOW = 0
INLINE_INT_HIGH = 2

#: ``package.module:callable`` (dotted names), or ``path/to/file.py:callable``
_INLINE = re.compile(
    r"(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*|.+\.py):[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII
)

#: the example the messages give
_EXAMPLE = "--input 3x224x224"


def is_inline(target: str) -> bool:
    """Whether the positional ``target`` names an inline model rather than a spec file:
    no file by that name exists, it does not end in ``.yaml``/``.yml`` (a missing spec
    file stays "no such file"), and it reads ``package.module:callable`` or
    ``file.py:callable``."""
    text = str(target)
    if text.lower().endswith((".yaml", ".yml")) or Path(text).exists():
        return False
    return _INLINE.fullmatch(text) is not None


def shape_arg(text: str) -> tuple[int, ...]:
    """One sample's shape, ``3x224x224`` or ``3,224,224`` (no batch dimension)."""
    from roofline.cli.profile_cmd import number_text

    # × is a separator; full-width ３ｘ２２４ reads as 3x224
    plain = number_text(text.replace("×", "x"), "a shape like 3x224x224")
    parts = [p for p in re.split(r"[x,\s]+", plain) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a shape like 3x224x224 (one sample, no batch), got {text!r}"
        ) from None
    if not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(f"shape dimensions must be positive, got {text!r}")
    return shape


@dataclass(frozen=True)
class InputArg:
    """One ``--input SHAPE[:DTYPE]``: a sample's shape, and its dtype when written."""

    shape: tuple[int, ...]
    dtype: str | None = None

    @property
    def text(self) -> str:
        """The option's value in its plain form (``3x224x224``, ``10:int64``)."""
        shape = "x".join(map(str, self.shape))
        return f"{shape}:{self.dtype}" if self.dtype else shape


def input_arg(text: str) -> InputArg:
    """``--input SHAPE[:DTYPE]``: ``3x224x224``, ``3x224x224:fp16``, ``128:int64``."""
    from roofline.units import dtype_name, parse_dtype

    shape_text, colon, dtype_text = text.rpartition(":")
    if not colon:
        return InputArg(shape_arg(text))
    if not dtype_text.strip():
        raise argparse.ArgumentTypeError(
            f"expected SHAPE[:DTYPE] like 3x224x224 or 128:int64, got {text!r}"
        )
    try:
        dtype = parse_dtype(dtype_text.strip())
    except RooflineError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return InputArg(shape_arg(shape_text), dtype_name(dtype))


def kwarg_arg(text: str) -> tuple[str, Any]:
    """``--kwarg KEY=VALUE``: VALUE read as YAML (``10`` an int, ``false`` a bool,
    ``null`` None, ``[1, 2]`` a list, ``resnet50`` text)."""
    import yaml

    from roofline.yamlio import safe_load_unique

    key, eq, value = text.partition("=")
    key = key.strip()
    if not eq or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with a Python name as KEY (num_classes=10), got {text!r}"
        )
    if not value.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} has no value: write {key}=null for None, {key}='' for empty text"
        )
    try:
        parsed = safe_load_unique(value)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise argparse.ArgumentTypeError(
            f"{text!r}: the value is not valid YAML ({problem}); for text, quote it as YAML "
            f"does: --kwarg \"{key}='...'\""
        ) from None
    return key, parsed


def add_model_arguments(p: argparse.ArgumentParser, *, input_help: str | None = None) -> None:
    """``--input SHAPE[:DTYPE]`` and ``--kwarg KEY=VALUE`` (both repeatable) of an inline
    model; ``input_help`` replaces ``--input``'s help (``vram`` reads it with
    ``--params`` too)."""
    g = p.add_argument_group(
        "inline model (instead of a spec file: package.module:callable or file.py:callable)"
    )
    g.add_argument(
        "--input",
        type=input_arg,
        action="append",
        metavar="SHAPE[:DTYPE]",
        help=input_help
        or "one sample's input shape, no batch dimension (--batch sets it, default 1), "
        f"e.g. 3x224x224 or 128:int64 (default float32; integer inputs are drawn from "
        f"[{INLINE_INT_LOW}, {INLINE_INT_HIGH})); repeatable, in forward()'s order",
    )
    g.add_argument(
        "--kwarg",
        type=kwarg_arg,
        action="append",
        metavar="KEY=VALUE",
        help="keyword argument of the callable, VALUE read as YAML (num_classes=10, "
        "pretrained=false, weights=null); repeatable",
    )


def check_model_options(
    args: argparse.Namespace, targets: Sequence[str | None], *, params: bool | None = None
) -> None:
    """Refuse, in one line, ``--input``/``--kwarg`` that no model reads and an inline
    model without ``--input``. ``params``: for ``vram``, which also takes ``--params``
    (True when given: no model, and one ``--input`` shape for its rule of thumb); None
    for a command without it."""
    inputs = getattr(args, "input", None) or []
    kwargs = getattr(args, "kwarg", None) or []
    keys = [k for k, _ in kwargs]
    twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
    if twice is not None:
        raise SpecError(f"--kwarg {twice}=... is given twice")
    inline = [t for t in targets if t is not None and is_inline(t)]
    if params:
        if kwargs:
            raise SpecError(
                "--kwarg is for an inline model (package.module:callable); --params has no model"
            )
        if len(inputs) > 1 or any(i.dtype for i in inputs):
            raise SpecError(
                "with --params, --input is one sample's shape (3x224x224) for the rule of "
                "thumb, sized at --dtype: give one, without :DTYPE"
            )
        return
    if inline and not inputs:
        raise SpecError(
            f"{inline[0]} is an inline model: give its inputs with --input SHAPE "
            f"(one sample, e.g. {_EXAMPLE}; repeatable), or write a spec file"
        )
    files = [t for t in targets if t is not None]
    # a file that is not there: its loading says so ("no such file"), the news that matters
    if (inputs or kwargs) and not inline and all(Path(t).exists() for t in files):
        option = "--input" if inputs else "--kwarg"
        what = (
            f"{files[0]} is a spec file, which has"
            if len(files) == 1
            else "every SPEC is a spec file, and each has"
        )
        also = " or --params N" if params is not None and option == "--input" else ""
        raise SpecError(
            f"{option} is for an inline model (package.module:callable){also}; {what} "
            "its own inputs and kwargs"
        )


def inline_data(
    target: str, inputs: Sequence[InputArg], kwargs: Sequence[tuple[str, Any]]
) -> dict[str, Any]:
    """The mapping a spec file for this inline model would hold: ``model``, ``kwargs``,
    ``inputs`` (each shape with a batch dimension of 1, which ``--batch`` replaces) and a
    ``name``: the callable's, with the keyword arguments in call form
    (``create_model(model_name='resnet50')``) so models built by one callable differ."""
    import torch

    from roofline.units import parse_dtype

    items = []
    for i in inputs:
        item: dict[str, Any] = {"shape": [1, *i.shape], "dtype": i.dtype or "float32"}
        dtype = parse_dtype(item["dtype"])
        if not dtype.is_floating_point and dtype != torch.bool:  # as parse_inputs reads it
            item["low"], item["high"] = INLINE_INT_LOW, INLINE_INT_HIGH
        items.append(item)
    kw = dict(kwargs)
    callable_name = target.rpartition(":")[2].rpartition(".")[2]
    call = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    return {
        "name": f"{callable_name}({call})" if kw else callable_name,
        "model": target,
        "kwargs": kw,
        "inputs": items,
    }


def inline_text(target: str, inputs: Sequence[InputArg], kwargs: Sequence[tuple[str, Any]]) -> str:
    """The inline model as the command line gives it, quoted for a shell: reports record
    it as their ``spec`` (``torchvision.models:resnet50 --input 3x224x224``)."""
    import yaml

    words = [target]
    for i in inputs:
        words += ["--input", i.text]
    for k, v in kwargs:
        value = yaml.safe_dump(v, default_flow_style=True, width=10**9).strip()
        value = value.removesuffix("\n...").strip()
        words += ["--kwarg", f"{k}={value}"]
    return shlex.join(words)


def load_model(
    args: argparse.Namespace,
    target: str,
    *,
    batch: int | None = None,
    mode: str | None = None,
    dtype: Any = None,
    **overrides: Any,
) -> Any:
    """The :class:`~roofline.spec.ModelSpec` for ``target`` (a spec file, or an inline
    model with ``args.input``/``args.kwarg``), with ``info["spec"]``: the file, or the
    inline form (:func:`inline_text`), for the reports to record."""
    from roofline.spec import load_spec, spec_from_data

    inputs = getattr(args, "input", None) or []
    kwargs = getattr(args, "kwarg", None) or []
    if is_inline(target):
        if not inputs:  # check_model_options says so first; a caller that skipped it
            raise SpecError(f"{target} is an inline model: give its inputs with --input SHAPE")
        data = inline_data(target, inputs, kwargs)
        spec = spec_from_data(data, batch=batch, mode=mode, dtype=dtype, **overrides)
        text = inline_text(target, inputs, kwargs)
    else:
        spec = load_spec(target, batch=batch, mode=mode, dtype=dtype, **overrides)
        text = str(target)
    return replace(spec, info={**spec.info, "spec": text})


def inline_source_files(target: str | None) -> list[Path]:
    """The Python files an inline model's import reads from the current folder
    (``mynet.py:Net``, ``mynet:Net``): inputs no output may replace."""
    if not isinstance(target, str) or not is_inline(target):
        return []
    from roofline.spec import target_source_files

    return target_source_files(target, Path.cwd())
