"""The model a command profiles: a spec file, or an inline ``package.module:callable``.

``profile``, ``compare``, ``vram`` and ``bench`` take a model spec file
(``examples/resnet50.yaml``) or, instead of a file, the import format's ``model`` line
itself with its inputs and keyword arguments as options::

    roofline profile torchvision.models:resnet50 --input 3x224x224 --batch 32
    roofline profile timm:create_model --kwarg model_name=resnet50 --input 3x224x224
    roofline profile mypkg:Bert --input input_ids=128:int64:0-30522 \
        --input attention_mask=128:int64

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
import unicodedata
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


def _is_py(target: str) -> bool:
    """Whether ``target`` is a Python file (``mynet.py``), not a spec (one that is not
    there stays "no such file")."""
    return str(target).lower().endswith(".py") and Path(target).is_file()


def shape_arg(text: str) -> tuple[int, ...]:
    """One sample's shape, ``3x224x224`` or ``3,224,224`` (no batch dimension)."""
    from roofline.cli.profile_cmd import number_text

    # × is a separator; full-width ３ｘ２２４ reads as 3x224
    plain = number_text(text.replace("×", "x"), "a shape like 3x224x224")
    parts = [p for p in re.split(r"[x,\s]+", plain) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape:
        raise argparse.ArgumentTypeError(
            f"expected a shape like 3x224x224 (one sample, no batch), got {text!r}"
        )
    if any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(f"shape dimensions must be positive, got {text!r}")
    return shape


#: the forms ``--input`` takes, for its help and its messages
INPUT_FORMS = "[NAME=]SHAPE[:DTYPE[:LOW-HIGH]]"
_INPUT_EXAMPLES = "3x224x224, 3x224x224:fp16, 128:int64:0-32000, attention_mask=128:int64"

#: an integer input's value range, ``LOW-HIGH`` (``0-32000``, ``-5-5``): ``[LOW, HIGH)``
_RANGE = re.compile(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", re.ASCII)


@dataclass(frozen=True)
class InputArg:
    """One ``--input [NAME=]SHAPE[:DTYPE[:LOW-HIGH]]``: a sample's shape, its dtype when
    written, the ``forward()`` argument it feeds by name (None: positional), and an
    integer input's value range ``[low, high)`` when written (None: the default,
    ``[INLINE_INT_LOW, INLINE_INT_HIGH)``). A spec file's input has the same fields:
    ``shape``, ``dtype``, ``name``, ``low``, ``high``."""

    shape: tuple[int, ...]
    dtype: str | None = None
    name: str | None = None
    low: int | None = None
    high: int | None = None

    @property
    def text(self) -> str:
        """The option's value in its plain form (``3x224x224``, ``10:int64``,
        ``ids=10:int64:0-50``), which :func:`input_arg` reads back to this."""
        text = "x".join(map(str, self.shape))
        if self.dtype:
            text += f":{self.dtype}"
        if self.high is not None:
            text += f":{self.low}-{self.high}"
        return f"{self.name}={text}" if self.name else text

    @property
    def is_bare(self) -> bool:
        """Only a shape: no name, dtype or range (what ``vram --params`` reads)."""
        return self.name is None and self.dtype is None and self.high is None


def _input_error(text: str, problem: str) -> argparse.ArgumentTypeError:
    """A malformed ``--input``: ``problem`` names the bad piece; the forms follow."""
    return argparse.ArgumentTypeError(
        f"{text!r}: {problem}; --input takes {INPUT_FORMS}, e.g. {_INPUT_EXAMPLES}"
    )


def input_arg(text: str) -> InputArg:
    """``--input [NAME=]SHAPE[:DTYPE[:LOW-HIGH]]``, as a spec file's input with the same
    ``name``, ``shape``, ``dtype``, ``low`` and ``high``: ``3x224x224``,
    ``3x224x224:fp16``, ``128:int64``, ``128:int64:0-32000`` (integer values drawn from
    ``[0, 32000)``), ``attention_mask=128:int64`` (the keyword argument of ``forward()``).
    A range needs an integer dtype before it, so no piece can be read two ways."""
    import torch

    from roofline.units import dtype_name, parse_dtype

    name = None
    before, eq, rest = text.partition("=")  # a shape, dtype or range has no '='
    if eq:
        name = before.strip()
        if not name.isidentifier():
            raise _input_error(
                text,
                f"the name before '=' must be the Python name of the forward() argument "
                f"it feeds, got {before!r}",
            )
    pieces = rest.split(":") if eq else text.split(":")
    if len(pieces) > 3:
        raise _input_error(text, f"{len(pieces) - 1} ':' where at most 2 go")
    shape_text, dtype_text, range_text = (*pieces, None, None)[:3]
    try:
        shape = shape_arg(shape_text)
    except argparse.ArgumentTypeError as exc:
        raise _input_error(text, str(exc)) from None
    if dtype_text is None:
        return InputArg(shape, name=name)
    if not dtype_text.strip():
        raise _input_error(text, "the dtype after ':' is empty")
    if range_text is None and _RANGE.fullmatch(unicodedata.normalize("NFKC", dtype_text)):
        raise _input_error(
            text,
            f"{dtype_text!r} is a value range: it follows an integer dtype "
            f"({shape_text}:int64:{dtype_text.strip()})",
        )
    try:
        dtype = parse_dtype(dtype_text.strip())
    except RooflineError as exc:
        raise _input_error(text, str(exc)) from None
    if range_text is None:
        return InputArg(shape, dtype_name(dtype), name)
    if dtype.is_floating_point or dtype == torch.bool:  # integer as parse_inputs reads it
        raise _input_error(
            text,
            f"a value range is for an integer input; {dtype_name(dtype)} values are "
            "drawn without one",
        )
    from roofline.cli.profile_cmd import number_text

    match = _RANGE.fullmatch(number_text(range_text, "a range LOW-HIGH like 0-32000"))
    if match is None:
        raise _input_error(
            text,
            f"expected a value range LOW-HIGH like 0-32000 after the dtype, got {range_text!r}",
        )
    low, high = int(match[1]), int(match[2])
    if high <= low:
        raise _input_error(
            text,
            f"the range {range_text.strip()} is empty: values are drawn from [LOW, HIGH), "
            f"so HIGH ({high}) must be larger than LOW ({low})",
        )
    return InputArg(shape, dtype_name(dtype), name, low, high)


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


#: ``--input``'s help in every command
INPUT_HELP = (
    "one input of an inline model: one sample's shape, no batch dimension (--batch sets "
    "it, default 1), e.g. 3x224x224 or 3x224x224:fp16 (default float32); an integer "
    f"input's values are drawn from [LOW, HIGH), default [{INLINE_INT_LOW}, "
    f"{INLINE_INT_HIGH}): 128:int64:0-32000; NAME= passes it to forward() as that keyword "
    "argument (attention_mask=128:int64); repeatable, positional ones in forward()'s order"
)


def add_model_arguments(p: argparse.ArgumentParser, *, input_help: str | None = None) -> None:
    """``--input [NAME=]SHAPE[:DTYPE[:LOW-HIGH]]`` and ``--kwarg KEY=VALUE`` (both
    repeatable) of an inline model; ``input_help`` replaces ``--input``'s help (``vram``
    reads it with ``--params`` too)."""
    g = p.add_argument_group(
        "inline model (instead of a spec file: package.module:callable or file.py:callable)"
    )
    g.add_argument(
        "--input",
        type=input_arg,
        action="append",
        metavar=INPUT_FORMS,
        help=input_help or INPUT_HELP,
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
    # `profile mynet.py`, the callable forgotten: read as YAML, it was a syntax error
    py = next((t for t in targets if t is not None and t not in inline and _is_py(t)), None)
    if py is not None:
        raise SpecError(
            f"{py} is a Python file, not a spec file: an inline model names its callable "
            f"after a ':' ({py}:CALLABLE) and gives --input SHAPE"
        )
    names = [i.name for i in inputs if i.name is not None]
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise SpecError(
            f"--input {twice}=... is given twice: each keyword input feeds one forward() argument"
        )
    if params:
        if kwargs:
            raise SpecError(
                "--kwarg is for an inline model (package.module:callable); --params has no model"
            )
        if len(inputs) > 1 or not all(i.is_bare for i in inputs):
            bad = next((i.text for i in inputs if not i.is_bare), None)
            raise SpecError(
                "with --params, --input is one sample's shape (3x224x224) for the rule of "
                "thumb, sized at --dtype: give one bare SHAPE, without NAME=, :DTYPE or "
                ":LOW-HIGH (those are an inline model's)" + (f", not {bad}" if bad else "")
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
    ``inputs`` (each shape with a batch dimension of 1, which ``--batch`` replaces, its
    ``name`` when it has one, and an integer input's ``low``/``high``: as written, else
    ``[INLINE_INT_LOW, INLINE_INT_HIGH)``) and a
    ``name``: the callable's, with the keyword arguments in call form
    (``create_model(model_name='resnet50')``) so models built by one callable differ."""
    import torch

    from roofline.units import parse_dtype

    items = []
    for i in inputs:
        item: dict[str, Any] = {"shape": [1, *i.shape], "dtype": i.dtype or "float32"}
        if i.name is not None:
            item = {"name": i.name, **item}
        dtype = parse_dtype(item["dtype"])
        if not dtype.is_floating_point and dtype != torch.bool:  # as parse_inputs reads it
            if i.high is None:
                item["low"], item["high"] = INLINE_INT_LOW, INLINE_INT_HIGH
            else:
                item["low"], item["high"] = i.low, i.high
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
        # allow_unicode: café as typed, not YAML's escape "\xE9" (which reads back the same)
        value = yaml.safe_dump(v, default_flow_style=True, width=10**9, allow_unicode=True)
        value = value.strip()
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
