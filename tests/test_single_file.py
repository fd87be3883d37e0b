"""Single-file checkpoints (issue 19): the tiny diffusers pipelines converted inside the test to one LDM-layout
.safetensors by the tests' own reverse key map (tests/ldm_layout.py), exported from that file: weights bit-equal to
the folder export's and the same picture, for text-to-image and inpainting; refusals of what is not an SD 1.x
checkpoint, with no output folder left behind."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ldm_layout import diffusers_text_encoder_to_ldm, diffusers_unet_to_ldm, diffusers_vae_to_ldm

import ortdiffusion as od
from ortdiffusion import initializers
from ortdiffusion.model_folder import MODEL_FILE

PARTS = ("unet", "text_encoder", "vae_decoder", "vae_encoder")


def _single_file(folder, target):
    """The diffusers folder ``folder`` as one LDM-layout checkpoint at ``target``."""
    from safetensors.numpy import save_file
    from safetensors.torch import load_file

    def numpy_state(part: str) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in load_file(str(next((folder / part).glob("*.safetensors")))).items()}

    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    tensors = {**diffusers_unet_to_ldm(numpy_state("unet"), unet_config),
               **diffusers_vae_to_ldm(numpy_state("vae"), "first_stage_model."),
               **diffusers_text_encoder_to_ldm(numpy_state("text_encoder"))}
    save_file(tensors, str(target))
    return tensors


@pytest.mark.parametrize("kind", ["base", "inpaint"])
def test_export_from_a_single_file_equals_the_folder_export(zoo, tmp_path, kind):
    from ortdiffusion.exporter import export_pipeline

    checkpoint = tmp_path / f"tiny-{kind}.safetensors"
    _single_file(zoo.diffusers(kind), checkpoint)
    # the tiny model's group norms (16) and heads are not SD 1.5's and not in the shapes: its configs come along
    export_pipeline(checkpoint, tmp_path / "from-file", config=zoo.diffusers(kind))
    folder_export = zoo.exported(kind)
    for part in PARTS:
        ours, reference = (initializers.load(f / part / MODEL_FILE) for f in (tmp_path / "from-file", folder_export))
        assert set(ours) == set(reference), part
        for name in reference:
            np.testing.assert_array_equal(np.asarray(ours[name]), np.asarray(reference[name]), err_msg=f"{part}: {name}")
    pipeline_class = od.StableDiffusionInpaintPipeline if kind == "inpaint" else od.StableDiffusionPipeline
    extra = {}
    if kind == "inpaint":
        from test_pipeline_parity import box_mask, scene

        extra = {"image": scene(32, 32), "mask_image": box_mask(32, 32)}
    args = {"prompt": "a red circle", "num_inference_steps": 3, "height": 32, "width": 32, "output_type": "np",
            "generator": 2, **extra}
    expected = pipeline_class.from_pretrained(folder_export)(**args).images
    np.testing.assert_array_equal(pipeline_class.from_pretrained(tmp_path / "from-file")(**args).images, expected)


def test_configs_derived_from_shapes_take_what_shapes_tell(zoo, tmp_path):
    from ortdiffusion.exporter.single_file import text_encoder_config, unet_config, vae_config

    tensors = _single_file(zoo.diffusers("base"), tmp_path / "tiny.safetensors")
    folder = zoo.diffusers("base")
    reference = {part: json.loads((folder / part / "config.json").read_text()) for part in ("unet", "vae", "text_encoder")}
    derived = {"unet": unet_config(tensors), "vae": vae_config(tensors), "text_encoder": text_encoder_config(tensors)}
    for part, keys in {"unet": ("in_channels", "out_channels", "block_out_channels", "layers_per_block", "down_block_types",
                                "up_block_types", "cross_attention_dim", "use_linear_projection"),
                       "vae": ("block_out_channels", "layers_per_block", "latent_channels", "in_channels", "out_channels"),
                       "text_encoder": ("hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size",
                                        "max_position_embeddings")}.items():
        for key in keys:
            assert derived[part][key] == reference[part][key], (part, key)


def test_what_is_not_an_sd1_checkpoint_is_refused_with_no_output(zoo, tmp_path):
    from safetensors.numpy import save_file

    from ortdiffusion.errors import FormatError
    from ortdiffusion.exporter import export_pipeline

    tensors = _single_file(zoo.diffusers("base"), tmp_path / "good.safetensors")
    out = tmp_path / "out"
    attn = next(k for k in tensors if k.endswith("attn2.to_k.weight"))
    cases = {
        "sd2": ({**tensors, attn: np.zeros((tensors[attn].shape[0], 1024), np.float32)}, "SD 2.x checkpoint"),
        "sdxl": ({**tensors, "conditioner.embedders.0.transformer.x": np.zeros(1, np.float32)}, "SDXL checkpoint"),
        "missing": ({k: v for k, v in tensors.items() if not k.endswith("out_layers.3.bias")}, r"lacks 8 of the UNet's tensors .*conv2\.bias"),
        "vae-only": ({k[len("first_stage_model."):]: v for k, v in tensors.items() if k.startswith("first_stage_model.")},
                     "use it with --vae"),
    }
    for name, (state, message) in cases.items():
        save_file(state, str(tmp_path / f"{name}.safetensors"))
        with pytest.raises(ValueError, match=message):
            export_pipeline(tmp_path / f"{name}.safetensors", out, config=zoo.diffusers("base"))
        assert not out.exists(), name
    truncated = (tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(truncated[: len(truncated) // 2])
    with pytest.raises(FormatError):
        export_pipeline(tmp_path / "truncated.safetensors", out)
    (tmp_path / "model.ckpt").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ValueError, match=r"is a pickle \(\.ckpt\)"):
        export_pipeline(tmp_path / "model.ckpt", out)
    assert not out.exists()


def _single_file_controlnet(folder, target, prefix="control_model."):
    """The diffusers ControlNet folder ``folder`` as one original-layout ControlNet file at ``target``."""
    from ldm_layout import diffusers_controlnet_to_ldm
    from safetensors.numpy import save_file
    from safetensors.torch import load_file

    state = {k: v.numpy() for k, v in load_file(str(next(folder.glob("*.safetensors")))).items()}
    tensors = diffusers_controlnet_to_ldm(state, json.loads((folder / "config.json").read_text()), prefix)
    save_file(tensors, str(target))
    return tensors


@pytest.mark.parametrize("prefix", ["control_model.", ""])
def test_export_with_a_single_file_controlnet_equals_the_folder_export(zoo, tmp_path, prefix):
    """A ControlNet downloaded as one file (with or without the control_model. prefix) exports as its folder does:
    weights bit-equal to the folder export's, the same picture; its config comes from the base UNet's."""
    from test_pipeline_parity import scene

    from ortdiffusion.exporter import export_pipeline

    net_file = tmp_path / "control_tiny.safetensors"
    _single_file_controlnet(zoo.controlnet(0), net_file, prefix)
    export_pipeline(zoo.diffusers("base"), tmp_path / "from-file", controlnets=[net_file])
    reference = zoo.exported("cn1")
    ours, expected = (initializers.load(f / "unet" / MODEL_FILE) for f in (tmp_path / "from-file", reference))
    assert set(ours) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(np.asarray(ours[name]), np.asarray(expected[name]), err_msg=name)
    written = json.loads((tmp_path / "from-file" / "unet" / "controlnet_0" / "config.json").read_text())
    folder_config = json.loads((zoo.controlnet(0) / "config.json").read_text())
    for key in ("block_out_channels", "conditioning_embedding_out_channels", "norm_num_groups", "attention_head_dim",
                "cross_attention_dim", "layers_per_block", "conditioning_channels"):
        assert written[key] == folder_config[key], key
    args = {"prompt": "a box", "num_inference_steps": 3, "output_type": "np", "control_image": scene(32, 32, seed=3),
            "generator": 2}
    np.testing.assert_array_equal(od.StableDiffusionControlNetPipeline.from_pretrained(tmp_path / "from-file")(**args).images,
                                  od.StableDiffusionControlNetPipeline.from_pretrained(reference)(**args).images)


def test_single_file_controlnets_that_do_not_fit_are_refused_with_no_output(zoo, tmp_path):
    from safetensors.numpy import save_file

    from ortdiffusion.exporter import export_pipeline

    tensors = _single_file_controlnet(zoo.controlnet(0), tmp_path / "good.safetensors")
    attn = next(k for k in tensors if k.endswith("attn2.to_k.weight"))
    checkpoint = _single_file(zoo.diffusers("base"), tmp_path / "whole.safetensors")
    cases = {
        "sd2": ({**tensors, attn: np.zeros((tensors[attn].shape[0], 1024), np.float32)}, "an SD 2.x ControlNet"),
        "missing": ({k: v for k, v in tensors.items() if "zero_convs.1." not in k}, r"lacks 2 of the ControlNet's tensors"),
        "whole": (checkpoint, "a whole Stable Diffusion checkpoint, not a ControlNet"),
        "unet-only": ({k: v for k, v in checkpoint.items() if k.startswith("first_stage_model.")}, "is not a ControlNet"),
    }
    out = tmp_path / "out"
    for name, (state, message) in cases.items():
        save_file(state, str(tmp_path / f"{name}.safetensors"))
        with pytest.raises(ValueError, match=message):
            export_pipeline(zoo.diffusers("base"), out, controlnets=[tmp_path / f"{name}.safetensors"])
        assert not out.exists(), name
    (tmp_path / "control.pth").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ValueError, match=r"is a pickle \(\.pth\)"):
        export_pipeline(zoo.diffusers("base"), out, controlnets=[tmp_path / "control.pth"])
    assert not out.exists()


def test_a_checkpoint_with_ema_weights_gives_the_non_ema_ones_unless_asked(zoo, tmp_path):
    """Weights and their EMA in one file (LDM's flattened model_ema.* names): the non-EMA UNet by default, as
    diffusers' from_single_file; extract_ema: the EMA one, as a file holding only those weights exports."""
    from safetensors.numpy import save_file

    from ortdiffusion.exporter import export_pipeline

    tensors = _single_file(zoo.diffusers("base"), tmp_path / "plain.safetensors")
    unet_keys = [k for k in tensors if k.startswith("model.diffusion_model.")]
    ema = {"model_ema." + "".join(k.split(".")[1:]): (tensors[k] * np.float32(0.75)) for k in unet_keys}
    save_file({**tensors, **ema}, str(tmp_path / "with-ema.safetensors"))
    save_file({**tensors, **{k: ema["model_ema." + "".join(k.split(".")[1:])] for k in unet_keys}},
              str(tmp_path / "ema-only.safetensors"))
    config = zoo.diffusers("base")
    for name, kwargs in {"default": {}, "ema": {"extract_ema": True}, "reference": {}}.items():
        source = tmp_path / ("ema-only.safetensors" if name == "reference" else "with-ema.safetensors")
        export_pipeline(source, tmp_path / name, config=config, **kwargs)

    def unet(folder):
        return {k: np.asarray(v) for k, v in initializers.load(folder / "unet" / MODEL_FILE).items()}

    default, extracted, reference, plain = (unet(f) for f in (tmp_path / "default", tmp_path / "ema", tmp_path / "reference",
                                                              zoo.exported("base")))
    for name in plain:
        np.testing.assert_array_equal(default[name], plain[name], err_msg=name)
        np.testing.assert_array_equal(extracted[name], reference[name], err_msg=name)
    assert any(not np.array_equal(extracted[n], plain[n]) for n in plain)
    with pytest.raises(ValueError, match=r"holds no EMA weights \(0 model_ema\.\* tensors\)"):
        export_pipeline(tmp_path / "plain.safetensors", tmp_path / "none", config=config, extract_ema=True)
    assert not (tmp_path / "none").exists()


def test_controlnet_weight_swap_takes_single_files_in_the_original_layout(zoo, tmp_path):
    """load_controlnet_weights with ControlNet 1 as one original-layout file (no diffusers at run time: our own
    numpy key map, checkpoints/ldm_controlnet.py) swaps in exactly what its diffusers folder swaps in."""
    from test_pipeline_parity import scene

    from ortdiffusion.checkpoints.ldm_controlnet import ldm_controlnet_to_diffusers
    from ortdiffusion.pipelines.controlnet_weights import controlnet_state

    net_file = tmp_path / "control_other.safetensors"
    tensors = _single_file_controlnet(zoo.controlnet(1), net_file)
    folder_state = controlnet_state(zoo.controlnet(1))
    file_state = controlnet_state(net_file)
    assert set(file_state) == set(folder_state)
    for name, value in folder_state.items():
        np.testing.assert_array_equal(file_state[name], value, err_msg=name)
    args = {"prompt": "a box", "num_inference_steps": 3, "output_type": "np", "control_image": scene(32, 32, seed=3),
            "generator": 2}
    pipe = od.StableDiffusionControlNetPipeline.from_pretrained(zoo.exported("cn1"))
    pipe.load_controlnet_weights(zoo.controlnet(1))
    expected = pipe(**args).images
    pipe = od.StableDiffusionControlNetPipeline.from_pretrained(zoo.exported("cn1"))
    pipe.load_controlnet_weights(net_file)
    np.testing.assert_array_equal(pipe(**args).images, expected)
    with pytest.raises(ValueError, match=r"ControlNet key 'output_blocks\.0\.0\.in_layers\.0\.weight' matches no rule"):
        ldm_controlnet_to_diffusers({**tensors, "control_model.output_blocks.0.0.in_layers.0.weight": np.zeros(1)})


def test_a_float16_checkpoint_exports_its_values_in_float32(zoo, tmp_path):
    """Checkpoints are often downloaded in float16: the export holds the same values in float32, as loading them into
    float32 diffusers models does (the file's tensors are assigned as parameters, so the cast must happen)."""
    from safetensors.numpy import save_file

    from ortdiffusion.exporter import export_pipeline

    tensors = _single_file(zoo.diffusers("base"), tmp_path / "plain.safetensors")
    save_file({k: v.astype(np.float16) for k, v in tensors.items()}, str(tmp_path / "half.safetensors"))
    save_file({k: v.astype(np.float16).astype(np.float32) for k, v in tensors.items()}, str(tmp_path / "rounded.safetensors"))
    for name in ("half", "rounded"):
        export_pipeline(tmp_path / f"{name}.safetensors", tmp_path / name, config=zoo.diffusers("base"))
    for part in PARTS:
        half, rounded = (initializers.load(tmp_path / f / part / MODEL_FILE) for f in ("half", "rounded"))
        for name in rounded:
            assert np.asarray(half[name]).dtype == np.asarray(rounded[name]).dtype, (part, name)
            np.testing.assert_array_equal(np.asarray(half[name]), np.asarray(rounded[name]), err_msg=f"{part}: {name}")
