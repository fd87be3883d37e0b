"""The denoising loop's allocation-free path: the UNet writes into one bound output buffer, the scheduler
writes into two alternating latent buffers, and the pictures are bitwise those of the allocating path
(which diffusers' parity tests check)."""

from __future__ import annotations

import numpy as np
import pytest

import ortdiffusion as od
from ortdiffusion.pipelines.bound_run import BoundRun
from ortdiffusion.pipelines.components import OnnxModel

PROMPT = "a red circle on a blue background"


@pytest.fixture(scope="module")
def pipe(zoo):
    pipe = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _spy(monkeypatch):
    """Record the UNet output buffer of each bound run, the target of each step_into, and plain runs/steps."""
    seen: dict[str, list] = {"bound": [], "into": [], "run": [], "step": []}
    bound_run, step_into, step, run = BoundRun.run, od.DDIMScheduler.step_into, od.DDIMScheduler.step, OnnxModel.run

    def spy_bound(self, **feeds):
        out = bound_run(self, **feeds)
        seen["bound"].append(out.ctypes.data)
        return out

    def spy_into(self, model_output, timestep, sample, prev_sample, pred_original_sample, **kw):
        seen["into"].append((sample.ctypes.data, prev_sample.ctypes.data, pred_original_sample.ctypes.data))
        return step_into(self, model_output, timestep, sample, prev_sample, pred_original_sample, **kw)

    def spy_step(self, *args, **kw):
        seen["step"].append(1)
        return step(self, *args, **kw)

    def spy_run(self, **feeds):
        if "sample" in feeds:
            seen["run"].append(1)
        return run(self, **feeds)

    monkeypatch.setattr(BoundRun, "run", spy_bound)
    monkeypatch.setattr(od.DDIMScheduler, "step_into", spy_into)
    monkeypatch.setattr(od.DDIMScheduler, "step", spy_step)
    monkeypatch.setattr(OnnxModel, "run", spy_run)
    return seen


def test_loop_reuses_its_buffers_and_matches_the_allocating_path(pipe, monkeypatch):
    args = {"prompt": PROMPT, "num_inference_steps": 6, "height": 32, "width": 32, "generator": 3,
            "output_type": "latent"}
    reference = pipe(**args, callback_on_step_end=lambda p, i, t, tensors: {}).images  # allocating path
    seen = _spy(monkeypatch)
    latents = pipe(**args).images
    np.testing.assert_array_equal(latents, reference)
    assert seen["run"] == [] and seen["step"] == []
    assert len(seen["bound"]) == 6 and len(set(seen["bound"])) == 1  # one UNet output buffer for all steps
    targets = [prev for _, prev, _ in seen["into"]]
    assert len(targets) == 6 and len(set(targets)) == 2 and targets[0::2] == [targets[0]] * 3
    assert all(prev != sample for sample, prev, _ in seen["into"])  # a step never writes what it reads
    assert len({x0 for _, _, x0 in seen["into"]}) == 1
    assert latents.ctypes.data == targets[-1]  # the loop hands back its last buffer, no copy


def test_eta_and_callbacks_take_the_allocating_step(pipe, monkeypatch):
    seen = _spy(monkeypatch)
    pipe(PROMPT, num_inference_steps=3, height=32, width=32, generator=0, eta=0.5, output_type="latent")
    assert len(seen["step"]) == 3 and seen["into"] == []
    kept = []
    pipe(PROMPT, num_inference_steps=3, height=32, width=32, generator=0, output_type="latent",
         callback_on_step_end=lambda p, i, t, tensors: kept.append(tensors["latents"]) or {})
    assert len({k.ctypes.data for k in kept}) == 3  # arrays a callback keeps are never overwritten later


def test_bound_run_writes_the_first_output_into_the_callers_buffer(pipe):
    unet = pipe.components.unet
    rng = np.random.default_rng(0)
    feeds = {"sample": rng.standard_normal((2, 4, 4, 4), dtype=np.float32), "timestep": np.array([500, 500]),
             "encoder_hidden_states": rng.standard_normal((2, 77, unet.config["cross_attention_dim"])).astype(np.float32)}
    buffer = np.full((2, 4, 4, 4), np.nan, np.float32)
    assert BoundRun.fits(unet, buffer)
    out = BoundRun(unet, buffer).run(**feeds)
    assert out is buffer
    np.testing.assert_array_equal(buffer, unet.run(**feeds)[0])
    wrong = np.empty((2, 4, 4, 4), np.float64)
    assert not BoundRun.fits(unet, wrong)
    with pytest.raises(ValueError, match="cannot take the model's first output"):
        BoundRun(unet, wrong)
