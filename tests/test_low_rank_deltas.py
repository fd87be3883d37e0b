"""A part fine-tuned from another, stored as low-rank differences to it (low_rank_deltas.py through
shared_weights.share_weights(low_rank=...)): the truncated SVD is the best approximation of its rank, the
assembled part holds the base plus the (int8-stored) factors, a changed base is refused, and the shipped
inpainting UNet is stored this way."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from ortdiffusion.model_folder import part_folder, save_model_files
from ortdiffusion.model_folder.low_rank_deltas import (
    DELTA_FILE,
    energy_kept,
    low_rank_factors,
    worth_factoring,
)
from ortdiffusion.model_folder.shared_weights import MANIFEST, share_weights
from ortdiffusion.models import default_model_path


def _initializers(folder) -> dict[str, np.ndarray]:
    model = onnx.load(str(folder / "model.onnx"), load_external_data=True)
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_factors_are_the_best_approximation_of_their_rank():
    rng = np.random.default_rng(0)
    exact = rng.standard_normal((12, 3)) @ rng.standard_normal((3, 2, 3, 3)).reshape(3, -1)
    up, down = low_rank_factors(exact.reshape(12, 2, 3, 3), 3)
    assert up.shape == (12, 3) and down.shape == (3, 18)
    np.testing.assert_allclose(up @ down, exact, atol=1e-5)  # a rank-3 matrix is kept exactly
    noisy = rng.standard_normal((20, 30))
    s = np.linalg.svd(noisy, compute_uv=False)
    up, down = low_rank_factors(noisy, 5)
    assert np.linalg.norm(noisy - up @ down) == pytest.approx(np.sqrt(np.sum(s[5:] ** 2)), rel=1e-5)  # Eckart-Young
    assert energy_kept(noisy, 5) == pytest.approx(np.sum(s[:5] ** 2) / np.sum(s ** 2))


def test_only_matrices_that_factors_halve_are_factored():
    assert worth_factoring((64, 64, 3, 3), 16) and worth_factoring((128, 128), 16)
    assert not worth_factoring((32, 32), 16) and not worth_factoring((64,), 1)


@pytest.fixture
def fine_tuned(zoo, tmp_path):
    """A copy of the tiny base UNet and a 'fine-tuned' one: every matrix moved by a rank-2 update, the
    rest kept. Returns (variant part, base part, the variant's exact values)."""
    base, variant = tmp_path / "base" / "unet", tmp_path / "variant" / "unet"
    shutil.copytree(zoo.exported("base") / "unet", base)
    shutil.copytree(zoo.exported("base") / "unet", variant)
    model = onnx.load(str(variant / "model.onnx"), load_external_data=True)
    rng = np.random.default_rng(1)
    for tensor in model.graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype == np.float32 and values.ndim >= 2 and worth_factoring(values.shape, 4):
            update = rng.standard_normal((values.shape[0], 2)) @ rng.standard_normal((2, values[0].size))
            moved = values + 0.1 * np.abs(values).max() * update.reshape(values.shape) / np.abs(update).max()
            tensor.CopyFrom(numpy_helper.from_array(moved.astype(np.float32), tensor.name))
    (variant / "model.onnx_data").unlink()
    save_model_files(model, variant)
    return variant, base, _initializers(variant)


def test_a_fine_tuned_part_assembles_to_base_plus_its_factors(fine_tuned):
    variant, base, exact = fine_tuned
    before = (variant / "model.onnx_data").stat().st_size
    count = share_weights(variant, base, low_rank=4)
    manifest = json.loads((variant / MANIFEST).read_text())
    factored = manifest["low_rank"]["tensors"]
    assert manifest["low_rank"]["rank"] == 4 and len(factored) > 10 and count == len(factored) + len(manifest["tensors"])
    stored = sum(path.stat().st_size for path in variant.iterdir() if path.name in ("model.onnx_data", DELTA_FILE))
    assert stored < 0.5 * before
    assembled, original = _initializers(part_folder(variant.parent, "unet")), _initializers(base)
    for name, value in exact.items():
        if name in factored:  # rank 2 < 4: only the int8 rounding of the factors is lost
            delta = value - original[name]
            error = np.abs(assembled[name] - value).max()
            assert 0 < error <= 0.02 * np.abs(delta).max(), name
        else:
            np.testing.assert_array_equal(assembled[name], value, err_msg=name)


def test_a_changed_base_is_refused_for_its_deltas_too(fine_tuned):
    variant, base, _ = fine_tuned
    share_weights(variant, base, low_rank=4)
    victim = json.loads((variant / MANIFEST).read_text())["low_rank"]["tensors"][0]
    model = onnx.load(str(base / "model.onnx"), load_external_data=True)
    tensor = next(t for t in model.graph.initializer if t.name == victim)
    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * 2, victim))
    (base / "model.onnx_data").unlink()
    save_model_files(model, base)
    with pytest.raises(ValueError, match="weights it shares with .* have changed.*rebuild the variant"):
        part_folder(variant.parent, "unet")
    with pytest.raises(ValueError, match="is stored incomplete already"):
        share_weights(variant, base, low_rank=4)


def test_damaged_factors_are_refused_with_the_tensor_named(fine_tuned):
    from safetensors.numpy import save_file

    from ortdiffusion.safetensors_file import read_safetensors

    variant, base, _ = fine_tuned
    share_weights(variant, base, low_rank=4)
    tensors, _ = read_safetensors(variant / DELTA_FILE)
    victim = json.loads((variant / MANIFEST).read_text())["low_rank"]["tensors"][0]
    tensors[victim + "::down"] = tensors[victim + "::down"][:, :-1]
    save_file(tensors, str(variant / DELTA_FILE))
    with pytest.raises(ValueError, match=f"factors .* of tensor '{victim}' do not make its shape"):
        part_folder(variant.parent, "unet")


@pytest.mark.parametrize("task", ["inpaint", "controlnet"])
def test_shipped_variants_are_low_rank_differences_to_the_base(task):
    unet = default_model_path(task) / "unet"
    manifest = json.loads((unet / MANIFEST).read_text())
    assert manifest["weights_from"] == "../../default/unet" and manifest["low_rank"]["rank"] == 16
    assert len(manifest["low_rank"]["tensors"]) > 40 and (unet / DELTA_FILE).stat().st_size < 1_000_000
    if task == "controlnet":
        assert manifest["base_prefixes"] == {"controlnets.0.": "unet."}


def test_renamed_tensors_are_based_on_the_base_tensor_of_the_renamed_name(zoo, tmp_path):
    """The fused ControlNet's "controlnets.0.X" against the base UNet's "unet.X" (same shapes here)."""
    from ortdiffusion.model_folder.packed_weights import pack_tensor, unpack_tensor

    base, fused = tmp_path / "base" / "unet", tmp_path / "fused" / "unet"
    shutil.copytree(zoo.exported("base") / "unet", base)
    shutil.copytree(zoo.exported("cn1") / "unet", fused)
    exact, original = _initializers(fused), _initializers(base)
    share_weights(fused, base, low_rank=2, base_prefixes={"controlnets.0.": "unet."})
    manifest = json.loads((fused / MANIFEST).read_text())
    renamed = [n for n in manifest["low_rank"]["tensors"] if n.startswith("controlnets.0.")]
    assert manifest["base_prefixes"] == {"controlnets.0.": "unet."} and len(renamed) > 5
    assembled = _initializers(part_folder(fused.parent, "unet"))
    for name in renamed:
        base_value = original["unet." + name[len("controlnets.0."):]]
        up, down = low_rank_factors(exact[name] - base_value, 2)
        up, down = (unpack_tensor(*pack_tensor(m, 0), np.dtype(np.float32)) for m in (up, down))
        expected = (base_value.astype(np.float32) + (up @ down).reshape(base_value.shape)).astype(base_value.dtype)
        np.testing.assert_array_equal(assembled[name], expected, err_msg=name)
