"""The ``ortdiffusion`` command line. Prints; the library itself only logs."""

from __future__ import annotations

import argparse
import sys

from ortdiffusion.cli import export, generate, scheduler


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``ortdiffusion``."""
    parser = argparse.ArgumentParser(prog="ortdiffusion", description="Stable Diffusion 1.x on ONNX Runtime.")
    sub = parser.add_subparsers(dest="command", required=True)
    generate.add_parser(sub)
    export.add_parser(sub)
    scheduler.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ortdiffusion`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as e:
        print(f"ortdiffusion: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ortdiffusion: interrupted; no partial output was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
