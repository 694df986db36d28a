"""Progress lines of long commands (calibration, benchmarks, batch searches), on stderr.

Piped or captured, every message is a line of its own, so a log keeps all of them. On
a terminal, a counter ("run 3/10", "tracing batch 64 ...") replaces the previous
counter in place and a finished count ("run 10/10") stays; any other message is a line
of its own. :func:`finish` ends a counter left on the line, so that nothing printed
after it (the results, an error) starts in the middle of it.
"""

from __future__ import annotations

import re
import shutil
import sys
from typing import TextIO

#: a message that counts: "... 3/10" or "tracing batch 64 ..." (ends in a number,
#: optionally followed by " ...")
COUNTER = re.compile(r"(?:(\d+)/(\d+)|\bbatch \d+)(?: \.\.\.)?$")

_pending: list[TextIO] = []  # the stream that has a counter on its last line


def _live(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def finish() -> None:
    """Clear a counter left on the terminal's last line."""
    while _pending:
        stream = _pending.pop()
        stream.write("\r\x1b[K")
        stream.flush()


class Progress:
    """A progress callback for the library (``progress=``): ``prefix`` + message."""

    def __init__(self, prefix: str = "", suffix: str = "", stream: TextIO | None = None) -> None:
        self.prefix, self.suffix, self._stream = prefix, suffix, stream

    def __call__(self, message: str) -> None:
        stream = self._stream or sys.stderr
        text = f"{self.prefix}{message}{self.suffix}"
        counter = COUNTER.search(message)
        if not _live(stream) or counter is None:
            finish()
            stream.write(text + "\n")
            stream.flush()
            return
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        done = counter.group(1) is not None and counter.group(1) == counter.group(2)
        stream.write("\r\x1b[K" + text[:width] + ("\n" if done else ""))
        stream.flush()
        _pending.clear()
        if not done:
            _pending.append(stream)


class ClearsProgress:
    """``sys.stdout`` while a command runs: ends a pending counter before any output,
    so results and progress never share a terminal line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if _pending:
            finish()
        return self._stream.write(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)
