"""The spec database: bundled ``gpu_specs/`` plus the user's own folders, and lookup.

Lookup rules (documented in ``docs/devices.md``):

1. A name is normalised: compatibility characters (full-width ``ＲＴＸ３０９０``) read as
   their plain forms (NFKC), lower case, the words NVIDIA, GeForce, Tesla, AMD, Instinct
   dropped, then everything but letters and digits removed. ``RTX 3090``,
   ``rtx3090`` and ``NVIDIA GeForce RTX 3090`` all become ``rtx3090``.
2. An exact match of a key, name or alias wins. If several entries share the name,
   the one that lists it under ``default_for`` wins; otherwise the candidates are
   listed in the error.
3. A name listed only under some entry's ``default_for`` resolves to that entry
   (``a100`` → A100 SXM4 80GB).
4. Otherwise a name contained in exactly one entry's names resolves to it; several
   give an "ambiguous" error with the candidates; none give an "unknown" error with
   the closest matches.

User folders (``--specs DIR`` and the ``ROOFLINE_GPU_SPECS`` environment variable,
``os.pathsep``-separated) hold files of the same format, with any file name; an entry
with the same key as a bundled one replaces it, others extend the database. Keys are
compared normalised (``my-card`` = ``my_card``), as lookup compares names. Later folders
override earlier ones; ``--specs`` folders override the environment's. Two files in one
folder with the same key are an error naming both.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from roofline.devices.model import Device
from roofline.devices.schema import load_device_file
from roofline.errors import DeviceError

ENV_SPECS = "ROOFLINE_GPU_SPECS"
_DROP_WORDS = re.compile(r"\b(nvidia|geforce|tesla|amd|instinct)\b")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize(name: str) -> str:
    """``"NVIDIA GeForce RTX 3090"`` → ``"rtx3090"`` (see the module docstring)."""
    text = _DROP_WORDS.sub(" ", unicodedata.normalize("NFKC", str(name)).lower())
    return _NON_ALNUM.sub("", text)


def bundled_specs_dir() -> Path:
    """The folder of bundled spec files, in a wheel or in a source checkout."""
    candidates: list[Path] = []
    for package, sub in (("roofline.gpu_specs", None), ("roofline", "gpu_specs")):
        try:
            root = importlib.resources.files(package)
        except (ModuleNotFoundError, TypeError):
            continue
        node = root / sub if sub else root
        try:
            candidates.append(Path(str(node)))
        except TypeError:  # pragma: no cover - non-filesystem loaders
            continue
    candidates.append(Path(__file__).resolve().parents[2] / "gpu_specs")
    for c in candidates:
        if c.is_dir() and any(c.glob("*.yaml")):
            return c
    raise DeviceError(
        "the bundled gpu_specs/ folder is missing from this installation; reinstall roofline"
    )


def _named_dirs(extra: Iterable[str | os.PathLike[str]] | None) -> list[Path]:
    env = os.environ.get(ENV_SPECS, "")
    dirs = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    if any(not str(p).strip() for p in extra or []):
        # Path("") is ".": every .yaml of the current folder would be read as a device
        raise DeviceError("--specs was given an empty folder name; give a folder of spec files")
    return dirs + [Path(p).expanduser() for p in (extra or [])]


def user_spec_dirs(extra: Iterable[str | os.PathLike[str]] | None = None) -> tuple[Path, ...]:
    """User folders: ``$ROOFLINE_GPU_SPECS`` entries, then ``extra`` (``--specs``)."""
    dirs = _named_dirs(extra)
    for d in dirs:
        if not d.is_dir():
            raise DeviceError(
                f"spec folder {d} does not exist or is not a folder (from --specs or ${ENV_SPECS})"
            )
    # as given (only ~ expanded): a message about one of their files names it the way
    # the user wrote it, not as an absolute path (the cache keys on the resolved ones)
    return tuple(dirs)


def _folder_files(d: Path) -> list[Path]:
    """The spec files of one folder, in the order they are read."""
    return sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml"))


def user_spec_files(extra: Iterable[str | os.PathLike[str]] | None = None) -> list[Path]:
    """The spec files in the user folders (``$ROOFLINE_GPU_SPECS``, ``--specs``) that
    exist; a folder that does not is left to :func:`user_spec_dirs` to refuse."""
    return [f for d in _named_dirs(extra) if d.is_dir() for f in _folder_files(d)]


def _stamp(d: Path) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((p.name, p.stat().st_mtime) for p in _folder_files(d)))


def _load(dirs: tuple[Path, ...], stamps: tuple) -> tuple[Device, ...]:
    return _load_cached(dirs, tuple(d.resolve() for d in dirs), stamps)


@functools.lru_cache(maxsize=16)
def _load_cached(
    dirs: tuple[Path, ...], where: tuple[Path, ...], stamps: tuple
) -> tuple[Device, ...]:
    """``where`` (the folders resolved) keys the cache only: a relative folder named
    the same from another working directory is another folder."""
    by_key: dict[str, Device] = {}
    for d in dirs:
        in_folder: dict[str, Path] = {}
        for path in _folder_files(d):
            if path.exists() and not path.is_file() and not path.is_dir():
                # a named pipe would block the read for ever, a device never end it
                raise DeviceError(
                    f"{path}: not a regular file (a pipe or device); a spec folder holds "
                    "YAML files: move it out of the folder"
                )
            dev = load_device_file(path)
            key = normalize(dev.key)
            if key in in_folder:
                raise DeviceError(
                    f"{path}: key {dev.key!r} is also the key of {in_folder[key].name} in the "
                    "same folder; give each device its own key"
                )
            in_folder[key] = path
            by_key[key] = dev  # later folders override earlier ones
    return tuple(by_key.values())


def load_database(spec_dirs: Sequence[str | os.PathLike[str]] | None = None) -> tuple[Device, ...]:
    """Every device: bundled, overridden/extended by user folders. Cached per folder set."""
    dirs = (bundled_specs_dir(), *user_spec_dirs(spec_dirs))
    return _load(dirs, tuple(_stamp(d) for d in dirs))


def all_devices(spec_dirs: Sequence[str | os.PathLike[str]] | None = None) -> tuple[Device, ...]:
    """Every known device (bundled and user), sorted by vendor then name."""
    return tuple(sorted(load_database(spec_dirs), key=lambda d: (d.vendor, d.name)))


def _names(dev: Device) -> set[str]:
    names = {normalize(dev.key), normalize(dev.name), *(normalize(a) for a in dev.aliases)}
    return {n for n in names if n}


def _defaults(dev: Device) -> set[str]:
    return {normalize(str(n)) for n in dev.extra.get("default_for", []) or []}


def lookup(name: str, devices: Sequence[Device]) -> Device:
    """Resolve ``name`` among ``devices`` by the rules in the module docstring."""
    q = normalize(name)
    if not q:
        what = "empty device name" if not str(name).strip() else "no letters or digits in"
        raise DeviceError(f"{what} {name!r}: try `roofline gpus` for the list")
    for dev in devices:
        if normalize(dev.key) == q:
            return dev
    exact = [d for d in devices if q in _names(d)]
    defaults = [d for d in devices if q in _defaults(d)]
    if len(exact) == 1:
        return exact[0]
    if len(defaults) == 1 and (not exact or defaults[0] in exact):
        return defaults[0]
    if len(exact) > 1:
        raise _ambiguous(name, exact)
    contains = [d for d in devices if any(q in n for n in _names(d))]
    if len(contains) == 1:
        return contains[0]
    if len(contains) > 1:
        raise _ambiguous(name, contains)
    pool: dict[str, Device] = {}
    for d in devices:
        for n in _names(d):
            pool.setdefault(n, d)
    close = difflib.get_close_matches(q, list(pool), n=8, cutoff=0.5)
    keys = list(dict.fromkeys(pool[c].key for c in close))[:3]
    hint = f"; closest: {', '.join(keys)}" if keys else ""
    raise DeviceError(
        f"unknown device {name!r}{hint} (`roofline gpus` lists all; add your own with --specs DIR)"
    )


def _ambiguous(name: str, candidates: Sequence[Device]) -> DeviceError:
    keys = ", ".join(sorted(d.key for d in candidates))
    return DeviceError(f"device name {name!r} is ambiguous; say which: {keys}")


def find_device(name: str, spec_dirs: Sequence[str | os.PathLike[str]] | None = None) -> Device:
    """A database device by any reasonable spelling, or a path to a user ``.yaml``."""
    text = str(name)
    if text.lower().endswith((".yaml", ".yml")) or os.sep in text:
        path = Path(text).expanduser()
        if path.is_dir():
            raise DeviceError(
                f"{path} is a folder; --gpu takes one spec file (a folder of them: --specs DIR)"
            )
        if not path.is_file():
            raise DeviceError(f"spec file {path} not found")
        return load_device_file(path)
    return lookup(text, load_database(spec_dirs))
