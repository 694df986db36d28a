"""The ``roofline`` command line. The only place in the tool that prints or exits.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds
an ``argparse`` parser whose ``run`` default is a function ``run(args) -> int``.
Any :class:`~roofline.errors.RooflineError` becomes one line on stderr and exit code
2; ``--debug`` shows the traceback instead. So does a ``sys.exit()`` in code a command
runs (the model's module or constructor), which would otherwise end it silently, and a
bare ``BaseException`` that code raises (neither an ``Exception`` nor an exit or Ctrl-C,
which still ends the command with exit code 130). A reader that stops early
(``roofline ... | head``) ends the command quietly with exit code 141 (128 + SIGPIPE,
as a tool killed by the signal), so subcommands write their files before printing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from roofline.errors import RooflineError

#: subcommand modules, in the order ``--help`` lists them
COMMANDS = ("profile", "compare", "gpus", "vram", "bench", "calibrate")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every available subcommand registered."""
    parser = _Parser(
        prog="roofline",
        description="Per-layer FLOPs, bytes and roofline analysis for PyTorch models.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    from roofline import __version__

    parser.add_argument("--version", action="version", version=f"roofline {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"roofline.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"roofline.cli.{name}_cmd":
                continue  # not built yet
            raise
        module.register(sub)
    for command in sub.choices.values():
        _add_debug(command)
    return parser


def _add_debug(parser: argparse.ArgumentParser) -> None:
    """Accept ``--debug`` after the subcommand too (``roofline profile x.yaml --debug``),
    where users type it; SUPPRESS keeps ``roofline --debug profile ...``'s value when it
    is not repeated there."""
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                _add_debug(nested)


#: exit status when stdout's reader went away (128 + SIGPIPE, like a killed C tool)
EXIT_BROKEN_PIPE = 141


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the output still buffered for a closed pipe is
    dropped instead of raising BrokenPipeError again when Python flushes at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roofline`` console script."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors, --help, --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from roofline.cli import _progress

    stdout = sys.stdout
    sys.stdout = _progress.ClearsProgress(stdout)  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            # torch's deprecation of its quantized dtypes, warned by a quantized model's
            # build and forward wherever a command runs one for real (vram, bench,
            # --measure, --compare-counters): the model's choice, nothing to act on here
            from roofline.counting import QUANTIZED_DTYPE_DEPRECATION

            warnings.filterwarnings("ignore", QUANTIZED_DTYPE_DEPRECATION, UserWarning)
            return int(args.run(args) or 0)
    except RooflineError as exc:
        if args.debug:
            raise
        _progress.finish()
        print(f"roofline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _progress.finish()
        print("roofline: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        # the tool never exits from inside a command: this is code it ran (a model
        # module that parses sys.argv at import, a constructor), which would otherwise
        # end the command silently with its own status
        _progress.finish()
        if args.debug:  # re-raised, it would end the process without a traceback
            import traceback

            traceback.print_exception(exc)
        print(f"roofline: error: {_exit_line(exc)}", file=sys.stderr)
        return 2
    except BaseException as exc:
        if isinstance(exc, Exception):  # a fault of the tool's own: its traceback
            raise
        # neither an Exception (which the spec turns into its error) nor an exit or
        # Ctrl-C: a bare BaseException subclass, which only code a command ran (the
        # model's module or constructor) raises
        _progress.finish()
        if args.debug:
            import traceback

            traceback.print_exception(exc)
        print(f"roofline: error: {_raised_line(exc)}", file=sys.stderr)
        return 2
    finally:
        _progress.finish()
        sys.stdout = stdout


def _exit_line(exc: SystemExit) -> str:
    """One line for a ``sys.exit()`` raised by code a command ran: where it was called,
    the innermost frame outside the standard library (an ``argparse`` parser's exit is
    named at the line of the model's code that called ``parse_args``)."""
    return (
        f"the model's code called sys.exit({exc.code!r}){_where(exc)}; a model's module and "
        "constructor must run without exiting (an argument parser at import?)"
    )


def _raised_line(exc: BaseException) -> str:
    """One line for a BaseException that is not an Exception, raised by code a command
    ran: what and where, as :func:`_exit_line` says it."""
    from roofline.errors import error_line

    return f"the model's code raised {error_line(exc)}{_where(exc)}"


def _where(exc: BaseException) -> str:
    """`` at FILE:LINE``: the innermost frame of ``exc``'s traceback outside the
    standard library; empty without a traceback."""
    import sysconfig
    import traceback

    paths = sysconfig.get_paths()
    stdlib = [os.path.realpath(paths[k]) + os.sep for k in ("stdlib", "platstdlib")]
    packages = [os.path.realpath(paths[k]) + os.sep for k in ("purelib", "platlib")]

    def in_stdlib(filename: str) -> bool:
        f = os.path.realpath(filename)
        return any(f.startswith(d) for d in stdlib) and not any(f.startswith(d) for d in packages)

    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not in_stdlib(f.filename)] or frames
    return f" at {own[-1].filename}:{own[-1].lineno}" if own else ""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
