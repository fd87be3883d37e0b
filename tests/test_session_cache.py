"""The optimized-graph cache: stored on the first session, loaded (optimization off) on the next, with
the same outputs; invalidated by a changed model; skipped where it does not apply; never an error."""

from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import pytest

import ortdiffusion as od
from ortdiffusion import session_cache
from ortdiffusion.model_folder import part_folder
from ortdiffusion.models import default_model_path
from ortdiffusion.sessions import create_session


@pytest.fixture()
def unet_copy(tmp_path):
    folder = tmp_path / "model" / "unet"
    shutil.copytree(part_folder(default_model_path(), "unet"), folder)  # the complete part, not the packed one
    return folder / "model.onnx"


def _feeds(session):
    rng = np.random.default_rng(0)
    width = next(i.shape[2] for i in session.get_inputs() if i.name == "encoder_hidden_states")
    return {"sample": rng.standard_normal((2, 4, 8, 8), dtype=np.float32), "timestep": np.array([500, 500], np.int64),
            "encoder_hidden_states": rng.standard_normal((2, 77, width), dtype=np.float32)}


def test_second_session_loads_the_cached_graph_with_the_same_outputs(unet_copy, tmp_path):
    cache = tmp_path / "cache"
    plain = create_session(unet_copy)
    first = create_session(unet_copy, cache_dir=cache)
    second = create_session(unet_copy, cache_dir=cache)
    assert (first._ortdiffusion_cache, second._ortdiffusion_cache) == ("stored", "hit")
    entries = [p for p in cache.iterdir()]
    assert len(entries) == 1 and entries[0].name.startswith("unet-") and (entries[0] / "model.onnx").is_file()
    feeds = _feeds(plain)
    expected = plain.run(None, feeds)[0]
    np.testing.assert_array_equal(first.run(None, feeds)[0], expected)
    np.testing.assert_array_equal(second.run(None, feeds)[0], expected)


def test_a_changed_model_gets_a_new_entry(unet_copy, tmp_path):
    cache = tmp_path / "cache"
    create_session(unet_copy, cache_dir=cache)
    data = unet_copy.with_name("model.onnx_data")
    os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 10**9))
    assert create_session(unet_copy, cache_dir=cache)._ortdiffusion_cache == "stored"
    assert len(list(cache.iterdir())) == 2


def test_not_cached_with_replaced_weights_or_when_optimization_is_off(unet_copy, tmp_path):
    import onnxruntime as ort

    from ortdiffusion import initializers

    cache = tmp_path / "cache"
    weights = initializers.load(unet_copy)
    name = next(iter(weights))
    session = create_session(unet_copy, initializers={name: np.zeros_like(weights[name])}, cache_dir=cache)
    assert not hasattr(session, "_ortdiffusion_cache")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert not hasattr(create_session(unet_copy, sess_options=options, cache_dir=cache), "_ortdiffusion_cache")
    assert not cache.exists() or not list(cache.iterdir())


def test_a_damaged_entry_is_rebuilt_and_an_unwritable_cache_is_skipped(unet_copy, tmp_path, caplog):
    cache = tmp_path / "cache"
    create_session(unet_copy, cache_dir=cache)
    entry = next(cache.iterdir())
    (entry / "model.onnx").write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING):
        session = create_session(unet_copy, cache_dir=cache)
    assert session._ortdiffusion_cache == "stored" and "damaged" in caplog.text
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING):
        session = create_session(unet_copy, cache_dir=blocker / "cache")
    assert not hasattr(session, "_ortdiffusion_cache") and "continuing without it" in caplog.text


def test_pipelines_use_the_cache_by_default_and_can_turn_it_off(tmp_path, optimized_graph_cache):
    model = tmp_path / "model"
    shutil.copytree(default_model_path(), model)
    args = {"prompt": "a red circle", "num_inference_steps": 3, "generator": 1, "output_type": "np"}
    first = od.StableDiffusionPipeline.from_pretrained(model)
    second = od.StableDiffusionPipeline.from_pretrained(model)
    assert second.components.unet.session._ortdiffusion_cache == "hit"
    assert second.components.graph_cache == session_cache.default_cache_dir() == optimized_graph_cache
    off = od.StableDiffusionPipeline.from_pretrained(model, graph_cache=False)
    assert not hasattr(off.components.unet.session, "_ortdiffusion_cache")
    for pipe in (first, second, off):
        pipe.set_progress_bar_config(disable=True)
    expected = off(**args).images
    np.testing.assert_array_equal(first(**args).images, expected)
    np.testing.assert_array_equal(second(**args).images, expected)
