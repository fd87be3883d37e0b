"""DeepCache (``cache_interval``) against the paper's algorithm written on diffusers' UNet (deep_cache_reference.py),
on tiny random-weight models: the tests' usual UNet (its last up block without attention) and one shaped like SD
1.5 (its last up block with cross-attention), text-to-image, image-to-image and inpainting, with and without
guidance, LoRAs in the three modes, an optimum export marked in place; then the export's files and bad input.
Pictures within 2e-3 of the oracle's (the pipelines' parity tolerance)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from deep_cache_reference import enable_deep_cache, reset
from test_pipeline_parity import box_mask, scene
from tiny_models import build_micro_pipeline, build_pipeline, make_random_lora, save_pipeline

import ortdiffusion as od
from ortdiffusion.deep_cache import DEEP_FEATURES, add_deep_cache, shallow_graph

TOLERANCE = 2e-3
STEPS = 8
PROMPT = "a red circle on a blue background"
SD_LIKE_BLOCKS = {"down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
                  "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D")}


def _reference(folder: Path, interval: int, cls_name: str = "StableDiffusionPipeline"):
    import diffusers

    pipe = getattr(diffusers, cls_name).from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    if interval > 1:
        enable_deep_cache(pipe, interval)
    return pipe


def _ours(folder: Path, cls=od.StableDiffusionPipeline):
    pipe = cls.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _reference_images(pipe, torch, seed: int = 0, **kwargs) -> np.ndarray:
    if hasattr(pipe, "_deep_cache_state"):
        reset(pipe)
    with torch.no_grad():
        return pipe(generator=torch.Generator().manual_seed(seed), output_type="np", **kwargs).images


def _marked_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    assert add_deep_cache(target / "unet")
    return target


@pytest.fixture(scope="module")
def sd_like(tmp_path_factory):
    """A diffusers folder whose UNet ends, like SD 1.5's, in a cross-attention up block, and its export."""
    from ortdiffusion.exporter import export_pipeline

    root = tmp_path_factory.mktemp("deep-cache")
    source = save_pipeline(build_pipeline(seed=3, **SD_LIKE_BLOCKS), root / "diffusers")
    export_pipeline(source, root / "onnx", deep_cache=True)
    return source, root / "onnx"


@pytest.fixture(scope="module")
def models(zoo, sd_like):
    return {"tiny": (zoo.diffusers("base"), zoo.exported("deep")), "sd-like": sd_like}


@pytest.mark.parametrize("interval", [2, 3])
@pytest.mark.parametrize("model", ["tiny", "sd-like"])
@pytest.mark.parametrize("guidance", [7.5, 1.0], ids=["guided", "unguided"])
def test_text2img_matches_the_reference(models, torch, model, interval, guidance):
    source, exported = models[model]
    args = {"prompt": PROMPT, "num_inference_steps": STEPS, "guidance_scale": guidance, "height": 32, "width": 32}
    expected = _reference_images(_reference(source, interval), torch, **args)
    ours = _ours(exported)
    got = ours(**args, generator=0, output_type="np", cache_interval=interval).images
    err = float(np.abs(got - expected).max())
    assert err <= TOLERANCE, f"max abs difference {err:.3g} > {TOLERANCE}"
    # the cached steps really ran the shallow branch: the picture is not the full UNet's
    full = ours(**args, generator=0, output_type="np").images
    assert float(np.abs(got - full).max()) > 10 * TOLERANCE


def test_interval_one_is_the_plain_picture(zoo):
    """The marked export gives the unmarked one's picture, bit for bit, without DeepCache."""
    args = {"prompt": PROMPT, "num_inference_steps": 4, "height": 32, "width": 32, "generator": 1, "output_type": "np"}
    plain = _ours(zoo.exported("base"))(**args).images
    marked = _ours(zoo.exported("deep"))
    np.testing.assert_array_equal(marked(**args).images, plain)
    np.testing.assert_array_equal(marked(**args, cache_interval=1).images, plain)


def test_img2img_matches_the_reference(zoo, torch):
    args = {"prompt": PROMPT, "image": scene(32, 32), "strength": 0.7, "num_inference_steps": STEPS}
    expected = _reference_images(_reference(zoo.diffusers("base"), 2, "StableDiffusionImg2ImgPipeline"), torch, **args)
    got = _ours(zoo.exported("deep"), od.StableDiffusionImg2ImgPipeline)(**args, generator=0, output_type="np",
                                                                         cache_interval=2).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_inpaint_matches_the_reference(zoo, torch, tmp_path):
    folder = _marked_copy(zoo.exported("inpaint"), tmp_path / "inpaint")
    args = {"prompt": PROMPT, "image": scene(32, 32), "mask_image": box_mask(32, 32), "height": 32, "width": 32,
                "num_inference_steps": STEPS}
    expected = _reference_images(_reference(zoo.diffusers("inpaint"), 3, "StableDiffusionInpaintPipeline"), torch, **args)
    got = _ours(folder, od.StableDiffusionInpaintPipeline)(**args, generator=0, output_type="np", cache_interval=3).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_an_optimum_export_marked_in_place_matches_the_reference(torch, tmp_path):
    """tests/data/optimum-micro was made by optimum from build_micro_pipeline() (scripts/make_optimum_fixture.py)."""
    folder = _marked_copy(Path(__file__).parent / "data" / "optimum-micro", tmp_path / "optimum")
    assert not add_deep_cache(folder / "unet")  # marked once
    source = save_pipeline(build_micro_pipeline(), tmp_path / "diffusers")
    args = {"prompt": PROMPT, "num_inference_steps": STEPS, "height": 32, "width": 32}
    expected = _reference_images(_reference(source, 2), torch, **args)
    got = _ours(folder)(**args, generator=0, output_type="np", cache_interval=2).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE


@pytest.fixture(scope="module")
def lora(tmp_path_factory):
    return make_random_lora(tmp_path_factory.mktemp("deep-cache-lora"), seed=5, text_rank=None)


@pytest.mark.parametrize("mode", ["merge", "live", "swap"])
def test_loras_apply_to_the_shallow_branch(zoo, torch, lora, mode):
    """A LoRA merged, switched live or swapped into slots reaches the cached steps too: the picture matches
    diffusers with the same LoRA under the reference DeepCache, and switching it off gives the plain one."""
    args = {"prompt": PROMPT, "num_inference_steps": STEPS, "height": 32, "width": 32}
    reference = _reference(zoo.diffusers("base"), 2)
    lora.apply_to(reference, "style")
    expected = _reference_images(reference, torch, **args)
    ours = _ours(zoo.exported("deep-swap" if mode == "swap" else "deep"))
    if mode == "live":
        ours.enable_live_lora()
    ours.load_lora_weights(lora.path, adapter_name="style")
    got = ours(**args, generator=0, output_type="np", cache_interval=2).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE
    ours.disable_lora()
    plain = _reference_images(_reference(zoo.diffusers("base"), 2), torch, **args)
    off = ours(**args, generator=0, output_type="np", cache_interval=2).images
    assert float(np.abs(off - plain).max()) <= TOLERANCE
    assert float(np.abs(off - got).max()) > 10 * TOLERANCE


def test_the_export_shares_one_weights_file(zoo):
    """--deep-cache adds one graph output; the weights file is the plain export's, byte for byte, and the
    shallow graph cut at load time reads its tensors from that same file."""
    plain, marked = zoo.exported("base") / "unet", zoo.exported("deep") / "unet"
    assert (plain / "model.onnx_data").read_bytes() == (marked / "model.onnx_data").read_bytes()
    assert sorted(p.name for p in plain.iterdir()) == sorted(p.name for p in marked.iterdir())
    graph = onnx.load(str(marked / "model.onnx"), load_external_data=False)
    assert [o.name for o in graph.graph.output][-1] == DEEP_FEATURES
    shallow = shallow_graph(graph)
    assert len(shallow.graph.node) < len(graph.graph.node) / 4
    locations = {e.value for t in shallow.graph.initializer for e in t.external_data if e.key == "location"}
    assert locations == {"model.onnx_data"}


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2", None])
def test_bad_cache_interval_is_refused(zoo, value):
    pipe = _ours(zoo.exported("deep"))
    with pytest.raises(ValueError, match="cache_interval"):
        pipe(PROMPT, num_inference_steps=2, height=32, width=32, cache_interval=value)


def test_a_folder_exported_without_it_says_how_to_export(zoo):
    pipe = _ours(zoo.exported("base"))
    with pytest.raises(ValueError, match=r"exported without DeepCache.*--deep-cache.*add_deep_cache"):
        pipe(PROMPT, num_inference_steps=2, height=32, width=32, cache_interval=2)


def test_controlnets_are_refused(zoo, tmp_path):
    from ortdiffusion.exporter import export_pipeline

    pipe = _ours(zoo.exported("cn1"), od.StableDiffusionControlNetPipeline)
    with pytest.raises(ValueError, match="does not apply to ControlNet"):
        pipe(PROMPT, image=scene(32, 32), num_inference_steps=2, cache_interval=2)
    with pytest.raises(ValueError, match="ControlNets fused in"):
        add_deep_cache(zoo.exported("cn1") / "unet")
    with pytest.raises(ValueError, match="deep_cache does not apply"):
        export_pipeline(zoo.diffusers("base"), tmp_path / "out", controlnets=[zoo.controlnet(0)], deep_cache=True)
    assert not (tmp_path / "out").exists()


def test_a_graph_that_is_not_a_unet_is_refused(zoo, tmp_path):
    folder = tmp_path / "vae"
    shutil.copytree(zoo.exported("base") / "vae_decoder", folder)
    with pytest.raises(ValueError, match="no `sample` input"):
        add_deep_cache(folder)
    with pytest.raises(FileNotFoundError):
        add_deep_cache(tmp_path / "missing")
