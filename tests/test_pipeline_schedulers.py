"""Pipelines with the schedulers ortdiffusion implements, against diffusers pipelines with diffusers'
schedulers of the same class and config (tiny models built here): the class the folder's
scheduler_config.json names is the default (a stock SD 1.5 folder runs PNDM), swaps as in diffusers, and
each call runs its own copy of a multistep scheduler's state."""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from test_pipeline_parity import PROMPT, TOLERANCE, box_mask, scene

import ortdiffusion as od
from ortdiffusion.schedulers import scheduler_class

STEPS = 8
SD15_PNDM = {
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_start": 0.00085, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None, "clip_sample": False,
}


def _folder_with_scheduler(zoo, tmp_path, config: dict, kind: str = "base"):
    import json

    folder = tmp_path / f"with-{config.get('_class_name', 'none')}"
    shutil.copytree(zoo.exported(kind), folder)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    return folder


def _diffusers_pipe(cls_name: str, folder, scheduler_config: dict, **components):
    import diffusers

    scheduler = getattr(diffusers, scheduler_config["_class_name"]).from_config(scheduler_config)
    pipe = getattr(diffusers, cls_name).from_pretrained(
        folder, scheduler=scheduler, safety_checker=None, requires_safety_checker=False, **components
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _same_pictures(ref, ours, torch, seed, **kwargs):
    args = dict(num_inference_steps=STEPS, output_type="np", **kwargs)
    with torch.no_grad():
        expected = ref(generator=torch.Generator().manual_seed(seed), **args).images
    got = ours(generator=seed, **args).images
    err = float(np.abs(got - expected).max())
    assert err <= TOLERANCE, f"max abs difference {err:.3g} > {TOLERANCE}"
    return got


def test_stock_sd15_folder_runs_pndm_like_diffusers(zoo, tmp_path, torch):
    folder = _folder_with_scheduler(zoo, tmp_path, SD15_PNDM)
    ours = od.StableDiffusionPipeline.from_pretrained(folder)
    ours.set_progress_bar_config(disable=True)
    assert type(ours.scheduler) is od.PNDMScheduler and ours.scheduler.config.skip_prk_steps
    ref = _diffusers_pipe("StableDiffusionPipeline", zoo.diffusers("base"), SD15_PNDM)
    pndm = _same_pictures(ref, ours, torch, 0, prompt=PROMPT, height=32, width=32)
    # DDIM on the same folder gives another picture: the scheduler really changed
    ours.scheduler = od.DDIMScheduler.from_config(ours.scheduler.config)
    ddim = ours(PROMPT, num_inference_steps=STEPS, height=32, width=32, generator=0, output_type="np").images
    assert np.abs(ddim - pndm).max() > 1e-3


@pytest.mark.parametrize("skip_prk_steps", [True, False], ids=["plms", "prk+plms"])
def test_img2img_with_pndm_matches_diffusers(zoo, torch, skip_prk_steps):
    config = {**SD15_PNDM, "skip_prk_steps": skip_prk_steps}
    ref = _diffusers_pipe("StableDiffusionImg2ImgPipeline", zoo.diffusers("base"), config)
    ours = od.StableDiffusionImg2ImgPipeline.from_pretrained(
        zoo.exported("base"), scheduler=od.PNDMScheduler.from_config(config)
    )
    ours.set_progress_bar_config(disable=True)
    _same_pictures(ref, ours, torch, 2, prompt=PROMPT, image=scene(64, 48), strength=0.7)


def test_inpaint_with_pndm_matches_diffusers(zoo, torch):
    ref = _diffusers_pipe("StableDiffusionInpaintPipeline", zoo.diffusers("inpaint"), SD15_PNDM)
    ours = od.StableDiffusionInpaintPipeline.from_pretrained(zoo.exported("inpaint"))
    ours.scheduler = od.PNDMScheduler.from_config(SD15_PNDM)
    ours.set_progress_bar_config(disable=True)
    _same_pictures(ref, ours, torch, 3, prompt=PROMPT, image=scene(64, 48), mask_image=box_mask(64, 48),
                   height=48, width=64, strength=1.0)


def test_controlnet_with_pndm_matches_diffusers(zoo, torch):
    from diffusers import ControlNetModel

    net = ControlNetModel.from_pretrained(zoo.controlnet(0))
    ref = _diffusers_pipe("StableDiffusionControlNetPipeline", zoo.diffusers("base"), SD15_PNDM, controlnet=net)
    ours = od.StableDiffusionControlNetPipeline.from_pretrained(zoo.exported("cn1"), scheduler=od.PNDMScheduler.from_config(SD15_PNDM))
    ours.set_progress_bar_config(disable=True)
    args = {"num_inference_steps": STEPS, "output_type": "np"}
    with torch.no_grad():
        expected = ref(PROMPT, image=scene(48, 32, seed=1), generator=torch.Generator().manual_seed(5), **args).images
    got = ours(PROMPT, control_image=scene(48, 32, seed=1), generator=5, **args).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_a_diffusers_scheduler_becomes_the_native_one_and_others_are_refused(zoo):
    import diffusers

    pipe = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    pipe.scheduler = diffusers.PNDMScheduler.from_config(SD15_PNDM)
    assert type(pipe.scheduler) is od.PNDMScheduler and pipe.scheduler.config.steps_offset == 1
    with pytest.raises(TypeError, match="must be an ortdiffusion scheduler \\(DDIMScheduler, PNDMScheduler"):
        pipe.scheduler = diffusers.DEISMultistepScheduler()
    with pytest.raises(TypeError, match="got builtins.str"):
        pipe.scheduler = "PNDM"


def test_a_folder_naming_an_unimplemented_class_warns_and_runs_ddim(zoo, tmp_path, caplog):
    folder = _folder_with_scheduler(zoo, tmp_path, {**SD15_PNDM, "_class_name": "KarrasVeScheduler"})
    with caplog.at_level(logging.WARNING):
        pipe = od.StableDiffusionPipeline.from_pretrained(folder)
    assert type(pipe.scheduler) is od.DDIMScheduler
    assert "names KarrasVeScheduler, which ortdiffusion does not implement" in caplog.text
    assert "implemented: DDIMScheduler, PNDMScheduler" in caplog.text


def test_threads_sharing_a_pndm_pipeline_give_the_sequential_pictures(zoo):
    pipe = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"), scheduler=od.PNDMScheduler.from_config(SD15_PNDM))
    pipe.set_progress_bar_config(disable=True)

    def picture(seed: int) -> np.ndarray:
        return pipe(PROMPT, num_inference_steps=6, height=32, width=32, generator=seed, output_type="latent").images

    sequential = [picture(s) for s in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(picture, range(4)))
    for a, b in zip(sequential, parallel):
        np.testing.assert_array_equal(a, b)


SD15_EULER = {**SD15_PNDM, "_class_name": "EulerDiscreteScheduler"}
SD15_EULER_KARRAS = {**SD15_EULER, "use_karras_sigmas": True}
SD15_EULER_A = {**SD15_PNDM, "_class_name": "EulerAncestralDiscreteScheduler"}
SD15_DPMPP_2M_KARRAS = {**SD15_PNDM, "_class_name": "DPMSolverMultistepScheduler", "use_karras_sigmas": True}
SD15_DPMPP_2M_SDE_KARRAS = {**SD15_DPMPP_2M_KARRAS, "algorithm_type": "sde-dpmsolver++"}
SD15_UNIPC = {**SD15_PNDM, "_class_name": "UniPCMultistepScheduler"}
SD15_LCM = {**SD15_PNDM, "_class_name": "LCMScheduler"}
SD15_HEUN = {**SD15_PNDM, "_class_name": "HeunDiscreteScheduler"}
SD15_DDPM = {**SD15_PNDM, "_class_name": "DDPMScheduler"}
SD15_LMS_KARRAS = {**SD15_PNDM, "_class_name": "LMSDiscreteScheduler", "use_karras_sigmas": True}
SD15_DPMPP_SDE_KARRAS = {**SD15_PNDM, "_class_name": "DPMSolverSinglestepScheduler", "use_karras_sigmas": True,
                         "algorithm_type": "sde-dpmsolver++"}
SD15_TCD = {**SD15_PNDM, "_class_name": "TCDScheduler"}
SD15_KDPM2 = {**SD15_PNDM, "_class_name": "KDPM2DiscreteScheduler"}
SD15_KDPM2_A_KARRAS = {**SD15_PNDM, "_class_name": "KDPM2AncestralDiscreteScheduler", "use_karras_sigmas": True}
SIGMA_CONFIGS = {"euler": SD15_EULER, "euler-karras": SD15_EULER_KARRAS, "euler-a": SD15_EULER_A,
                 "dpm++2m-karras": SD15_DPMPP_2M_KARRAS, "dpm++2m-sde-karras": SD15_DPMPP_2M_SDE_KARRAS,
                 "unipc": SD15_UNIPC, "lcm": SD15_LCM, "heun": SD15_HEUN, "ddpm": SD15_DDPM,
                 "kdpm2": SD15_KDPM2, "lms-karras": SD15_LMS_KARRAS, "tcd": SD15_TCD, "dpm++sde-karras": SD15_DPMPP_SDE_KARRAS, "kdpm2-a-karras": SD15_KDPM2_A_KARRAS}


def _ours_with(cls_name: str, folder, config: dict):
    pipe = getattr(od, cls_name).from_pretrained(folder, scheduler=scheduler_class(config["_class_name"]).from_config(config))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("name", list(SIGMA_CONFIGS))
def test_text2img_with_sigma_schedulers_matches_diffusers(zoo, torch, name):
    config = SIGMA_CONFIGS[name]
    ref = _diffusers_pipe("StableDiffusionPipeline", zoo.diffusers("base"), config)
    ours = _ours_with("StableDiffusionPipeline", zoo.exported("base"), config)
    _same_pictures(ref, ours, torch, 1, prompt=PROMPT, height=32, width=32)


@pytest.mark.parametrize("name", ["euler", "euler-a", "dpm++2m-karras", "dpm++2m-sde-karras", "unipc", "lcm", "heun",
                                  "kdpm2-a-karras", "dpm++sde-karras"])
def test_img2img_and_inpaint_with_sigma_schedulers_match_diffusers(zoo, torch, name):
    config = SIGMA_CONFIGS[name]
    ref = _diffusers_pipe("StableDiffusionImg2ImgPipeline", zoo.diffusers("base"), config)
    ours = _ours_with("StableDiffusionImg2ImgPipeline", zoo.exported("base"), config)
    _same_pictures(ref, ours, torch, 2, prompt=PROMPT, image=scene(64, 48), strength=0.6)
    ref = _diffusers_pipe("StableDiffusionInpaintPipeline", zoo.diffusers("inpaint"), config)
    ours = _ours_with("StableDiffusionInpaintPipeline", zoo.exported("inpaint"), config)
    _same_pictures(ref, ours, torch, 3, prompt=PROMPT, image=scene(64, 48), mask_image=box_mask(64, 48),
                   height=48, width=64, strength=0.8)
    # a 4-channel UNet inpaints by re-noising the kept region through add_noise at the running step index
    ref = _diffusers_pipe("StableDiffusionInpaintPipeline", zoo.diffusers("base"), config)
    ours = _ours_with("StableDiffusionInpaintPipeline", zoo.exported("base"), config)
    _same_pictures(ref, ours, torch, 4, prompt=PROMPT, image=scene(32, 32), mask_image=box_mask(32, 32),
                   height=32, width=32, strength=0.8)


@pytest.mark.parametrize("name", ["euler-a", "dpm++2m-karras", "heun"])
def test_controlnet_with_sigma_schedulers_matches_diffusers(zoo, torch, name):
    from diffusers import ControlNetModel

    net = ControlNetModel.from_pretrained(zoo.controlnet(0))
    ref = _diffusers_pipe("StableDiffusionControlNetPipeline", zoo.diffusers("base"), SIGMA_CONFIGS[name], controlnet=net)
    ours = _ours_with("StableDiffusionControlNetPipeline", zoo.exported("cn1"), SIGMA_CONFIGS[name])
    args = {"num_inference_steps": STEPS, "output_type": "np"}
    with torch.no_grad():
        expected = ref(PROMPT, image=scene(48, 32, seed=1), generator=torch.Generator().manual_seed(5), **args).images
    got = ours(PROMPT, control_image=scene(48, 32, seed=1), generator=5, **args).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_integer_timestep_exports_round_fractional_timesteps_with_a_warning(caplog):
    pipe = od.StableDiffusionPipeline.from_pretrained("default", scheduler=od.EulerDiscreteScheduler.from_config(SD15_EULER))
    pipe.set_progress_bar_config(disable=True)
    with caplog.at_level(logging.WARNING):
        pipe("a red circle", num_inference_steps=3, height=32, width=32, generator=0, output_type="latent")
    assert "takes integer timesteps but EulerDiscreteScheduler steps through fractional ones (e.g. 499.500)" in caplog.text
    caplog.clear()
    pipe.scheduler = od.EulerDiscreteScheduler.from_config(pipe.scheduler.config, timestep_spacing="leading")
    with caplog.at_level(logging.WARNING):
        pipe("a red circle", num_inference_steps=3, height=32, width=32, generator=0, output_type="latent")
    assert "integer timesteps" not in caplog.text


def test_tcd_with_gamma_draws_like_diffusers(zoo, torch):
    """The pipeline's eta reaches TCD's step as its gamma (diffusers' prepare_extra_step_kwargs), with the
    noise drawn from the call's generator."""
    ref = _diffusers_pipe("StableDiffusionPipeline", zoo.diffusers("base"), SD15_TCD)
    ours = _ours_with("StableDiffusionPipeline", zoo.exported("base"), SD15_TCD)
    stochastic = _same_pictures(ref, ours, torch, 1, prompt=PROMPT, height=32, width=32, eta=0.3)
    deterministic = ours(PROMPT, num_inference_steps=STEPS, height=32, width=32, generator=1, output_type="np").images
    assert np.abs(stochastic - deterministic).max() > 1e-3


def test_custom_timesteps_and_sigmas_as_diffusers_retrieve_timesteps(zoo, torch):
    """``timesteps=`` / ``sigmas=`` reach the scheduler's set_timesteps where it takes them (diffusers'
    retrieve_timesteps), text2img and img2img alike; a scheduler without them is refused by name."""
    ref = _diffusers_pipe("StableDiffusionPipeline", zoo.diffusers("base"), SD15_EULER)
    ours = _ours_with("StableDiffusionPipeline", zoo.exported("base"), SD15_EULER)
    _same_pictures(ref, ours, torch, 1, prompt=PROMPT, height=32, width=32, timesteps=[999, 700, 400, 100])
    _same_pictures(ref, ours, torch, 1, prompt=PROMPT, height=32, width=32, sigmas=[14.6, 6.0, 2.0, 0.5, 0.0])
    ref = _diffusers_pipe("StableDiffusionImg2ImgPipeline", zoo.diffusers("base"), SD15_DPMPP_2M_KARRAS)
    ours = _ours_with("StableDiffusionImg2ImgPipeline", zoo.exported("base"), {**SD15_DPMPP_2M_KARRAS, "use_karras_sigmas": False})
    ref.scheduler = ref.scheduler.from_config(ref.scheduler.config, use_karras_sigmas=False)
    _same_pictures(ref, ours, torch, 2, prompt=PROMPT, image=scene(64, 48), strength=0.6,
                   timesteps=[999, 800, 600, 400, 200, 50])
    ddim = _ours_with("StableDiffusionPipeline", zoo.exported("base"), {**SD15_PNDM, "_class_name": "DDIMScheduler"})
    with pytest.raises(ValueError, match="DDIMScheduler's `set_timesteps` does not support custom sigmas schedules"):
        ddim(PROMPT, height=32, width=32, sigmas=[1.0, 0.0])
    with pytest.raises(ValueError, match="Only one of `timesteps` or `sigmas`"):
        ours(PROMPT, image=scene(64, 48), timesteps=[999], sigmas=[1.0, 0.0])


def test_lcm_distilled_unet_takes_the_guidance_embedding_as_diffusers(zoo, torch):
    """A UNet with time_cond_proj_dim exports with a timestep_cond input; the pipeline feeds diffusers'
    guidance-scale embedding there and runs no unconditional half (diffusers' rule), so pictures match
    diffusers' at several guidance scales, and the scale changes the picture."""
    ours_folder = zoo.exported("lcm")
    ref = _diffusers_pipe("StableDiffusionPipeline", zoo.diffusers("lcm"), SD15_LCM)
    ours = _ours_with("StableDiffusionPipeline", ours_folder, SD15_LCM)
    assert "timestep_cond" in ours.components.unet.inputs
    pictures = [
        _same_pictures(ref, ours, torch, 1, prompt=PROMPT, height=32, width=32, guidance_scale=g) for g in (1.0, 8.0)
    ]
    assert np.abs(pictures[0] - pictures[1]).max() > 1e-3
    ref = _diffusers_pipe("StableDiffusionImg2ImgPipeline", zoo.diffusers("lcm"), SD15_LCM)
    ours = _ours_with("StableDiffusionImg2ImgPipeline", ours_folder, SD15_LCM)
    _same_pictures(ref, ours, torch, 2, prompt=PROMPT, image=scene(64, 48), strength=0.6, guidance_scale=4.0)


def test_guidance_embedding_matches_diffusers(torch):
    from diffusers import StableDiffusionPipeline as DiffusersPipeline

    from ortdiffusion.pipelines.guidance_embedding import guidance_scale_embedding

    # the angles w f reach 7500 rad, where one float32 ulp of a frequency (torch's MKL exp against numpy's)
    # moves sin/cos by up to 5e-4; the frequencies themselves agree to an ulp
    for g, dim in ((1.0, 32), (8.5, 256), (3.0, 33)):
        want = DiffusersPipeline.get_guidance_scale_embedding(None, torch.tensor(g - 1).repeat(2), embedding_dim=dim)
        got = guidance_scale_embedding(g, 2, dim)
        assert got.shape == tuple(want.shape) and got.dtype == np.float32
        np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match="time_cond_proj_dim must be at least 4"):
        guidance_scale_embedding(2.0, 1, 2)
