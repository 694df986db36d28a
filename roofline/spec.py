"""Model specs: the YAML files users write, and the formats that read them.

A spec says which model to build, with which inputs, in which mode. Several file
formats can describe a model; each is a :class:`SpecFormat` registered with
:func:`register_format`. :func:`load_spec` reads a file safely, asks each format in
turn whether it recognises the document, and lets the first that does build a
:class:`ModelSpec`.

Built-in formats:

* ``import`` (this module): ``model: package.module:callable`` plus ``inputs``.
* ``yolo`` (:mod:`roofline.yolo`): YOLOv5-style architecture files with
  ``backbone`` and ``head``.

Formats are tried in registration order, most specific first; the import format is
the fallback and is tried last.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch
import yaml

from roofline.errors import RooflineError, SpecError, first_line
from roofline.units import dtype_name, parse_dtype
from roofline.yamlio import TooLargeError, error_message, read_yaml_text, safe_load_unique

MODES = ("inference", "training")

#: the most bytes one tensor can hold (torch sizes storage with a signed 64-bit integer)
MAX_TENSOR_BYTES = 2**63 - 1


@dataclass(frozen=True)
class InputSpec:
    """One model input: its shape, dtype and (for keyword inputs) its name.

    Integer inputs (token ids, class labels) are drawn from ``[low, high)`` when real
    data is needed; float inputs from a standard normal distribution.
    """

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    name: str | None = None
    low: int = 0
    high: int = 2

    def __post_init__(self) -> None:
        # torch counts a tensor's bytes in a signed 64-bit integer; past that it raises
        # an overflow traceback deep in the build (a typo'd shape, a huge --batch)
        nbytes = math.prod(self.shape) * self.dtype.itemsize
        if nbytes > MAX_TENSOR_BYTES:
            raise SpecError(
                f"an input of shape {'x'.join(map(str, self.shape))} ({dtype_name(self.dtype)}) "
                "is larger than a tensor can be (2^63 - 1 bytes); give a smaller shape or --batch"
            )

    def with_batch(self, batch: int) -> InputSpec:
        """The same input with its first dimension replaced by ``batch``."""
        if not self.shape:
            return self
        return replace(self, shape=(batch, *self.shape[1:]))

    def make(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """A tensor of this shape and dtype with random data (never zeros)."""
        if self.dtype.is_floating_point:
            return torch.randn(self.shape, device=device).to(self.dtype)
        if self.dtype == torch.bool:
            return torch.randint(0, 2, self.shape, device=device).bool()
        return torch.randint(self.low, max(self.high, self.low + 1), self.shape, device=device).to(
            self.dtype
        )

    def describe(self) -> dict[str, Any]:
        """Plain-data description for reports."""
        d: dict[str, Any] = {"shape": list(self.shape), "dtype": dtype_name(self.dtype)}
        if self.name:
            d["name"] = self.name
        return d


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build a model and feed it.

    ``factory`` builds the ``nn.Module`` in whatever device/tensor context the caller
    sets up (the counter builds it under fake tensors, the benchmark on a real device).
    """

    name: str
    factory: Callable[[], torch.nn.Module]
    inputs: tuple[InputSpec, ...]
    mode: str = "inference"
    format: str = "import"
    source: Path | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    #: floating-point dtype the model is cast to (parameters, buffers and float
    #: inputs); None keeps the dtypes the callable and the inputs give
    dtype: torch.dtype | None = None

    @property
    def batch(self) -> int | None:
        """The batch size: the first dimension of the first input."""
        return self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else None

    def build(self) -> torch.nn.Module:
        """Build the model; errors from the user's callable become :class:`SpecError`."""
        try:
            model = self.factory()
        except RooflineError:
            raise
        except Exception as exc:  # the user's code failed; say where
            from roofline.counting.tracing import (
                QUANTIZED_WHY,
                is_data_dependent,
                is_quantized_failure,
            )

            # built under fake tensors, a constructor that reads tensor values fails,
            # and so does one that quantizes the model (torchvision's quantize=True)
            hint = ""
            if is_quantized_failure(exc):
                hint = f" ({QUANTIZED_WHY}; profile --real builds and counts it for real)"
            elif is_data_dependent(exc):
                from roofline.counting.tracing import BUILD_VALUE_NUMEL

                hint = (
                    " (the model's constructor reads tensor values that a build on fake "
                    "tensors does not compute: it computes only tensors of at most "
                    f"{BUILD_VALUE_NUMEL:,} elements made from no weights; profile --real "
                    "builds it for real)"
                )
            raise SpecError(
                (f"{self.source}: " if self.source else "")
                + f"building {self.name!r} failed: {type(exc).__name__}: {first_line(exc)}"
                + hint
            ) from exc
        if not isinstance(model, torch.nn.Module):
            raise SpecError(
                f"{self.name!r}: the model callable returned {type(model).__name__}, "
                "not a torch.nn.Module"
            )
        if self.dtype is not None:
            cast_floating(model, self.dtype)
        return model

    def with_batch(self, batch: int | None) -> ModelSpec:
        """The same spec with every input's first dimension set to ``batch``."""
        if batch is None:
            return self
        if batch < 1:
            raise SpecError(f"batch must be a positive integer, got {batch}")
        return replace(self, inputs=tuple(i.with_batch(batch) for i in self.inputs))

    def with_dtype(self, dtype: str | torch.dtype | None) -> ModelSpec:
        """The same spec with its model and float inputs cast to ``dtype``."""
        if dtype is None:
            return self
        return replace(self, dtype=check_model_dtype(dtype))

    def with_mode(self, mode: str | None) -> ModelSpec:
        """The same spec in another mode (``inference`` or ``training``)."""
        if mode is None:
            return self
        return replace(self, mode=check_mode(mode))

    def example_inputs(
        self, device: torch.device | str = "cpu"
    ) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
        """Positional and keyword inputs with random data, created on ``device``."""
        args = tuple(self._make(i, device) for i in self.inputs if i.name is None)
        kwargs = {i.name: self._make(i, device) for i in self.inputs if i.name is not None}
        return args, kwargs

    def _make(self, i: InputSpec, device: torch.device | str) -> torch.Tensor:
        t = i.make(device)
        if self.dtype is not None and t.is_floating_point():
            t = t.to(self.dtype)
        return t


class SpecFormat(Protocol):
    """A spec file format. ``detect`` looks at the parsed YAML; ``load`` builds the spec."""

    name: str

    def detect(self, data: Mapping[str, Any]) -> bool: ...

    def load(
        self, data: Mapping[str, Any], path: Path | None, overrides: Mapping[str, Any]
    ) -> ModelSpec: ...


_FORMATS: list[SpecFormat] = []


def register_format(fmt: SpecFormat, *, fallback: bool = False) -> SpecFormat:
    """Add a spec format. Specific formats go first; a ``fallback`` format goes last."""
    if fallback:
        _FORMATS.append(fmt)
    else:
        _FORMATS.insert(0, fmt)
    return fmt


def formats() -> tuple[SpecFormat, ...]:
    """The registered formats, in the order they are tried."""
    _load_builtin_formats()
    return tuple(_FORMATS)


def _check_named(path: str | Path) -> None:
    """An empty file name is refused as such: ``Path("")`` is ``.``, the current folder,
    which the user did not name."""
    if not str(path).strip():
        raise SpecError("the spec file name is empty; give the path of a model spec (.yaml)")


def read_yaml(path: str | Path) -> Any:
    """Load a YAML file with ``yaml.safe_load`` (refusing a repeated key); errors become
    one-line :class:`SpecError`."""
    _check_named(path)
    p = Path(path)
    if not p.exists():
        raise SpecError(f"{p}: no such file")
    if p.is_dir():
        raise SpecError(f"{p}: is a folder, expected a .yaml file")
    try:
        text = read_yaml_text(p)
    except TooLargeError as exc:
        raise SpecError(f"{p}: {exc}; a spec is a small YAML text file") from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{p}: not UTF-8 text (byte {exc.start}); a spec is a YAML text file"
        ) from None
    except OSError as exc:
        raise SpecError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        return safe_load_unique(text)
    except yaml.YAMLError as exc:
        raise SpecError(error_message(exc, p, "model specs")) from None


def load_spec(
    path: str | Path,
    *,
    batch: int | None = None,
    mode: str | None = None,
    dtype: str | torch.dtype | None = None,
    **overrides: Any,
) -> ModelSpec:
    """Read a spec file of any registered format.

    ``batch``, ``mode`` and ``dtype`` override the file; other keyword ``overrides``
    (``imgsz``, ``nc`` ...) are passed to the format, which rejects those it does not
    know.
    """
    _check_named(path)
    p = Path(path)
    return spec_from_data(read_yaml(p), p, batch=batch, mode=mode, dtype=dtype, **overrides)


def spec_from_data(
    data: Any,
    path: Path | None = None,
    *,
    batch: int | None = None,
    mode: str | None = None,
    dtype: str | torch.dtype | None = None,
    **overrides: Any,
) -> ModelSpec:
    """Build a spec from the mapping a spec file holds, as :func:`load_spec` does after
    reading the file at ``path``. Without a ``path`` (a mapping made in code, or by the
    command line from ``roofline profile package.module:callable --input ...``) relative
    module names and ``.py`` files resolve against the current folder, and messages name
    the import format's ``model`` (see :func:`spec_label`)."""
    where = spec_label(data, path)
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: expected a YAML mapping (key: value lines) at the top level")
    for key in ("name", "description"):  # every format shows them as text
        value = data.get(key)
        if value is not None and (
            not isinstance(value, str | int | float) or isinstance(value, bool)
        ):
            raise SpecError(f"{where}: '{key}' must be text, got {value!r}; quote it if needed")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    for fmt in formats():
        if fmt.detect(data):
            spec = fmt.load(data, path, overrides)
            file_batch = data.get("batch")  # every format may give one; --batch wins
            if file_batch is not None:
                if (
                    not isinstance(file_batch, int)
                    or isinstance(file_batch, bool)
                    or file_batch < 1
                ):
                    raise SpecError(
                        f"{where}: 'batch' must be a positive integer, got {file_batch!r}"
                    )
                spec = spec.with_batch(file_batch)
            file_dtype = data.get("dtype")  # likewise; --dtype wins
            if file_dtype is not None:
                try:
                    spec = spec.with_dtype(str(file_dtype))
                except RooflineError as exc:
                    raise SpecError(f"{where}: 'dtype': {exc}") from None
            spec = spec.with_batch(batch).with_mode(mode).with_dtype(dtype)
            if spec.info.get("fused") and spec.mode == "training":
                # folded weights are constants: a training count would lose their grads
                raise SpecError(
                    f"{where}: fusing (--fuse or 'fuse:') folds BatchNorm into the convolutions "
                    "for inference; a training step needs the BatchNorm: drop the fuse or "
                    "use --mode inference"
                )
            return spec
    raise SpecError(
        f"{where}: not a model spec: expected a 'model: package.module:callable' line "
        "or a YOLO-style 'backbone'/'head' architecture"
    )


def spec_label(data: Any, path: Path | None) -> str:
    """How messages name a spec: its file, else its ``model`` target (a spec built from
    a mapping, such as the command line's inline ``package.module:callable``), else
    ``spec``."""
    if path is not None:
        return str(path)
    target = data.get("model") if isinstance(data, Mapping) else None
    return target if isinstance(target, str) and target.strip() else "spec"


def cast_floating(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """Cast ``model``'s floating parameters and buffers to ``dtype`` in place.

    ``Module.to(dtype)`` swaps tensor subclasses such as fake tensors and fails on
    them, so each parameter is replaced by a new one (tied parameters stay tied)."""
    done: dict[int, torch.Tensor] = {}

    def cast(t: torch.Tensor, param: bool) -> torch.Tensor:
        if id(t) not in done:
            if not t.is_floating_point() or t.dtype == dtype:
                done[id(t)] = t
            else:
                new = t.detach().to(dtype)
                done[id(t)] = torch.nn.Parameter(new, t.requires_grad) if param else new
        return done[id(t)]

    for m in model.modules():
        for n, p in list(m._parameters.items()):
            if p is not None:
                m._parameters[n] = cast(p, True)
        for n, b in list(m._buffers.items()):
            if b is not None:
                m._buffers[n] = cast(b, False)


#: dtypes a model can be cast to and still run every op (fp8 has no plain matmul)
MODEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def check_model_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``fp16``/``bf16``/``fp32``/``fp64`` (any spelling) as a torch dtype, else a
    one-line :class:`SpecError`."""
    try:
        d = parse_dtype(dtype)
    except RooflineError:
        d = None
    if d not in MODEL_DTYPES:
        raise SpecError(
            f"model dtype {dtype!r} is not supported: use fp32, fp16, bf16 or fp64 "
            "(a model cast to it must run every op)"
        )
    return d


def check_mode(mode: str, where: str | None = None) -> str:
    """Validate a mode name (``where``: the file it came from, for the message)."""
    if mode not in MODES:
        at = f"{where}: " if where else ""
        raise SpecError(f"{at}unknown mode {mode!r}: use one of {', '.join(MODES)}")
    return mode


# --------------------------------------------------------------------------- import format


class ImportFormat:
    """``model: package.module:callable`` with ``kwargs``, ``inputs``, ``batch``, ``mode``.

    The module part may also be a path to a ``.py`` file. Relative names resolve
    against the spec file's folder first, so a model defined next to its spec works.
    """

    name = "import"
    keys = frozenset({"model", "kwargs", "inputs", "batch", "mode", "dtype", "name", "description"})

    def detect(self, data: Mapping[str, Any]) -> bool:
        return "model" in data

    def load(
        self, data: Mapping[str, Any], path: Path | None, overrides: Mapping[str, Any]
    ) -> ModelSpec:
        where = spec_label(data, path)
        if overrides:
            raise SpecError(
                f"{where}: option(s) {', '.join('--' + k for k in overrides)} apply to "
                "YOLO-format files only"
            )
        unknown = set(data) - self.keys
        if unknown:
            raise SpecError(
                f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(self.keys))}"
            )
        target = data["model"]
        if not isinstance(target, str) or ":" not in target:
            raise SpecError(
                f"{where}: 'model' must look like 'package.module:callable', got {target!r}"
            )
        kwargs = data.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise SpecError(f"{where}: 'kwargs' must be a mapping")
        inputs = parse_inputs(data.get("inputs"), where)
        base = path.parent if path else Path.cwd()
        beside = "next to the spec" if path else "in the current folder"
        fn = resolve_callable(target, base, where, beside=beside)
        return ModelSpec(
            name=str(data.get("name") or target.split(":")[-1]),
            factory=lambda: fn(**kwargs),
            inputs=inputs,
            mode=check_mode(str(data.get("mode", "inference")), where),
            format=self.name,
            source=path,
            info={"model": target, "kwargs": dict(kwargs)},
        )


def parse_inputs(raw: Any, where: str) -> tuple[InputSpec, ...]:
    """Parse the ``inputs`` list of a spec."""
    if not raw:
        raise SpecError(f"{where}: 'inputs' is required: a list of {{shape: [...], dtype: ...}}")
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise SpecError(f"{where}: 'inputs' must be a list")
    out = []
    allowed = {"shape", "dtype", "name", "low", "high"}
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or "shape" not in item:
            raise SpecError(f"{where}: inputs[{i}] needs a 'shape' list")
        extra = set(item) - allowed
        if extra:
            raise SpecError(
                f"{where}: inputs[{i}] has unknown field(s) {', '.join(sorted(extra))}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        shape = item["shape"]
        if not isinstance(shape, Sequence) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
        ):
            raise SpecError(f"{where}: inputs[{i}].shape must be a list of positive integers")
        try:
            dtype = parse_dtype(item.get("dtype", "float32"))
        except RooflineError as exc:
            raise SpecError(f"{where}: inputs[{i}]: {exc}") from exc
        at = f"{where}: inputs[{i}]"
        low, high = _input_int(item, "low", 0, at), _input_int(item, "high", 2, at)
        integer = not dtype.is_floating_point and dtype != torch.bool
        if integer and "high" not in item:
            raise SpecError(f"{at} is an integer input: give 'high' (e.g. the vocabulary size)")
        if not integer and ("low" in item or "high" in item):
            # a range on a float or bool input was dropped without a word
            raise SpecError(
                f"{at}: 'low'/'high' give an integer input's range; this input is "
                f"{dtype_name(dtype)} (drop them, or give an integer dtype)"
            )
        if integer and high <= low:
            raise SpecError(
                f"{at}: values are drawn from [low, high), so 'high' ({high}) must be larger "
                f"than 'low' ({low})"
            )
        if integer:
            _check_range(dtype, low, high, at)
        name = item.get("name")
        if name is not None and (not isinstance(name, str) or not name):
            raise SpecError(
                f"{at}.name must be the name of the forward() argument it feeds, got {name!r}"
            )
        first = next((j for j, o in enumerate(out) if name is not None and o.name == name), None)
        if first is not None:  # one argument cannot take two tensors: one would be dropped
            raise SpecError(
                f"{at}.name {name!r} is given twice (inputs[{first}] too): each keyword "
                "input feeds one forward() argument"
            )
        out.append(InputSpec(tuple(shape), dtype, name, low, high))
    return tuple(out)


def _check_range(dtype: torch.dtype, low: int, high: int, at: str) -> None:
    """Refuse an integer input's ``[low, high)`` that its dtype cannot hold: the values
    are drawn in int64 (:meth:`InputSpec.make`) and cast, so ``uint8`` with ``high: 300``
    wrapped them modulo 256 without a word, and a ``high`` past 2^63 − 1 was an overflow
    traceback even on fake tensors."""
    info = torch.iinfo(dtype)
    least, most = max(info.min, -(2**63)), min(info.max + 1, 2**63 - 1)
    name = dtype_name(dtype)
    article = "an" if name.startswith("int") else "a"  # a uint8, an int8
    if low < least:
        raise SpecError(
            f"{at}: {article} {name} input's values: 'low' ({low}) must be at least {least}"
        )
    if high > most:
        raise SpecError(
            f"{at}: {article} {name} input's values: 'high' ({high}) must be at most {most} "
            "(values are drawn from [low, high), high excluded)"
        )


def _input_int(item: Mapping[str, Any], key: str, default: int, where: str) -> int:
    """An input's integer field (``low``/``high``), or a one-line :class:`SpecError`."""
    value = item.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpecError(f"{where}.{key} must be an integer, got {value!r}")
    return value


@contextlib.contextmanager
def _path_first(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def model_source_files(path: str | Path) -> list[Path]:
    """The Python files next to the spec at ``path`` that its ``model:`` line would
    import (``mynet:build`` -> ``mynet.py``, ``./mynet.py:build``, a package's
    ``__init__.py``): inputs a command reads, which no output may replace. Installed
    packages are not looked up (nothing is imported); an unreadable spec names none, and
    so does a pipe (``<(...)``), which can be read only once: by the command."""
    if not Path(path).is_file():
        return []
    try:
        data = read_yaml(path)
    except RooflineError:
        return []
    target = data.get("model") if isinstance(data, Mapping) else None
    if not isinstance(target, str):
        return []
    return target_source_files(target, Path(path).parent)


def target_source_files(target: str, base: Path) -> list[Path]:
    """The Python files under ``base`` (and the current folder) that importing
    ``target`` (``mynet:build``, ``./mynet.py:build``) would read, as
    :func:`model_source_files` finds them for a spec file; nothing is imported."""
    if ":" not in target:
        return []
    module_part = target.rpartition(":")[0]
    if module_part.endswith(".py"):
        found = [base / module_part]
    else:
        parts = [part for part in module_part.split(".") if part]
        if not parts:  # ':build', '.:build': no module to look for (the import says why)
            return []
        rel = Path(*parts)
        found = [root / rel.with_suffix(".py") for root in (base, Path.cwd())]
        found += [root / rel / "__init__.py" for root in (base, Path.cwd())]
    return [f for f in found if f.is_file()]


def resolve_callable(
    target: str, base: Path, where: str = "spec", *, beside: str = "next to the spec"
) -> Callable[..., Any]:
    """Import ``module:attr.path`` (or ``file.py:attr``), resolving against ``base``
    (``beside`` says where that is, for the message of a module not found)."""
    module_part, _, attr_part = target.rpartition(":")
    if not module_part or not attr_part:
        raise SpecError(
            f"{where}: 'model' must look like 'package.module:callable', got {target!r}"
        )
    if module_part.endswith(".py"):
        file = (base / module_part).resolve()
        if not file.exists():
            raise SpecError(f"{where}: model file {file} does not exist")
        mod_name = f"_roofline_user_{file.stem}_{abs(hash(str(file)))}"
        spec = importlib.util.spec_from_file_location(mod_name, file)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        try:
            with _path_first(file.parent):
                spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as exc:
            raise SpecError(
                f"{where}: importing {file} failed: {type(exc).__name__}: {first_line(exc)}"
            ) from exc
    else:
        try:
            with _path_first(base.resolve()):
                module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            raise SpecError(
                f"{where}: cannot import module {module_part!r} ({first_line(exc)}); "
                f"check the name, install the package, or put the file {beside}"
            ) from exc
        except Exception as exc:
            raise SpecError(
                f"{where}: importing {module_part!r} failed: {type(exc).__name__}: {first_line(exc)}"
            ) from exc
    obj: Any = module
    for part in attr_part.split("."):
        if not hasattr(obj, part):
            raise SpecError(
                f"{where}: module {module_part!r} has no attribute {attr_part!r} "
                f"(imported fine, but '{part}' is missing)"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise SpecError(f"{where}: {target!r} is not callable")
    return obj


_builtin_loaded = False


def _load_builtin_formats() -> None:
    """Register the built-in formats once (lazily, to avoid import cycles)."""
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    register_format(ImportFormat(), fallback=True)
    importlib.import_module("roofline.yolo")  # registers itself; a broken import must show
