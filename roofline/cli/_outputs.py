"""Output files of the commands: checked before any work, written (or sent to stdout) after.

Every command that writes files calls :func:`check` first, with each output option
and the path given, so that a refused path (someone's file, a folder, two outputs on one
file) fails in one line before minutes of profiling or measuring, and :func:`emit` at
the end, whose writer checks the path once more (the file may have changed meanwhile).
``-`` sends an output to stdout instead; the command then prints nothing else there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Mapping
from pathlib import Path

from roofline.report.output import STDOUT, check_outputs, nearest_existing, write_text


def check(
    args: argparse.Namespace,
    outputs: Mapping[str, str | None],
    *,
    to_stdout: Collection[str] = ("--json",),
) -> str | None:
    """Check ``outputs`` (option -> path or ``None``) against ``args.force``; returns the
    option that writes to stdout (``-``), or ``None``. The files the command reads (its
    model specs, a ``--gpu`` spec file) are never an output, ``--force`` or not. See
    :func:`roofline.report.output.check_outputs`."""
    return check_outputs(
        outputs,
        force=getattr(args, "force", False),
        to_stdout=to_stdout,
        inputs=_inputs(args),
    )


def _inputs(args: argparse.Namespace) -> list[str]:
    """The files ``args`` names for reading: ``spec``, compare's ``models`` and the
    Python files beside them that their ``model:`` lines import (or that an inline
    model imports), ``--gpu`` values that are files, and the spec files in the
    ``--specs`` folders."""
    from roofline.cli._model_args import inline_source_files
    from roofline.devices.database import user_spec_files
    from roofline.spec import model_source_files

    specs = [getattr(args, "spec", None), *(getattr(args, "models", None) or [])]
    found = list(specs)
    # the model's own .py next to its spec is read too (--json mynet.py --force)
    found += [str(f) for s in specs if isinstance(s, str) for f in model_source_files(s)]
    # and an inline model's (`roofline profile mynet.py:Net --json mynet.py`)
    found += [str(f) for s in specs for f in inline_source_files(s)]
    gpus = getattr(args, "gpus", None) or [getattr(args, "gpu", None)]
    found += [g for g in gpus if isinstance(g, str) and Path(g).is_file()]
    found += [str(f) for f in user_spec_files(getattr(args, "specs", None))]
    return [f for f in found if isinstance(f, str)]


def emit(target: str, text: str, *, force: bool = False) -> None:
    """Write ``text`` to the file ``target`` (and say so on stderr), or to stdout for
    ``-``."""
    if target == STDOUT:
        sys.stdout.write(text)
        return
    # the writer creates missing folders; say which, so a typo in one is seen
    existing = nearest_existing(target)
    path = write_text(target, text, force=force)
    created = Path(path).absolute().parent
    if created != existing:
        print(f"created folder {created}", file=sys.stderr)
    print(f"wrote {path}", file=sys.stderr)
