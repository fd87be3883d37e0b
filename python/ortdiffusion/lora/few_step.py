"""Few-step LoRAs (LCM-LoRA, TCD-LoRA, Hyper-SD): which one a file is, and what it was made to run with, so
the CLI can pair them with their scheduler and say when a run departs from it.

A file is recognised by the metadata ortdiffusion's distillation writes (``ortdiffusion_few_step``: a JSON
object with "kind", "scheduler", "steps", "guidance") or, for the files people download, by the names they
are published under: ``lcm-lora-sdv1-5``, ``TCD-SD15-LoRA``, ``Hyper-SD15-8steps-lora`` (the step count in
the name) and ``Hyper-SD15-8steps-CFG-lora`` (made for guidance 5-8)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ortdiffusion.errors import FormatError
from ortdiffusion.safetensors_file import check_header

METADATA_KEY = "ortdiffusion_few_step"


@dataclass(frozen=True)
class FewStepLora:
    """What a few-step LoRA was made for: its kind, the scheduler classes it was distilled with, the step
    counts it is meant for, and the largest guidance scale that suits it (1 or less: no guidance)."""

    kind: str
    schedulers: tuple[str, ...]
    steps: tuple[int, int]  # the range it is meant for
    max_guidance: float
    advice: str  # what to pass instead, for the warning

    def departures(self, scheduler: str, trailing: bool, steps: int, guidance: float) -> list[str]:
        """What in a run (the scheduler's class name, whether its timestep spacing is "trailing", the step
        count and guidance scale) departs from what this LoRA was made for, one sentence each."""
        found = []
        if scheduler not in self.schedulers:
            found.append(f"it was distilled for {' or '.join(self.schedulers)}, this run uses {scheduler}")
        elif scheduler == "DDIMScheduler" and not trailing:
            found.append("it was distilled for DDIM with trailing timesteps; this run's DDIM spacing is not 'trailing'")
        low, high = self.steps
        if not low <= steps <= high:
            found.append(f"it is meant for {low}-{high} steps, this run takes {steps}")
        if guidance > self.max_guidance:
            found.append(f"it is meant for guidance <= {self.max_guidance:g}, this run uses {guidance:g}")
        return found


LCM = FewStepLora("LCM-LoRA", ("LCMScheduler",), (2, 8), 2.0, "--scheduler LCM --steps 4 --guidance 1")
TCD = FewStepLora("TCD-LoRA", ("TCDScheduler",), (2, 8), 2.0, "--scheduler TCD --steps 4 --guidance 1")
KINDS = {"LCM": LCM, "TCD": TCD}


def _hyper_sd(steps: int, cfg: bool) -> FewStepLora:
    """Hyper-SD's n-step LoRAs: made for DDIM with trailing timesteps (or TCD); the CFG variants for guidance 5-8."""
    guidance = 8.0 if cfg else 1.0
    return FewStepLora("Hyper-SD", ("DDIMScheduler", "TCDScheduler"), (steps, steps), guidance,
                       f"--scheduler 'DDIM Trailing' --steps {steps} --guidance {guidance:g}")


def few_step_lora(path: str | os.PathLike) -> FewStepLora | None:
    """The few-step LoRA ``path`` is (see the module docstring), or None for any other LoRA."""
    path = Path(path)
    if path.suffix == ".safetensors" and path.is_file():
        try:
            marked = check_header(path).metadata.get(METADATA_KEY)
        except FormatError:
            marked = None
        if marked:
            info = json.loads(marked)
            known = KINDS.get(str(info.get("kind", "LCM")).upper(), LCM)
            steps = int(info.get("steps", 4))
            return FewStepLora(known.kind, known.schedulers, (min(known.steps[0], steps), max(known.steps[1], steps)),
                               float(info.get("max_guidance", known.max_guidance)), known.advice)
    name = path.name.lower()
    hyper = re.search(r"hyper-?sd.*?(\d+)-?steps?", name)
    if hyper:
        return _hyper_sd(int(hyper.group(1)), "cfg" in name)
    if re.search(r"(^|[^a-z])lcm([^a-z]|$)", name):
        return LCM
    if re.search(r"(^|[^a-z])tcd([^a-z]|$)", name):
        return TCD
    return None


def few_step_metadata(kind: str = "LCM", steps: int = 4) -> dict[str, str]:
    """safetensors metadata that marks a LoRA file as a few-step LoRA of ``kind`` ("LCM" or "TCD") made for
    ``steps`` steps (written by ortdiffusion's distillation, read by :func:`few_step_lora`)."""
    if kind.upper() not in KINDS:
        raise ValueError(f"few-step LoRA kind must be one of {sorted(KINDS)}, got {kind!r}")
    return {METADATA_KEY: json.dumps({"kind": kind.upper(), "steps": steps})}
