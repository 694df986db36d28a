"""Where measured ceilings live: JSON files in a cache folder.

The folder is ``$ROOFLINE_CACHE_DIR`` if set, else ``~/.cache/roofline``; measured
ceilings go in its ``measured/`` subfolder, one file per device
(``gpu-<key>.json`` for a calibrated GPU, ``cpu-<model>-<threads>t.json`` for the
host CPU).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from roofline.devices.model import MeasuredCeilings
from roofline.errors import DeviceError
from roofline.report.output import cannot_create_in

ENV_CACHE = "ROOFLINE_CACHE_DIR"
_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """A file-name-safe lower-case form: ``"AMD EPYC 7B13"`` → ``"amd-epyc-7b13"``."""
    return _SLUG.sub("-", text.lower()).strip("-") or "unknown"


def cache_dir() -> Path:
    """The cache folder (not created)."""
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "roofline"


def measured_path(name: str) -> Path:
    return cache_dir() / "measured" / f"{slug(name)}.json"


def check_cache_writable() -> None:
    """Raise the one-line :class:`DeviceError` :func:`save_measured` would, before a
    measurement whose result it stores: the nearest existing folder of the cache must
    be a folder this process may create files in (``$ROOFLINE_CACHE_DIR`` naming a
    file, a read-only home)."""
    folder = cache_dir() / "measured"
    why = cannot_create_in(folder)
    if why:
        raise DeviceError(
            f"cannot write measured ceilings under {folder} ({why}); set ${ENV_CACHE}"
        )


def save_measured(
    name: str, ceilings: MeasuredCeilings, meta: dict[str, Any] | None = None
) -> Path:
    """Write ``ceilings`` under ``name``; returns the file written.

    Ceilings measured again replace the old ones, but records the new ceilings do not
    carry (the latency models, ``extra["efficiency"]`` and its per-dtype variants,
    fitted by ``roofline calibrate`` on top of them) are kept: measuring ceilings
    (``--ceilings-only``, ``--gpu cpu`` profiles) must not throw away a calibration
    that took minutes."""
    path = measured_path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = ceilings.as_dict()
        kept = {k: v for k, v in _stored_extra(path).items() if k.split(".")[0] in KEPT_EXTRA}
        if kept:
            data["extra"] = {**kept, **dict(data.get("extra") or {})}
        record = {"name": name, **(meta or {}), "ceilings": data}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise DeviceError(
            f"cannot write measured ceilings to {path} ({exc.strerror}); set ${ENV_CACHE}"
        ) from None
    return path


#: ``extra`` entries of a stored record that outlive a new measurement of the ceilings
#: (with their dotted variants: ``efficiency.bfloat16``, the fit for another dtype)
KEPT_EXTRA = ("efficiency",)


def _stored_extra(path: Path) -> dict[str, Any]:
    """The ``extra`` of the record at ``path``; {} if none or unreadable."""
    try:
        extra = json.loads(path.read_text(encoding="utf-8"))["ceilings"].get("extra")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return dict(extra) if isinstance(extra, dict) else {}


def load_measured(name: str) -> MeasuredCeilings | None:
    """The ceilings stored under ``name``, or None if there are none."""
    path = measured_path(name)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return MeasuredCeilings.from_dict(record["ceilings"])
    except (OSError, ValueError, KeyError, TypeError, DeviceError):
        raise DeviceError(
            f"{path}: malformed measured-ceilings file; delete it and measure again"
        ) from None
