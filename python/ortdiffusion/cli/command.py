"""The ``ortdiffusion`` command: its parser and how it runs (errors, signals). Imported by
:func:`ortdiffusion.cli.main` inside its Ctrl-C handling."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ortdiffusion.cli import batch, export, generate, lora, quantize, scheduler, schedulers, serve
from ortdiffusion.cli.messages import INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``ortdiffusion``."""
    parser = argparse.ArgumentParser(prog="ortdiffusion", description="Stable Diffusion 1.x on ONNX Runtime.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    generate.add_parser(sub)
    batch.add_parser(sub)
    export.add_parser(sub)
    lora.add_parser(sub)
    quantize.add_parser(sub)
    scheduler.add_parser(sub)
    schedulers.add_parser(sub)
    serve.add_parser(sub)
    return parser


def _version() -> str:
    """The installed package's version (importlib.metadata), or "unknown" when run from a bare source tree."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ortdiffusion")
    except PackageNotFoundError:
        return "unknown"


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that temporary outputs are cleaned up on the way out."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def run_command(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status (2 for bad input, 128 + signal number when
    interrupted by SIGINT/SIGTERM, after removing any half-written output)."""
    in_main_thread = threading.current_thread() is threading.main_thread()  # signal handlers live there only
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        # Building the parser imports parts of the package, and the commands import numpy and ONNX Runtime:
        # all of it happens in here, so Ctrl-C at any moment ends with the message below, not a traceback.
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as e:
        print(f"ortdiffusion: error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated, ImportError) as e:
        signal_cause = _interruption(e)
        if signal_cause is None:
            raise
        print(INTERRUPTED, file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(signal_cause, Terminated) else signal.SIGINT)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _interruption(error: BaseException | None) -> BaseException | None:
    """The KeyboardInterrupt or Terminated behind ``error``, or None: a C extension interrupted while it
    initialises raises ImportError ("initialization failed") with the interrupt as its cause or context."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (KeyboardInterrupt, Terminated)):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
