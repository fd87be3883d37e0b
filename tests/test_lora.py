"""LoRA in merge mode against diffusers' load_lora_weights (peft) on tiny models: kohya and diffusers
layouts, UNet and text encoder, blends of two adapters, switching back to the base image exactly, and
LoRAs that do not fit the model."""

from __future__ import annotations

import numpy as np
import pytest
from test_pipeline_parity import TOLERANCE
from tiny_models import build_micro_pipeline, build_pipeline, diffusers_lora_to_kohya, make_random_lora

import ortdiffusion as od

ARGS = {"prompt": "a red circle on a blue background", "num_inference_steps": 6, "height": 32, "width": 32, "output_type": "np"}


@pytest.fixture(scope="module")
def loras(tmp_path_factory):
    root = tmp_path_factory.mktemp("loras")
    a = make_random_lora(root / "a", seed=1, unet_rank=4, unet_alpha=8.0, text_rank=8, text_alpha=4.0)
    b = make_random_lora(root / "b", seed=2, unet_rank=8, unet_alpha=3.0, text_rank=None)
    kohya = diffusers_lora_to_kohya(b.path, root / "b_kohya.safetensors", unet_alpha=3.0)
    return {"a": a, "b": b, "b_kohya": kohya}


def _path(lora):
    return lora if not hasattr(lora, "path") else lora.path


def _reference_setup(lora, adapter_name):
    if hasattr(lora, "apply_to"):
        return lambda pipe: lora.apply_to(pipe, adapter_name)
    return lambda pipe: pipe.load_lora_weights(str(lora), adapter_name=adapter_name)


def _diffusers_image(torch, setup, seed=0):
    import warnings

    pipe = build_pipeline()
    with warnings.catch_warnings():
        # peft warns that a second adapter makes "multiple adapters in the model": that is the point here
        warnings.filterwarnings("ignore", message="Already found a `peft_config`", category=UserWarning)
        setup(pipe)
    with torch.no_grad():
        return pipe(**ARGS, generator=torch.Generator().manual_seed(seed)).images


@pytest.fixture()
def ours(zoo):
    pipe = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _close(got, expected):
    err = float(np.abs(got - expected).max())
    assert err <= TOLERANCE, f"max abs difference {err:.3g}"


@pytest.mark.parametrize("name", ["a", "b", "b_kohya"])
def test_single_lora_matches_diffusers(loras, torch, ours, name):
    base = ours(**ARGS, generator=0).images
    expected = _diffusers_image(torch, _reference_setup(loras[name], "x"))
    ours.load_lora_weights(_path(loras[name]), adapter_name="x")
    got = ours(**ARGS, generator=0).images
    _close(got, expected)
    assert np.abs(got - base).max() > 0.05, "the LoRA should visibly change the image"
    assert ours.get_active_adapters() == ["x"]


@pytest.mark.parametrize("live", [False, True], ids=["merge", "live"])
def test_blend_of_two_loras_matches_set_adapters(loras, torch, ours, live):
    """UNet LoRAs: diffusers' set_adapters scales each adapter's delta (text encoder LoRAs are covered above).
    Live mode is checked against diffusers here too, not only against merge mode: its buffers come from a
    different kernel (the tiled transposed merge)."""

    def setup(pipe):
        pipe.load_lora_weights(str(loras["a"].unet_only), adapter_name="a")
        pipe.load_lora_weights(str(loras["b_kohya"]), adapter_name="b")
        pipe.set_adapters(["a", "b"], adapter_weights=[0.7, 0.4])

    expected = _diffusers_image(torch, setup)
    if live:
        ours.enable_live_lora()
    ours.load_lora_weights(loras["a"].unet_only, adapter_name="a")
    ours.load_lora_weights(loras["b_kohya"], adapter_name="b")
    assert ours.get_active_adapters() == ["b"]  # loading activates only the new adapter, as in diffusers
    ours.set_adapters(["a", "b"], adapter_weights=[0.7, 0.4])
    _close(ours(**ARGS, generator=0).images, expected)
    assert ours.get_list_adapters() == {"unet": ["a", "b"]}


def test_switching_off_gives_the_base_image_exactly(loras, ours):
    base = ours(**ARGS, generator=3).images
    ours.load_lora_weights(loras["a"].path, adapter_name="a")
    with_lora = ours(**ARGS, generator=3).images
    ours.disable_lora()
    np.testing.assert_array_equal(ours(**ARGS, generator=3).images, base)
    ours.enable_lora()
    np.testing.assert_array_equal(ours(**ARGS, generator=3).images, with_lora)
    ours.set_adapters("a", 0.0)
    np.testing.assert_allclose(ours(**ARGS, generator=3).images, base, atol=1e-6)
    ours.unload_lora_weights()
    np.testing.assert_array_equal(ours(**ARGS, generator=3).images, base)
    assert ours.get_active_adapters() == []


def test_lora_on_an_optimum_export_uses_graph_analysis(tmp_path, torch):
    """optimum folds Linear weights into W^T initializers under generated names: found from node names."""
    from pathlib import Path

    lora = make_random_lora(tmp_path / "micro", seed=4, unet_rank=2, unet_alpha=4.0, text_rank=2, text_alpha=2.0,
                            build=build_micro_pipeline)
    reference = build_micro_pipeline()
    lora.apply_to(reference, "x")
    with torch.no_grad():
        expected = reference(**ARGS, generator=torch.Generator().manual_seed(5)).images
    ours = od.StableDiffusionPipeline.from_pretrained(Path(__file__).parent / "data" / "optimum-micro")
    ours.set_progress_bar_config(disable=True)
    ours.load_lora_weights(lora.path)
    _close(ours(**ARGS, generator=5).images, expected)


def test_loras_that_do_not_fit_are_refused(tmp_path, ours, loras):
    other = make_random_lora(tmp_path / "micro", seed=6, text_rank=None, build=build_micro_pipeline)
    with pytest.raises(ValueError, match="targets a different architecture"):
        ours.load_lora_weights(other.path)
    assert ours.get_active_adapters() == []
    from safetensors.numpy import save_file

    save_file({"lora_unet_x.hada_w1_a": np.zeros((2, 2), np.float32)}, tmp_path / "loha.safetensors")
    with pytest.raises(ValueError, match="LoHa/LoKr/DoRA"):
        ours.load_lora_weights(tmp_path / "loha.safetensors")
    save_file({"lora_unet_nowhere.lora_down.weight": np.zeros((2, 4), np.float32),
               "lora_unet_nowhere.lora_up.weight": np.zeros((4, 2), np.float32)}, tmp_path / "stray.safetensors")
    with pytest.raises(ValueError, match="match no weight of the model"):
        ours.load_lora_weights(tmp_path / "stray.safetensors")
    save_file({"unet.conv_in.lora_A.weight": np.zeros((2, 4, 3, 3), np.float32)}, tmp_path / "half.safetensors")
    with pytest.raises(ValueError, match="has only"):
        ours.load_lora_weights(tmp_path / "half.safetensors")
    to_k = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"
    save_file({f"{to_k}.lora_A.weight": np.zeros((4, 2048), np.float32),
               f"{to_k}.lora_B.weight": np.zeros((64, 4), np.float32)}, tmp_path / "wide.safetensors")
    with pytest.raises(ValueError, match=r"different architecture: its cross-attention width is 2048 \(as in SDXL\), this model's 32"):
        ours.load_lora_weights(tmp_path / "wide.safetensors")
    save_file({"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": np.zeros((2, 4), np.float32)},
              tmp_path / "sdxl.safetensors")
    with pytest.raises(ValueError, match=r"different architecture \(SDXL, not SD 1.x\): it has keys for SDXL's second"):
        ours.load_lora_weights(tmp_path / "sdxl.safetensors")
    assert ours.get_active_adapters() == []
    ours.load_lora_weights(loras["a"].path, adapter_name="a")
    with pytest.raises(ValueError, match="already in use"):
        ours.load_lora_weights(loras["a"].path, adapter_name="a")
    with pytest.raises(ValueError, match="unknown adapters"):
        ours.set_adapters(["nope"])


def test_cli_lora_option(loras, zoo, tmp_path):
    from ortdiffusion.cli import main
    from ortdiffusion.png import read_parameters

    base, blended = tmp_path / "base.png", tmp_path / "lora.png"
    common = ["generate", "a cat", "--model", str(zoo.exported("base")), "--steps", "3", "--seed", "1",
              "--height", "32", "--width", "32", "--quiet"]
    assert main([*common, "--out", str(base)]) == 0
    assert main([*common, "--lora", f"{loras['a'].path}:0.8", "--lora", str(loras["b_kohya"]), "--out", str(blended)]) == 0
    assert read_parameters(blended)["loras"] == ["pytorch_lora_weights.safetensors:0.8", "b_kohya.safetensors:1.0"]
    from PIL import Image

    assert np.abs(np.asarray(Image.open(base), np.float32) - np.asarray(Image.open(blended), np.float32)).max() > 5
    assert main([*common, "--lora", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "x.png")]) == 2


def test_parse_lora_reads_old_diffusers_and_kohya_text_encoder_keys():
    from ortdiffusion.lora import parse_lora

    rng = np.random.default_rng(0)
    down, up = rng.standard_normal((2, 8)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    old = parse_lora({
        "unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight": down,
        "unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.up.weight": up,
        "text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_linear_layer.down.weight": down,
        "text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_linear_layer.up.weight": up,
    })
    assert set(old.layers["unet"]) == {"mid_block.attentions.0.transformer_blocks.0.attn1.to_q"}
    assert set(old.layers["text_encoder"]) == {"text_model.encoder.layers.0.mlp.fc1"}
    kohya = parse_lora({"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": down,
                        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": up,
                        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha": np.array(1.0, np.float32)})
    layer = kohya.layers["text_encoder"]["text_model_encoder_layers_0_self_attn_q_proj"]
    assert kohya.kohya and layer.scale == 0.5
    with pytest.raises(ValueError, match="not LoRA pairs"):
        parse_lora({"lora_unet_a.lora_down.weight": down, "lora_unet_a.lora_up.weight": up, "extra": down})


def test_controlnet_weights_swap_without_reexport(zoo, torch):
    """An export fused with ControlNet 0 takes ControlNet 1's weights and gives diffusers' image for ControlNet 1."""
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline
    from test_pipeline_parity import scene

    control = scene(32, 32, seed=3)
    reference = StableDiffusionControlNetPipeline.from_pretrained(
        zoo.diffusers("base"), controlnet=ControlNetModel.from_pretrained(zoo.controlnet(1)),
        safety_checker=None, requires_safety_checker=False,
    )
    reference.set_progress_bar_config(disable=True)
    args = {"prompt": "a box", "num_inference_steps": 4, "output_type": "np"}
    with torch.no_grad():
        expected = reference(**args, image=control, generator=torch.Generator().manual_seed(2)).images
    ours = od.StableDiffusionControlNetPipeline.from_pretrained(zoo.exported("cn1"))
    ours.set_progress_bar_config(disable=True)
    before = ours(**args, control_image=control, generator=2).images
    ours.load_controlnet_weights(zoo.controlnet(1))
    _close(ours(**args, control_image=control, generator=2).images, expected)
    assert np.abs(before - expected).max() > 0.05  # the swap mattered
    with pytest.raises(ValueError, match="fuses no ControlNet number 3"):
        ours.load_controlnet_weights(zoo.controlnet(1), index=3)
    with pytest.raises(ValueError, match="do not fit ControlNet 0"):
        ours.load_controlnet_weights(zoo.diffusers("base") / "unet" / "diffusion_pytorch_model.safetensors")


def test_lora_cli_inspect_verify_convert_and_the_lora_format(loras, zoo, tmp_path, capsys, ours):
    from ortdiffusion.cli import main

    assert main(["lora", "inspect", str(loras["b_kohya"])]) == 0
    out = capsys.readouterr().out
    assert "kohya/A1111 layout" in out and "ranks [8]" in out and "alpha/r [0.375]" in out
    model = str(zoo.exported("base"))
    assert main(["lora", "verify", str(loras["a"].path), "--model", model]) == 0
    assert "text_encoder: all" in capsys.readouterr().out
    converted = tmp_path / "a.lora"
    assert main(["lora", "convert", str(loras["a"].path), "--model", model, "--out", str(converted)]) == 0
    assert main(["lora", "verify", str(converted), "--model", model]) == 0
    ours.load_lora_weights(loras["a"].path, adapter_name="from_safetensors")
    expected = ours(**ARGS, generator=1).images
    ours.load_lora_weights(converted, adapter_name="from_lora_file")
    np.testing.assert_allclose(ours(**ARGS, generator=1).images, expected, atol=1e-6)
    from pathlib import Path

    micro = Path(__file__).parent / "data" / "optimum-micro"  # another model: other names and shapes
    assert main(["lora", "verify", str(converted), "--model", str(micro)]) == 2
    assert "does not fit this model" in capsys.readouterr().err


def test_live_mode_matches_merge_mode_and_switches_in_place(loras, zoo):
    """Live mode (weights fed as inputs, rewritten in place) gives merge mode's images for every switch."""
    merge = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    live = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    for pipe in (merge, live):
        pipe.set_progress_bar_config(disable=True)
    live.enable_live_lora()
    base = merge(**ARGS, generator=4).images
    np.testing.assert_array_equal(live(**ARGS, generator=4).images, base)
    steps = [
        lambda p: p.load_lora_weights(loras["a"].path, adapter_name="a"),
        lambda p: p.load_lora_weights(loras["b_kohya"], adapter_name="b"),
        lambda p: p.set_adapters(["a", "b"], [0.6, 0.9]),
        lambda p: p.set_adapters("b", 0.5),
        lambda p: p.disable_lora(),
        lambda p: p.enable_lora(),
    ]
    for k, step in enumerate(steps):
        step(merge)
        unet_session = live.components.unet.session
        step(live)
        if k >= 2:  # switching between loaded adapters rewrites buffers; the session stays
            assert live.components.unet.session is unet_session
        np.testing.assert_allclose(live(**ARGS, generator=4).images, merge(**ARGS, generator=4).images, atol=1e-5,
                                   err_msg=f"after step {k}")
    live.disable_lora()  # the live graph (no folded Transpose, no prepacking) rounds slightly differently
    np.testing.assert_allclose(live(**ARGS, generator=4).images, base, atol=1e-5)
    live.unload_lora_weights()  # back to the exported graph: exactly the base image
    np.testing.assert_array_equal(live(**ARGS, generator=4).images, base)


@pytest.fixture()
def swap(zoo):
    pipe = od.StableDiffusionPipeline.from_pretrained(zoo.exported("swap"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_swap_export_without_lora_is_the_base_model(swap, ours):
    np.testing.assert_allclose(swap(**ARGS, generator=2).images, ours(**ARGS, generator=2).images, atol=1e-5)


def test_swap_mode_fills_slots_and_matches_diffusers(loras, torch, swap):
    def setup(pipe):
        pipe.load_lora_weights(str(loras["a"].unet_only), adapter_name="a")
        pipe.load_lora_weights(str(loras["b_kohya"]), adapter_name="b")
        pipe.set_adapters(["a", "b"], adapter_weights=[0.7, 0.4])

    expected = _diffusers_image(torch, setup)
    swap.load_lora_weights(loras["a"].unet_only, adapter_name="a")
    session = swap.components.unet.session
    swap.load_lora_weights(loras["b_kohya"], adapter_name="b")
    swap.set_adapters(["a", "b"], adapter_weights=[0.7, 0.4])  # ranks 4 + 8 stacked in the rank-12 slots
    assert swap.components.unet.session is session  # filling slots never recreates the session
    _close(swap(**ARGS, generator=0).images, expected)
    swap.load_lora_weights(loras["a"].unet_only, adapter_name="a2")
    with pytest.raises(ValueError, match="need rank 16 together, the export's slot holds 12"):
        swap.set_adapters(["a", "b", "a2"])


def test_swap_mode_refuses_layers_without_slots(swap):
    rng = np.random.default_rng(0)
    tensors = {"unet.down_blocks.0.resnets.0.conv2.lora_A.weight": rng.standard_normal((2, 32, 3, 3)).astype(np.float32),
               "unet.down_blocks.0.resnets.0.conv2.lora_B.weight": rng.standard_normal((32, 2, 1, 1)).astype(np.float32)}
    with pytest.raises(ValueError, match="not for \\['down_blocks.0.resnets.0.conv2'\\]"):
        swap.load_lora_weights(tensors)


def test_cross_attention_kwargs_scale_scales_the_loras_for_one_call(loras, torch, ours):
    """diffusers' cross_attention_kwargs={"scale": s}: the call's LoRA scale, text encoder and UNet alike."""
    def setup(pipe):
        loras["a"].apply_to(pipe, "x")

    pipe = build_pipeline()
    setup(pipe)
    with torch.no_grad():
        expected = pipe(**ARGS, generator=torch.Generator().manual_seed(0), cross_attention_kwargs={"scale": 0.5}).images
    ours.load_lora_weights(_path(loras["a"]), adapter_name="x")
    full = ours(**ARGS, generator=0).images
    _close(ours(**ARGS, generator=0, cross_attention_kwargs={"scale": 0.5}).images, expected)
    np.testing.assert_array_equal(ours(**ARGS, generator=0).images, full)  # the weights come back after the call
    with pytest.raises(ValueError, match="supports only 'scale'"):
        ours(**ARGS, generator=0, cross_attention_kwargs={"ip_adapter_masks": None})
