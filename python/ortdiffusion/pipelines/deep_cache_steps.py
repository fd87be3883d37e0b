"""The UNet runs of one denoising loop under DeepCache: the full UNet at the schedule's full steps, keeping its
``deep_features`` output, and the shallow UNet on those features in between (deep_cache/)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ortdiffusion.deep_cache import DEEP_FEATURES, is_full_step
from ortdiffusion.pipelines.components import PipelineComponents


class DeepCacheSteps:
    """Noise predictions for the steps of one call with ``cache_interval`` N > 1."""

    def __init__(self, components: PipelineComponents, cache_interval: int) -> None:
        self._full = components.unet
        self._shallow = components.shallow_unet()
        self._interval = cache_interval
        self._outputs = [next(iter(self._full.outputs)), DEEP_FEATURES]
        self._features: np.ndarray | None = None

    def run(self, step_index: int, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """The UNet's noise prediction at step ``step_index`` of the loop for ``feeds`` (the full UNet's inputs)."""
        if self._features is None or is_full_step(step_index, self._interval):
            noise, self._features = self._full.session.run(self._outputs, self._full.prepare_feeds(feeds))
            return noise.astype(np.float32, copy=False)
        shallow = {k: v for k, v in feeds.items() if k in self._shallow.inputs}
        shallow[DEEP_FEATURES] = self._features
        return self._shallow.run(**shallow)[0].astype(np.float32, copy=False)
