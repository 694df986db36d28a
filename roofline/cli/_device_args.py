"""Shared ``--gpu NAME`` / ``--specs DIR`` / ``--measured`` options for subcommands.

``profile``, ``compare``, ``vram`` (and anything else that needs a device) call
:func:`add_device_arguments` on their parser and :func:`device_from_args` in ``run``.
"""

from __future__ import annotations

import argparse
from typing import Any

from roofline.devices import Device, all_devices, get_device, plain_name

#: ``--gpu all`` (where a command allows it): every device in the database
ALL_DEVICES = "all"


def is_all_name(name: str) -> bool:
    """Whether ``--gpu name`` is ``all``, read as the other special names are
    (:func:`~roofline.devices.plain_name`: full-width ``ａｌｌ``, any case)."""
    return plain_name(name) == ALL_DEVICES


def add_device_arguments(
    parser: argparse.ArgumentParser,
    required: bool = False,
    many: bool = False,
    allow_all: bool = False,
    measured: bool = True,
) -> None:
    """Add ``--gpu/--device NAME``, ``--specs DIR`` (repeatable) and ``--measured``.

    With ``many``, ``--gpu`` is repeatable and lands in ``args.gpus`` (a list); read it
    with :func:`devices_from_args`. Otherwise it is ``args.gpu``, read with
    :func:`device_from_args`. ``allow_all`` (with ``many``) documents ``--gpu all``;
    pass the same flag to :func:`devices_from_args`. ``measured=False`` leaves out
    ``--measured``, for a command that reads no ceilings (``vram``: memory only).
    """
    parser.add_argument(
        "--gpu",
        "--device",
        dest="gpus" if many else "gpu",
        action="append" if many else _OneDevice,
        metavar="NAME",
        required=required,
        help=("device (repeatable): " if many else "device: ")
        + "a name from `roofline gpus` (any spelling: 3090, 'RTX 3090', a100-80gb), "
        "'local' (this machine's GPU via NVML), 'cpu' (this CPU, measured), or a spec .yaml"
        + (", or 'all' (every device in the database)" if allow_all else ""),
    )
    add_specs_argument(parser)
    if not measured:
        return
    parser.add_argument(
        "--measured",
        action="store_true",
        help="use the device's measured ceilings (from `roofline calibrate`) instead of its datasheet",
    )


class _OneDevice(argparse.Action):
    """``--gpu`` of a command that analyses on one device: a second ``--gpu`` (or
    ``--gpu all``) is refused rather than the last one silently winning."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        command = parser.prog.removeprefix("roofline ")
        previous = getattr(namespace, self.dest, None)
        if previous is not None:
            parser.error(
                f"{command} takes one --gpu (got {previous!r} and {values!r}); for several "
                "side by side: roofline compare SPEC --gpu A --gpu B"
            )
        if is_all_name(values):
            parser.error(
                f"{command} takes one --gpu; for every device: roofline compare SPEC --gpu all"
            )
        setattr(namespace, self.dest, values)


def add_specs_argument(parser: argparse.ArgumentParser, suppress_default: bool = False) -> None:
    """Add ``--specs DIR`` (repeatable): folders of user spec files."""
    parser.add_argument(
        "--specs",
        action="append",
        metavar="DIR",
        default=argparse.SUPPRESS if suppress_default else None,
        help="folder of your own device spec files (overrides/extends the bundled ones; "
        "also $ROOFLINE_GPU_SPECS); repeatable",
    )


def _resolve(
    name: str, args: argparse.Namespace, skipped: dict[str, str] | None = None
) -> Device | None:
    """The device ``name`` stands for, with its measured ceilings under ``--measured``.

    A device without measured ceilings is then an error, unless ``skipped`` is given:
    it goes into that (name: why) and the answer is None."""
    device = get_device(name, getattr(args, "specs", None))
    if not getattr(args, "measured", False):
        return device
    if device.measured is None and skipped is not None:
        skipped[device.name] = "no measured ceilings"
        return None
    return device.with_measured()


def device_from_args(args: argparse.Namespace) -> Device | None:
    """The device the options name, or None if ``--gpu`` was not given."""
    check_spec_dirs(args)
    name = getattr(args, "gpu", None)
    # `--gpu ''` is an empty name (refused by the lookup), not "no --gpu"
    return _resolve(name, args) if name is not None else None


def check_spec_dirs(args: argparse.Namespace) -> None:
    """A ``--specs`` folder that does not exist fails even when no device is looked up
    (a typo would otherwise pass unnoticed)."""
    from roofline.devices.database import user_spec_dirs

    user_spec_dirs(getattr(args, "specs", None))


def devices_from_args(
    args: argparse.Namespace, allow_all: bool = False, skipped: dict[str, str] | None = None
) -> list[Device]:
    """The devices a repeatable ``--gpu`` names, in order, each once. With
    ``allow_all``, the name ``all`` stands for every device in the database (bundled
    and ``--specs``), by vendor and name; under ``--measured`` it stands for those with
    measured ceilings, and the others go into ``skipped`` (name: why) when given. A
    device named on its own without them is an error."""
    check_spec_dirs(args)
    out: dict[str, Device] = {}
    skipped = {} if skipped is None else skipped
    for name in dict.fromkeys(getattr(args, "gpus", None) or []):
        if allow_all and is_all_name(name):
            for d in all_devices(getattr(args, "specs", None)):
                if d.key not in out and (dev := _resolve(d.key, args, skipped)) is not None:
                    out[d.key] = dev
        else:
            dev = _resolve(name, args)
            assert dev is not None  # without `skipped`, a device or an error
            out.setdefault(dev.key, dev)
    return list(out.values())
