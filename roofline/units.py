"""Units: parsing user-written quantities and formatting for display.

Everything inside the tool is in SI base units (FLOP, FLOP/s, bytes, bytes/s,
seconds). Conversion happens only here, at the edges.
"""

from __future__ import annotations

import math
import re
import unicodedata

import torch

from roofline.errors import RooflineError

_SI = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")]
_SUFFIX = {
    "": 1,
    "k": 1e3,
    "K": 1e3,
    "m": 1e6,
    "M": 1e6,
    "g": 1e9,
    "G": 1e9,
    "b": 1e9,
    "B": 1e9,
    "t": 1e12,
    "T": 1e12,
}
_COUNT_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGbBtT]?)\s*$")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "thread")`` -> ``"1 thread"``, ``plural(2, "thread")`` -> ``"2 threads"``;
    ``many`` where adding "s" is wrong (``plural(3, "pass", "passes")``)."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def si(value: float, unit: str = "", digits: int = 2) -> str:
    """Format ``value`` with an SI prefix: ``si(4.1e9, "FLOPs") == "4.10 GFLOPs"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    mag = abs(value)
    for scale, prefix in _SI:
        if mag >= scale:
            return f"{value / scale:.{digits}f} {prefix}{unit}".rstrip()
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value)} {unit}".rstrip()
    return f"{value:.{digits}f} {unit}".rstrip()


def human_bytes(n: float, digits: int = 2) -> str:
    """Memory *traffic* in decimal units (MB = 1e6 bytes), as torchinfo prints it."""
    return si(n, "B", digits)


def gib(n: float, digits: int = 2) -> str:
    """Memory *capacity* in binary units: ``gib(24 * 2**30) == "24.00 GiB"``."""
    return f"{n / 2**30:.{digits}f} GiB"


def binary_bytes(n: float, digits: int = 2) -> str:
    """Memory *capacity* in the largest binary unit that keeps it >= 1:
    ``binary_bytes(1_400_000) == "1.34 MiB"``, ``binary_bytes(24 * 2**30) ==
    "24.00 GiB"``, ``binary_bytes(300) == "300 B"``; the sign is kept. NaN (a
    measurement that did not happen) is ``"-"``, as :func:`si` and :func:`seconds`
    show it."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    mag = abs(n)
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if mag >= 2**shift:
            return f"{n / 2**shift:.{digits}f} {unit}"
    return f"{round(n)} B"


def seconds(t: float | None) -> str:
    """Format a duration with a sensible unit (s, ms, µs, ns)."""
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "-"
    a = abs(t)
    if a >= 1:
        return f"{t:.3f} s"
    if a >= 1e-3:
        return f"{t * 1e3:.3f} ms"
    if a >= 1e-6:
        return f"{t * 1e6:.2f} µs"
    return f"{t * 1e9:.1f} ns"


def _width_form(ch: str) -> bool:
    """Whether ``ch`` is ASCII, white space or a width variant of an ASCII character
    (full-width ``３``, ``Ｍ``, ``．``; Unicode's ``<wide>`` and ``<narrow>``
    decompositions), the compatibility characters a number may be typed in."""
    return ch.isascii() or ch.isspace() or unicodedata.decomposition(ch).startswith(_WIDTH_TAGS)


_WIDTH_TAGS = ("<wide>", "<narrow>")


def plain_number(text: str, what: str = "number") -> str:
    """A number as written by the user, as every numeric option reads it: stripped, its
    width forms as the plain ones (NFKC, as device names are read: the full-width ``３``
    or ``１００Ｍ`` of an East Asian input method is ``3``, ``100M``).
    :class:`RooflineError` for any other character that is not ASCII: digits of other
    scripts (``٣``), which ``int()`` and ``float()`` would read and :func:`parse_count`
    would not, and the other compatibility digits, which NFKC alone would turn into
    plain ones (superscript ``10⁶`` into ``106``, ``1²`` into ``12``, circled ``①``),
    are refused by every option alike."""
    raw = str(text)
    plain = unicodedata.normalize("NFKC", raw).strip()
    if not plain.isascii() or not all(_width_form(ch) for ch in raw):
        raise RooflineError(f"invalid {what} {text!r}: write it with the digits 0-9")
    return plain


def parse_count(text: str | int | float, what: str = "count") -> int:
    """Parse ``100M``, ``7B``, ``1.5e9``, ``350k`` or a plain integer into an int.

    ``B`` means billion (1e9), as in "7B parameters". Raises :class:`RooflineError`
    with a one-line message for anything else, including negative values.
    """
    if isinstance(text, bool):
        raise RooflineError(f"invalid {what} {text!r}: expected a number like 100M, 7B, 1.5e9")
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _COUNT_RE.match(plain_number(text, what))
        if not m:
            raise RooflineError(
                f"invalid {what} {text!r}: expected a number with an optional suffix "
                "k/M/B (e.g. 350k, 100M, 7B, 1.5e9)"
            )
        value = float(m.group(1)) * _SUFFIX[m.group(2)]
    if value <= 0 or not math.isfinite(value):
        raise RooflineError(f"invalid {what} {text!r}: must be a positive number")
    count = round(value)
    if count < 1:  # 0.4 passed the test above and came back as a count of 0
        raise RooflineError(f"invalid {what} {text!r}: a count is at least 1")
    return count


DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
    "fp64": torch.float64,
    "double": torch.float64,
    "float8_e4m3fn": torch.float8_e4m3fn,
    "fp8": torch.float8_e4m3fn,
    "int64": torch.int64,
    "long": torch.int64,
    "int32": torch.int32,
    "int": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    """Map a dtype name (``float32``, ``bf16``, ``int64`` ...) to a torch dtype."""
    if isinstance(name, torch.dtype):
        return name
    key = str(name).strip().lower().removeprefix("torch.")
    if key not in DTYPES:
        raise RooflineError(f"unknown dtype {name!r}: use one of {', '.join(sorted(set(DTYPES)))}")
    return DTYPES[key]


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


#: the short spellings the command line shows for the floating dtypes
_SHORT = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64"}


def dtype_short(dtype: str | torch.dtype) -> str:
    """``"bfloat16"`` (or ``torch.bfloat16``) -> ``"bf16"``: the spelling of a
    command-line ``--dtype``; other dtypes keep their name."""
    name = dtype_name(dtype) if isinstance(dtype, torch.dtype) else str(dtype)
    return _SHORT.get(name, name)
