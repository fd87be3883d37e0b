"""DeepCache (Ma et al. 2023, "DeepCache: Accelerating Diffusion Models for Free"): between full UNet steps,
run only the UNet's shallowest branch and reuse the deep features of the last full step.

An export made with ``--deep-cache`` (graphs.py: :func:`mark_deep_features`) names those features as an
extra output of the UNet graph; the shallow graph is cut from the same graph when it is first needed
(:func:`shallow_graph`), so it reads the very weights of the full one, in whatever form the folder stores
them (packed, float16, int8, LoRA-merged or live)."""

from ortdiffusion.deep_cache.graphs import DEEP_FEATURES, add_deep_cache, mark_deep_features, shallow_graph
from ortdiffusion.deep_cache.schedule import check_cache_interval, is_full_step, refuse_deep_cache

__all__ = ["DEEP_FEATURES", "add_deep_cache", "check_cache_interval", "is_full_step", "mark_deep_features",
           "refuse_deep_cache", "shallow_graph"]
