"""AUTOMATIC1111's request bodies for ``/sdapi/v1/txt2img`` and ``/img2img`` (its modules/api/models.py, built
from StableDiffusionProcessing's arguments), with its field names and defaults. Every field it defines is
accepted; :data:`UNSUPPORTED` lists those that would change the picture in ways ortdiffusion does not do yet
(a request setting one away from its neutral value gets 422 naming it), :data:`IGNORED` those that only
concern AUTOMATIC1111's own UI, saving or hardware (accepted and ignored)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Txt2ImgRequest(BaseModel):
    """``StableDiffusionTxt2ImgProcessingAPI``."""

    model_config = ConfigDict(extra="allow")

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] | None = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    sampler_name: str | None = None
    scheduler: str | None = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: float | None = None
    denoising_strength: float | None = None
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    disable_extra_networks: bool = False
    firstpass_image: str | None = None
    comments: dict[str, Any] | None = None
    enable_hr: bool = False
    firstphase_width: int = 0
    firstphase_height: int = 0
    hr_scale: float = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    force_task_id: str | None = None
    sampler_index: str = "Euler"
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    infotext: str | None = None


class Img2ImgRequest(Txt2ImgRequest):
    """``StableDiffusionImg2ImgProcessingAPI``."""

    init_images: list[str] | None = None
    resize_mode: int = 0
    image_cfg_scale: float | None = None
    mask: str | None = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_blur: int | None = None
    mask_round: bool = True
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool = False
    denoising_strength: float | None = 0.75


# field -> the values that leave the picture as ortdiffusion makes it (anything else is refused with 422)
UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "enable_hr": (False, None),
    "subseed_strength": (0, 0.0, None),
    "restore_faces": (False, None),
    "tiling": (False, None),
    "styles": (None, [], ()),
    "refiner_checkpoint": (None, "", "None"),
    "script_name": (None, "", "None"),
    "firstpass_image": (None, ""),
    "s_churn": (None, 0, 0.0),
    "s_noise": (None, 1, 1.0),
    "s_min_uncond": (None, 0, 0.0),
    "initial_noise_multiplier": (None, 1, 1.0),
    "latent_mask": (None, ""),
    "image_cfg_scale": (None, 1.5),  # pix2pix models only; 1.5 is what clients send by default
}

# fields accepted and ignored: AUTOMATIC1111's saving, UI and hardware settings, and the hires-fix fields
# (which matter only with enable_hr, refused above)
IGNORED = (
    "do_not_save_samples", "do_not_save_grid", "save_images", "override_settings_restore_afterwards", "comments", "force_task_id", "script_args", "infotext", "include_init_images",
    "s_tmax", "s_tmin", "seed_resize_from_h", "seed_resize_from_w", "subseed", "sampler_index", "firstphase_width",
    "firstphase_height", "hr_scale", "hr_upscaler", "hr_second_pass_steps", "hr_resize_x", "hr_resize_y",
    "hr_checkpoint_name", "hr_sampler_name", "hr_scheduler", "hr_prompt", "hr_negative_prompt", "refiner_switch_at",
    "mask_round",
)


def unsupported_fields(request: BaseModel) -> list[str]:
    """The fields of ``request`` set to a value ortdiffusion cannot honour."""
    values = request.model_dump()
    return [name for name, neutral in UNSUPPORTED.items() if name in values and values[name] not in neutral]
