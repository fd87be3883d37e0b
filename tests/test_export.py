"""The exporter: optimum's folder layout, every diffusers parameter kept as a named initializer listed in
weights_map.json, and each exported graph equal to its torch module (at sizes the tracing dummy did not
have), including the fused UNet + ControlNets."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from ortdiffusion.exporter import export_pipeline
from ortdiffusion.exporter.weights_map import read_weights_map


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_export_writes_optimum_layout(zoo):
    out = zoo.exported("base")
    for name in ["model_index.json", "text_encoder/model.onnx", "unet/model.onnx", "unet/model.onnx_data",
                 "vae_encoder/model.onnx", "vae_decoder/model.onnx", "tokenizer/tokenizer.json",
                 "scheduler/scheduler_config.json", "unet/weights_map.json", "text_encoder/weights_map.json",
                 "vae_decoder/config.json", "unet/config.json"]:
        assert (out / name).is_file(), name
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert not list(out.parent.glob(".onnx-base.partial-*")), "staging folder left behind"
    # the UNet's tensors live in the one external-data file, not in the graph file
    graph = onnx.load(str(out / "unet" / "model.onnx"), load_external_data=False)
    external = [t for t in graph.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert external and {e.value for t in external for e in t.external_data if e.key == "location"} == {"model.onnx_data"}
    assert [i.name for i in graph.graph.input] == ["sample", "timestep", "encoder_hidden_states"]


@pytest.mark.parametrize("part", ["unet", "text_encoder"])
def test_weights_map_lists_every_parameter_with_its_exact_values(zoo, torch, part):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    source = zoo.diffusers("base") / part
    module = UNet2DConditionModel.from_pretrained(source) if part == "unet" else CLIPTextModel.from_pretrained(source)
    folder = zoo.exported("base") / part
    weights_map = read_weights_map(folder)
    entries = weights_map["modules"][part]
    params = dict(module.named_parameters())
    assert set(entries) == set(params)
    model = onnx.load(str(folder / "model.onnx"))
    initializers = {t.name: t for t in model.graph.initializer}
    for name, param in params.items():
        entry = entries[name]
        assert entry["transposed"] is False
        np.testing.assert_array_equal(numpy_helper.to_array(initializers[entry["initializer"]]), param.detach().numpy(), err_msg=name)
    if part == "unet":  # Linear weights without bias are read through a Transpose, not folded
        assert entries["down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight"]["consumed_transposed"]


@pytest.mark.parametrize(("kind", "fused_nodes"), [("base", 8), ("plain", 0)])
def test_unet_graph_matches_torch_at_odd_latent_sizes(zoo, torch, kind, fused_nodes):
    """Traced at 9x9, run at 5x7: the graph takes diffusers' upsample_size branch, so any size works.
    The default export has every attention as one MultiHeadAttention node; ``attention="plain"`` none."""
    import onnx

    path = zoo.exported(kind) / "unet" / "model.onnx"
    graph = onnx.load(str(path), load_external_data=False).graph
    assert sum(n.op_type == "MultiHeadAttention" and n.domain == "com.microsoft" for n in graph.node) == fused_nodes
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(zoo.diffusers("base") / "unet").eval()
    rng = np.random.default_rng(0)
    sample = rng.standard_normal((2, 4, 5, 7), dtype=np.float32)
    timestep = np.array([981.0, 500.5], dtype=np.float32)  # a float input, as optimum's: fractions reach the UNet
    text = rng.standard_normal((2, 77, 32), dtype=np.float32)
    with torch.no_grad():
        expected = unet(torch.from_numpy(sample), torch.from_numpy(timestep), torch.from_numpy(text)).sample.numpy()
    got = _session(path).run(None, {"sample": sample, "timestep": timestep, "encoder_hidden_states": text})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_vae_encoder_exports_distribution_parameters(zoo, torch):
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(zoo.diffusers("base") / "vae").eval()
    image = np.random.default_rng(1).uniform(-1, 1, (1, 3, 40, 24)).astype(np.float32)
    with torch.no_grad():
        expected = vae.encode(torch.from_numpy(image)).latent_dist.parameters.numpy()
    got = _session(zoo.exported("base") / "vae_encoder" / "model.onnx").run(None, {"sample": image})[0]
    assert got.shape == (1, 8, 5, 3)  # mean and logvar, not a sample
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_fused_controlnets_match_diffusers_multicontrolnet(zoo, torch):
    from diffusers import ControlNetModel, UNet2DConditionModel
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

    unet = UNet2DConditionModel.from_pretrained(zoo.diffusers("base") / "unet").eval()
    multi = MultiControlNetModel([ControlNetModel.from_pretrained(zoo.controlnet(k)).eval() for k in range(2)])
    rng = np.random.default_rng(2)
    sample = rng.standard_normal((2, 4, 4, 6), dtype=np.float32)
    t = np.array([500.0, 500.0], dtype=np.float32)
    text = rng.standard_normal((2, 77, 32), dtype=np.float32)
    cond = rng.uniform(0, 1, (2, 2, 3, 32, 48)).astype(np.float32)
    scale = np.array([0.7, 1.3], dtype=np.float32)
    args = [torch.from_numpy(a) for a in (sample, t, text)]
    with torch.no_grad():
        down, mid = multi(*args, controlnet_cond=[torch.from_numpy(c) for c in cond],
                          conditioning_scale=[0.7, 1.3], return_dict=False)
        expected = unet(*args, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample.numpy()
    session = _session(zoo.exported("cn2") / "unet" / "model.onnx")
    residuals = session.get_inputs()[4].shape[2]  # [controlnets, batch, residuals]: one scale per residual
    per_residual = np.ascontiguousarray(np.broadcast_to(scale[:, None, None], (2, 2, residuals)))
    got = session.run(None, {"sample": sample, "timestep": t, "encoder_hidden_states": text,
                             "controlnet_cond": cond, "conditioning_scale": per_residual})[0]
    assert [o.name for o in session.get_outputs()] == ["noise_pred"]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    weights_map = read_weights_map(zoo.exported("cn2") / "unet")
    assert set(weights_map["modules"]) == {"unet", "controlnets.0", "controlnets.1"}


def test_inpainting_unet_exports_nine_channels(zoo):
    session = _session(zoo.exported("inpaint") / "unet" / "model.onnx")
    assert session.get_inputs()[0].shape[1] == 9


def test_export_refuses_to_overwrite_and_reports_bad_sources(zoo, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(FileExistsError, match="overwrite"):
        export_pipeline(zoo.diffusers("base"), target)
    with pytest.raises(FileNotFoundError, match="missing"):
        export_pipeline(tmp_path / "nothing", tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="not a diffusers ControlNet folder"):
        export_pipeline(zoo.diffusers("base"), tmp_path / "y", controlnets=[tmp_path])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing half-written


def test_failed_export_leaves_no_partial_folder(zoo, tmp_path):
    source = tmp_path / "broken"
    import shutil

    shutil.copytree(zoo.diffusers("base"), source)
    (source / "unet" / "config.json").write_text("{ not json")
    with pytest.raises(Exception):  # noqa: B017 - whatever diffusers raises for the broken config
        export_pipeline(source, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]


def test_export_checks_output_and_scheduler_before_any_work(zoo, tmp_path):
    import shutil

    with pytest.raises(ValueError, match="must name a folder"):
        export_pipeline(zoo.diffusers("base"), tmp_path / "..")
    source = tmp_path / "no-scheduler"
    shutil.copytree(zoo.diffusers("base"), source)
    shutil.rmtree(source / "scheduler")
    with pytest.raises(FileNotFoundError, match="scheduler/scheduler_config.json"):
        export_pipeline(source, tmp_path / "out")


def test_controlnet_in_guess_mode_is_refused(zoo, tmp_path):
    import shutil

    net = tmp_path / "pooled"
    shutil.copytree(zoo.controlnet(0), net)
    config = json.loads((net / "config.json").read_text())
    config["global_pool_conditions"] = True
    (net / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="global_pool_conditions"):
        export_pipeline(zoo.diffusers("base"), tmp_path / "out", controlnets=[net])


def test_export_respects_the_umask(zoo, tmp_path):
    import os
    import stat

    previous = os.umask(0o077)
    try:
        export_pipeline(zoo.diffusers("base"), tmp_path / "private")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "private" / "unet" / "model.onnx").stat().st_mode) == 0o600
