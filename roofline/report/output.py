"""Writing report files without ever clobbering something the user wrote.

A report file may replace an existing file only if that file was itself written by
roofline (recognised by its content) or the caller passes ``force=True``. Anything
else is refused with a one-line :class:`ReportError`.

How a file is recognised, by content whatever its name: JSON by its ``"generator":
"roofline ..."`` field, HTML by its ``<meta name="generator">`` tag, and CSV (which has
no place for a marker that csv readers and pandas would not take for data) by its first
line being exactly the header row of one of the column sets roofline writes
(``CSV_COLUMN_SETS``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import stat
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from roofline import __version__
from roofline.errors import ReportError

GENERATOR = f"roofline {__version__}"
HTML_MARKER = '<meta name="generator" content="roofline'


#: how much of an existing file is read to recognise it (its head holds the markers)
_HEAD_BYTES = 4096
#: the most of a file starting with ``[`` read to recognise a ``gpus --json`` list
#: (about 5 KB a device): a larger one is someone's data, not read into memory whole
_DEVICE_LIST_BYTES = 64 * 2**20


def _ours(path: Path) -> bool:
    # only a regular file can be a report: a device (/dev/zero, /dev/full) or a named
    # pipe is never read, since reading one never ends (or blocks)
    if not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            raw = f.read(_HEAD_BYTES)
            if raw.lstrip().startswith(b"["):  # a device list has no marker: read it
                raw += f.read(max(_DEVICE_LIST_BYTES + 1 - len(raw), 0))
                if len(raw) > _DEVICE_LIST_BYTES:
                    return False
    except OSError:
        return False
    text = raw.decode("utf-8", errors="replace")
    head = text[:_HEAD_BYTES]
    # by content, whatever the file is called (`--json out.dat` is ours too)
    if '"generator": "roofline' in head or HTML_MARKER in head or _is_device_list(text):
        return True
    first = head.splitlines()[0] if head else ""
    # files of roofline <= 0.1.0 started with a "# generator: roofline" comment
    return first in _csv_headers() or first.startswith("# generator: roofline")


def _is_device_list(text: str) -> bool:
    """``roofline gpus --json``'s list of device records (a list has no place for a
    generator field): every item an object with the device keys it always writes."""
    if not text.lstrip().startswith("["):
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    keys = {"key", "name", "peak_flops", "memory_bandwidth_bytes_per_s"}
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(d, dict) and keys <= d.keys() for d in data)
    )


def csv_header(columns: Sequence[str]) -> str:
    """The header row :func:`to_csv` writes for ``columns`` (without the line end)."""
    buf = io.StringIO()
    csv.writer(buf).writerow(list(columns))
    return buf.getvalue().rstrip("\r\n")


def _csv_headers() -> set[str]:
    from roofline.report.text import CSV_COLUMN_SETS

    return {csv_header(cols) for cols in CSV_COLUMN_SETS}


#: the output name that means standard output (``--json -``)
STDOUT = "-"


def check_writable(path: str | Path, *, force: bool = False) -> Path:
    """May a report be written to ``path``? Returns it as a :class:`Path`, or raises a
    one-line :class:`ReportError`.

    The one test both the commands' up-front check (:func:`check_outputs`, before any
    work) and the writers (:func:`write_text`, just before writing, since the file may
    have changed meanwhile) apply: not a folder, not a file roofline did not write
    (unless ``force``), and somewhere a file can be made.
    """
    p = Path(path)
    if p.is_dir():
        raise ReportError(f"{p} is a folder; give a file name")
    if p.exists():
        if not force and not _ours(p):
            raise ReportError(
                f"{p} exists and was not written by roofline; choose another name or pass --force"
            )
        if not os.access(p, os.W_OK):
            raise ReportError(f"cannot write {p}: permission denied")
        return p
    why = cannot_create_in(p.absolute().parent)
    if why:
        raise ReportError(f"cannot write {p}: {why}")
    return p


def nearest_existing(path: str | Path) -> Path:
    """The closest of ``path``'s parents that exists (the folder under which a writer
    creates the missing ones; the root at worst)."""
    return _existing_ancestor(Path(path).absolute().parent)


def _existing_ancestor(folder: Path) -> Path:
    """``folder`` if it exists, else the closest of its parents that does."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def cannot_create_in(folder: str | Path) -> str | None:
    """Why files cannot be made in ``folder`` (after creating it and its missing
    parents), or ``None`` if they can: the nearest of ``folder`` and its parents that
    exists must be a folder this process may create entries in. The reason names that
    folder as ``folder`` spells it: ``"<it> is not a folder"`` or ``"permission denied
    in <it>"``. Shared by the report writers (:func:`check_writable`) and the ceilings
    cache (:func:`roofline.devices.cache.check_cache_writable`)."""
    parent = _existing_ancestor(Path(folder))
    if not parent.is_dir():
        return f"{parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"permission denied in {parent}"
    return None


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)  # hard links
    except OSError:
        return False


def check_outputs(
    outputs: Mapping[str, str | Path | None],
    *,
    force: bool = False,
    to_stdout: Collection[str] = (),
    inputs: Iterable[str | Path] = (),
) -> str | None:
    """Check every output file a command was asked for, before it does any work.

    ``outputs`` maps each output option (``"--json"``) to the path given, or ``None``
    when it was not given. A path of ``-`` (:data:`STDOUT`) is standard output, which
    only the options in ``to_stdout`` may take. Refuses, with one line: a path
    :func:`check_writable` refuses, two outputs naming the same file (or both ``-``),
    and ``-`` for an option that cannot write to standard output; and, even with
    ``force``, an output naming one of the command's ``inputs`` (the model spec it
    reads), which the write would destroy. Returns the option that writes to standard
    output, or ``None``.
    """
    given = [(opt, str(path)) for opt, path in outputs.items() if path is not None]
    for opt, path in given:
        if not path.strip():  # Path("") is ".", which would be refused as a folder
            raise ReportError(f"{opt} was given an empty file name; give it a file name")
    stdout: str | None = None
    for opt, path in given:
        if path != STDOUT:
            continue
        if opt not in to_stdout:
            raise ReportError(f"{opt} cannot write to standard output ('-'); give a file name")
        if stdout is not None:
            raise ReportError(
                f"{stdout} and {opt} both write to standard output ('-'); "
                "give one of them a file name"
            )
        stdout = opt
    read = [Path(p) for p in inputs if p is not None and str(p) != STDOUT]
    for opt, path in given:
        for src in read:
            if path != STDOUT and src.is_file() and _same_file(Path(path), src):
                raise ReportError(
                    f"{opt} names {path}, which this command reads; give the output its own "
                    "file (--force does not apply)"
                )
    files = [(opt, check_writable(path, force=force)) for opt, path in given if path != STDOUT]
    for i, (opt_a, a) in enumerate(files):
        for opt_b, b in files[i + 1 :]:
            if _same_file(a, b):
                raise ReportError(
                    f"{opt_a} and {opt_b} both name {b}; give each output its own file"
                )
    return stdout


def write_text(path: str | Path, text: str, *, force: bool = False) -> Path:
    """Write ``text`` to ``path``, creating parent folders.

    Refuses to replace a file roofline did not write, unless ``force`` (see
    :func:`check_writable`).
    """
    p = check_writable(path, force=force)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        _replace(p, text)
    except OSError as exc:
        raise ReportError(f"cannot write {p}: {exc.strerror or exc}") from exc
    return p


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: into a new file beside it, then
    renamed over it, so a failed write (a full disk, Ctrl-C) leaves no half-written
    report and the old one intact. A symbolic link is written through (its target
    replaced); a hard-linked file, a device (``--force`` on /dev/null) or a pipe is
    written in place, since a rename would part it from its other names or replace
    the device node itself.

    The temporary file needs the folder's permission, which writing in place did not:
    an existing report (writable: :func:`check_writable` asked) in a folder where no
    file can be created is written in place, as before."""
    target = path.resolve() if path.is_symlink() else path
    try:
        st = target.stat()
    except FileNotFoundError:
        st = None
    if st is not None and (not stat.S_ISREG(st.st_mode) or st.st_nlink > 1):
        target.write_text(text, encoding="utf-8")
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except PermissionError:
        if st is None:
            raise
        target.write_text(text, encoding="utf-8")  # the folder is read-only, the file not
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if st is not None:  # the replaced file's permissions, else what open() would give
            mode = stat.S_IMODE(st.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def to_json(data: Mapping[str, Any] | Sequence[Any]) -> str:
    """JSON text; a mapping gets a ``generator`` field first so reruns may replace it."""
    if isinstance(data, Mapping):
        data = {"generator": GENERATOR, **data}
    return json.dumps(data, indent=2, default=_default) + "\n"


def _default(o: Any) -> Any:
    if isinstance(o, tuple | set | frozenset):
        return list(o)
    if isinstance(o, Mapping):
        return dict(o)
    if hasattr(o, "as_dict"):
        return o.as_dict()
    raise TypeError(f"cannot serialise {type(o).__name__}")


def write_json(path: str | Path, data: Any, *, force: bool = False) -> Path:
    """Write ``data`` as JSON (see :func:`to_json`)."""
    return write_text(path, to_json(data), force=force)


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Plain CSV text: the header row, then one line per row (no comment lines, so
    ``csv.DictReader`` and ``pandas.read_csv`` read it as is)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return "x".join(str(x) for x in v) if all(isinstance(x, int) for x in v) else str(v)
    return v


def write_csv(
    path: str | Path,
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    force: bool = False,
) -> Path:
    """Write rows as CSV (see :func:`to_csv`).

    Only files whose header row is one roofline writes are replaced without ``force``,
    so ``columns`` should be one of ``roofline.report.text.CSV_COLUMN_SETS``.
    """
    return write_text(path, to_csv(rows, columns), force=force)
