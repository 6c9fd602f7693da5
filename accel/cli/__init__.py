"""The ``accel`` command line. It only parses, calls the library and prints.

Each subcommand is a module of this package that defines ``NAME`` (the word typed after
``accel``), ``HELP`` (its line in ``accel --help``), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code), and optionally ``DESCRIPTION``, shown verbatim by
its ``--help``. Flags and helpers that more than one subcommand uses live in ``common``.
A new subcommand is a new module plus one entry in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .. import __version__
from ..errors import AccelError
from . import (
    curve,
    networks,
    pareto,
    prune,
    rtl,
    search,
    show_config,
    simulate,
    sweep,
    synth,
    tradeoff,
    verify,
)
from .common import Parser, flag_of

__all__ = ["build_parser", "main"]

# In the order that ``accel --help`` lists them.
COMMANDS = (
    simulate, curve, rtl, synth, verify, prune, tradeoff, sweep, search, pareto, networks,
    show_config,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="accel",
        description="Sparse-accelerator toolkit: cycle-exact "
        "simulation of a zero-skipping PE array, golden model and energy model.",
    )
    parser.add_argument("--version", action="version", version=f"accel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        # The raw formatter only changes how a DESCRIPTION is shown; flag help is unchanged.
        p = sub.add_parser(
            command.NAME,
            help=command.HELP,
            description=getattr(command, "DESCRIPTION", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(p)
        p.set_defaults(func=command.run)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised so that it unwinds like Ctrl-C: every temporary file is removed."""


def _terminated(signum, frame):  # noqa: ARG001 - the signal module's signature
    raise Terminated


def _blank_value(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The error for the first option given an empty (or all-blank) string or "--": no
    flag takes one, and a blank path would otherwise read as 'not given' or as the
    current directory."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[args.command]._actions:
        value = getattr(args, action.dest, None)
        if action.nargs is None and isinstance(action, argparse._AppendAction):
            values = value or []
        else:
            values = [value]
        for one in values:
            # argparse drops a value of "--" (--flag=--) and leaves an empty list
            name = "/".join(action.option_strings) or action.dest
            if isinstance(one, str) and not one.strip():
                return f"{name} needs a value, not an empty string"
            if action.nargs is None and isinstance(one, list):
                return f"{name} needs a value, not '--'"
    return None


# Options that name a file the run reads, checked (a regular, readable file) before any
# work starts: dest -> (a built-in name that is not a path, the option it goes with; an
# option given without its partner is left to the command, whose error says so).
INPUT_FILES: dict[str, tuple[str | None, str | None]] = {
    "config": (None, None),
    "energy": (None, None),
    "gemm": (None, None),
    "onnx": (None, None),
    "input": (None, "onnx"),
    "text": (None, "safetensors"),
    "safetensors": ("minilm", None),
    "space": (None, None),
}


# Commands that run Yosys (Amaranth's Verilog back end, synthesis) or build simulators:
# they need the cache directory (YoWASP keeps its compiled tools there).
CACHE_USERS = frozenset({"rtl", "synth", "verify"})


def _check_inputs(command: str, args: argparse.Namespace) -> None:
    from ..cache import cache_root
    from ..inputs import input_file

    if command in CACHE_USERS:
        cache_root()

    if command == "prune":  # its positional IN (dest "input") is the model to prune
        input_file(args.input, "IN")
        return
    for dest, (builtin, partner) in INPUT_FILES.items():
        given = getattr(args, dest, None)
        for value in given if isinstance(given, list) else [given]:  # a flag given often
            if value is None or value == builtin:
                continue
            if partner is None or getattr(args, partner, None):
                input_file(value, flag_of(dest))


def _printable_streams() -> None:
    """A file name that is not UTF-8 (decoded with surrogate escapes) is printed with
    backslash escapes instead of ending the run in ``UnicodeEncodeError``."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


class StdoutError(Exception):
    """Writing to standard output failed (a full device, a closed terminal)."""


class _GuardedStdout:
    """``sys.stdout``, with a failed write raised as :class:`StdoutError`, so that it is
    told apart from an ``OSError`` of the work itself."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def _guard(self, method, *args):
        try:
            return method(*args)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise StdoutError(err.strerror or str(err)) from None

    def write(self, text):
        return self._guard(self._stream.write, text)

    def flush(self):
        return self._guard(self._stream.flush)


def _silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that what stays buffered is dropped at
    exit instead of raising again there."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor (captured output)
        pass


def main(argv: list[str] | None = None) -> int:
    _printable_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    blank = _blank_value(parser, args)
    if blank is not None:
        print(f"accel {args.command}: error: {blank}", file=sys.stderr)
        return 2
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
    stdout, sys.stdout = sys.stdout, _GuardedStdout(sys.stdout)
    try:
        _check_inputs(args.command, args)
        code = args.func(args)
        sys.stdout.flush()  # a full device is found here, not at exit
        return code
    except AccelError as err:
        print(f"accel {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except StdoutError as err:
        _silence_stdout()
        print(f"accel {args.command}: error: cannot write to standard output ({err})",
              file=sys.stderr)  # fmt: skip
        return 2
    finally:
        sys.stdout = stdout
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
