"""``ortdiffusion schedulers``: the scheduler names ``--scheduler`` takes (diffusers class names and
AUTOMATIC1111 sampler names) and what each runs."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Print the implemented scheduler classes, then AUTOMATIC1111's names with their diffusers equivalent
    (those not implemented yet marked)."""
    from ortdiffusion.schedulers import SCHEDULER_CLASSES
    from ortdiffusion.schedulers.a1111_names import SAMPLER_NAMES

    print("diffusers classes (--scheduler CLASS; the model's own config otherwise):")
    for name in SCHEDULER_CLASSES:
        print(f"  {name}")
    print("AUTOMATIC1111 names (--scheduler \"NAME\"):")
    width = max(len(s.name) for s in SAMPLER_NAMES)
    for sampler in SAMPLER_NAMES:
        if not sampler.available and not args.all:
            continue
        overrides = ", ".join(f"{k}={v!r}" for k, v in sampler.overrides.items())
        runs = f"{sampler.class_name}({overrides})"
        mark = "" if sampler.available else "  (not implemented yet)"
        print(f"  {sampler.name:<{width}}  {runs}{mark}")
    if not args.all:
        print("(--all also lists the AUTOMATIC1111 names whose scheduler is not implemented yet)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``schedulers`` on the command's sub-parsers."""
    parser = sub.add_parser("schedulers", help="list the scheduler names --scheduler takes")
    parser.add_argument("--all", action="store_true", help="also list names not implemented yet")
    parser.set_defaults(func=run)
