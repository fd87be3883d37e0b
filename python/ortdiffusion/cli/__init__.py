"""The ``ortdiffusion`` command line. Prints; the library itself only logs.

Importing this module imports nothing else: the commands, numpy and ONNX Runtime are imported inside
:func:`main`, under its handling of errors and Ctrl-C, so an interrupt at any moment ends with one line
rather than a traceback."""

from __future__ import annotations

import sys

from ortdiffusion.cli.messages import INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ortdiffusion`` command; returns the exit status (2 for bad input, 128 + signal
    number when interrupted by SIGINT/SIGTERM, after removing any half-written output)."""
    try:
        from ortdiffusion.cli.command import run_command
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    return run_command(argv)


if __name__ == "__main__":
    sys.exit(main())
