"""Exception families, one per layer of the tool.

The library raises these and never prints or exits; the CLI turns any
:class:`RooflineError` into a one-line message and exit code 2. Every message is
written for the user: it says what is wrong and, where possible, how to fix it.
"""

from __future__ import annotations


class RooflineError(Exception):
    """Base class: a problem the user can fix (bad input, missing file, ...)."""


class SpecError(RooflineError):
    """A model spec (model.yaml, YOLO-format yaml) is missing, malformed or unusable."""


class CountingError(RooflineError):
    """The model could not be run under the counter (it rejects its inputs, ...)."""


class DeviceError(RooflineError):
    """A device spec is unknown, malformed, or a local device cannot be read."""


class AnalysisError(RooflineError):
    """A roofline analysis was asked for something the device cannot answer."""


class MemoryEstimateError(RooflineError):
    """A VRAM estimate was asked with impossible or malformed parameters."""


class MeasurementError(RooflineError):
    """A benchmark or calibration run failed (no CUDA, out of memory, ...)."""


class OutOfMemory(MeasurementError):
    """A run ran out of memory at its batch size, or was not started because it would."""


class StaleCalibrationError(MeasurementError):
    """A stored latency calibration was made by another version of the model (its
    ``format`` differs): it is not read, since its fits would silently miss terms this
    version predicts with; calibrating again replaces it. ``reason`` is the message
    without the advice ``fix``."""

    def __init__(self, reason: str, fix: str = "") -> None:
        super().__init__(f"{reason}: {fix}" if fix else reason)
        self.reason = reason


class ReportError(RooflineError):
    """A report could not be written (output path problems, ...)."""


def first_line(exc: object) -> str:
    """The first line of an error's message, or its class name when it has none: what
    a one-line error quotes of an exception the user's code (or torch) raised."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def error_line(exc: BaseException) -> str:
    """``"ValueError: first line"``, or the class name alone when there is no message."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
