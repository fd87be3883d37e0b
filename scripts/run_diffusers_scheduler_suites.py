"""Run diffusers' own scheduler test suites against ortdiffusion's schedulers (issue 15).

Each suite (``tests/schedulers/test_scheduler_<name>.py`` of a diffusers source checkout) is run twice
in a scratch copy: as it is (diffusers' classes: the baseline in this environment) and with only its
``from diffusers import <Class>`` line changed to import ortdiffusion's class of the same name. Prints
passed/failed/skipped per suite for both and the tests that fail with ours only.

The suites are not on PyPI (diffusers' sdist has no tests): pass a checkout of diffusers' repository,
ideally at the installed version's tag::

    python scripts/run_diffusers_scheduler_suites.py --diffusers-src ~/src/diffusers

needs the test extra (torch, diffusers) plus pytest; nothing is downloaded."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# suite file -> the diffusers classes it tests that ortdiffusion implements
SUITES = {
    "test_scheduler_ddim.py": ["DDIMScheduler"],
    "test_scheduler_pndm.py": ["PNDMScheduler"],
    "test_scheduler_euler.py": ["EulerDiscreteScheduler"],
    "test_scheduler_euler_ancestral.py": ["EulerAncestralDiscreteScheduler"],
    "test_scheduler_dpm_multi.py": ["DPMSolverMultistepScheduler"],
    "test_scheduler_unipc.py": ["UniPCMultistepScheduler"],
    "test_scheduler_lcm.py": ["LCMScheduler"],
    "test_scheduler_heun.py": ["HeunDiscreteScheduler"],
    "test_scheduler_ddpm.py": ["DDPMScheduler"],
    "test_scheduler_dpm_single.py": ["DPMSolverSinglestepScheduler"],
    "test_scheduler_lms.py": ["LMSDiscreteScheduler"],
    "test_scheduler_kdpm2_discrete.py": ["KDPM2DiscreteScheduler"],
    "test_scheduler_kdpm2_ancestral.py": ["KDPM2AncestralDiscreteScheduler"],
    "test_scheduler_tcd.py": ["TCDScheduler"],
}
# what a suite imports from the rest of diffusers' tests folder
SUPPORT = ["__init__.py", "testing_utils.py", "schedulers/__init__.py", "schedulers/test_schedulers.py",
           "others/__init__.py", "others/test_utils.py"]


def copy_tests(source: Path, target: Path) -> None:
    """The suites and what they import, from ``source`` (a diffusers checkout) into ``target/tests``."""
    for relative in [*SUPPORT, *(f"schedulers/{s}" for s in SUITES)]:
        src = source / "tests" / relative
        if not src.is_file():
            raise SystemExit(f"{src} not found: --diffusers-src must be a checkout of diffusers' repository")
        dst = target / "tests" / relative
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def use_ortdiffusion(suite: Path, classes: list[str]) -> None:
    """Change where the suite imports ``classes`` from: diffusers -> ortdiffusion, nothing else (a single-name
    ``from diffusers import X`` line is rewritten; a name inside a parenthesised import list is moved to its
    own ``from ortdiffusion import X`` line)."""
    text = suite.read_text()
    for name in classes:
        single = re.compile(rf"^from diffusers import {name}$", re.MULTILINE)
        listed = re.compile(rf"^(from diffusers import \((?:\n    \w+,)*?)\n    {name},", re.MULTILINE)
        if single.search(text):
            text = single.sub(f"from ortdiffusion import {name}", text)
        elif listed.search(text):
            text = listed.sub(r"\1", text, count=1)
            block_end = text.index(")", text.index("from diffusers import ("))
            text = text[: block_end + 1] + f"\nfrom ortdiffusion import {name}" + text[block_end + 1 :]
        else:
            raise SystemExit(f"{suite.name}: no import of {name} from diffusers to change")
    suite.write_text(text)


def run_suite(root: Path, suite: str) -> tuple[dict[str, int], list[str]]:
    """pytest's counts and the failed test ids of one suite."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", "-rf", f"tests/schedulers/{suite}"],
        cwd=root, capture_output=True, text=True, check=False,
    )
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|error)", result.stdout)}
    failed = re.findall(r"^FAILED (\S+)", result.stdout, re.MULTILINE)
    return counts, failed


def main() -> int:
    """Run every suite with diffusers' classes and with ours; print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diffusers-src", type=Path, required=True, help="a checkout of diffusers' repository")
    args = parser.parse_args()
    totals = {"diffusers": 0, "ortdiffusion": 0}
    with tempfile.TemporaryDirectory() as scratch:
        for variant in ("diffusers", "ortdiffusion"):
            root = Path(scratch) / variant
            copy_tests(args.diffusers_src, root)
            if variant == "ortdiffusion":
                for suite, classes in SUITES.items():
                    use_ortdiffusion(root / "tests" / "schedulers" / suite, classes)
        for suite in SUITES:
            base_counts, base_failed = run_suite(Path(scratch) / "diffusers", suite)
            our_counts, our_failed = run_suite(Path(scratch) / "ortdiffusion", suite)
            totals["diffusers"] += base_counts.get("passed", 0)
            totals["ortdiffusion"] += our_counts.get("passed", 0)
            print(f"{suite}: diffusers {base_counts}, ortdiffusion {our_counts}")
            for test in sorted(set(our_failed) - set(base_failed)):
                print(f"  fails with ours only: {test}")
            for test in sorted(set(base_failed)):
                print(f"  fails with diffusers' own class here too: {test}")
    print(f"passed: ortdiffusion {totals['ortdiffusion']}, diffusers' own classes {totals['diffusers']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
