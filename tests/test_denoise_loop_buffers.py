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

    def spy_into(self, model_output, timestep, sample, prev_sample, pred_original_sample=None, **kw):
        step_into(self, model_output, timestep, sample, prev_sample, pred_original_sample, **kw)
        x0 = pred_original_sample if pred_original_sample is not None else self._scratch  # the scheduler's own
        seen["into"].append((sample.ctypes.data, prev_sample.ctypes.data, x0.ctypes.data))

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
    feeds = {"sample": rng.standard_normal((2, 4, 4, 4), dtype=np.float32), "timestep": np.array([500, 500], np.float32),
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


class _CountingBinding:
    """An IOBinding that counts the inputs bound to it."""

    def __init__(self, binding) -> None:
        self.binding, self.inputs = binding, 0

    def bind_ortvalue_input(self, name, value):
        self.inputs += 1
        return self.binding.bind_ortvalue_input(name, value)

    def __getattr__(self, name):
        return getattr(self.binding, name)


class _SessionOn:
    """A session reporting other providers, running on the real one (its bindings counted)."""

    def __init__(self, session, providers) -> None:
        self.session, self.providers, self.bindings = session, providers, []

    def get_providers(self):
        return self.providers

    def io_binding(self):
        self.bindings.append(_CountingBinding(self.session.io_binding()))
        return self.bindings[-1]

    def run_with_iobinding(self, binding, *args):
        return self.session.run_with_iobinding(binding.binding, *args)


@pytest.mark.parametrize(("providers", "binds"), [(["CPUExecutionProvider"], 3 + 1),
                                                 (["CUDAExecutionProvider", "CPUExecutionProvider"], 3 * 2)])
def test_inputs_are_bound_again_only_where_binding_does_not_copy(pipe, providers, binds):
    """CPU: an unchanged array stays bound (its contents are read at run time). Other providers copy an
    input to the device when it is bound, so every input is bound again before every run."""
    import dataclasses

    unet = pipe.components.unet
    session = _SessionOn(unet.session, providers)
    model = dataclasses.replace(unet, session=session)
    rng = np.random.default_rng(0)
    sample = rng.standard_normal((2, 4, 4, 4), dtype=np.float32)
    text = rng.standard_normal((2, 77, unet.config["cross_attention_dim"])).astype(np.float32)
    run = BoundRun(model, np.empty((2, 4, 4, 4), np.float32))
    for t in (np.array([900, 900]), np.array([500, 500])):  # the timestep changes object, the rest do not
        sample *= 0.5  # changed in place: the run must see it
        out = run.run(sample=sample, timestep=t, encoder_hidden_states=text)
        np.testing.assert_array_equal(out, unet.run(sample=sample, timestep=t, encoder_hidden_states=text)[0])
    assert session.bindings[0].inputs == binds


def test_a_buffer_of_another_fixed_shape_does_not_fit(pipe):
    import dataclasses

    from ortdiffusion.sessions import TensorSpec

    unet = pipe.components.unet
    name, spec = next(iter(unet.outputs.items()))
    fixed = dataclasses.replace(unet, outputs={name: TensorSpec(name, (2, 4, 4, 4), spec.dtype)})
    assert BoundRun.fits(fixed, np.empty((2, 4, 4, 4), np.float32))
    assert not BoundRun.fits(fixed, np.empty((2, 4, 8, 8), np.float32))
    assert not BoundRun.fits(fixed, np.empty((2, 4, 4), np.float32))
