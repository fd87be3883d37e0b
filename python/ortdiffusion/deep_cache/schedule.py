"""Which denoising steps run the full UNet under DeepCache, and the checks on the interval."""

from __future__ import annotations

from typing import Any


def check_cache_interval(cache_interval: Any) -> int:
    """``cache_interval`` as an int >= 1 (1: the full UNet every step, DeepCache off), or ValueError naming it."""
    if isinstance(cache_interval, bool) or not isinstance(cache_interval, int) or cache_interval < 1:
        raise ValueError(f"`cache_interval` must be an integer >= 1 (1 runs the full UNet at every step; N runs it "
                         f"every N-th step and the shallow branch in between), got {cache_interval!r}")
    return cache_interval


def is_full_step(step_index: int, cache_interval: int) -> bool:
    """DeepCache's uniform schedule (the DeepCache helper's ``skip_mode="uniform"``): the full UNet at steps
    0, N, 2N, ... and the shallow branch, on the features cached at the last of those, in between."""
    return step_index % cache_interval == 0


def refuse_deep_cache(cache_interval: Any) -> None:
    """For the ControlNet pipelines: ValueError unless ``cache_interval`` is 1 (DeepCache off)."""
    if check_cache_interval(cache_interval) > 1:
        raise ValueError(
            f"cache_interval={cache_interval}: DeepCache does not apply to ControlNet pipelines (a ControlNet adds a "
            "residual to every skip connection of the UNet, so even its shallow branch would need the whole "
            "ControlNet at every step); leave cache_interval at 1"
        )
