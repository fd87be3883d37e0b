"""Parts stored without the weights they share with another part (shared_weights.py): the fused ControlNet
export's UNet half is left out and assembled from the base export into the cache on first use, giving the
same pictures; a changed or missing base is refused with a message; an unwritable cache falls back."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from PIL import Image

import ortdiffusion as od
from ortdiffusion.model_folder import part_folder, shared_weights
from ortdiffusion.model_folder.shared_weights import MANIFEST, share_weights
from ortdiffusion.models import default_model_path


def _control() -> Image.Image:
    picture = np.zeros((32, 32, 3), dtype=np.uint8)
    picture[8:24, 8:24] = 255
    return Image.fromarray(picture)


def _pictures(folder) -> np.ndarray:
    pipe = od.StableDiffusionControlNetPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe("a red circle", control_image=_control(), num_inference_steps=3, height=32, width=32, generator=0,
                output_type="np").images


@pytest.fixture
def shared_copy(zoo, tmp_path):
    """A copy of the fused ControlNet export whose UNet takes its UNet weights from a copy of the base."""
    base = tmp_path / "base"
    shutil.copytree(zoo.exported("base"), base)
    fused = tmp_path / "fused"
    shutil.copytree(zoo.exported("cn1"), fused)
    return fused, base


def test_shared_part_is_smaller_and_assembles_to_the_same_pictures(shared_copy, zoo, optimized_graph_cache):
    fused, base = shared_copy
    before = (fused / "unet" / "model.onnx_data").stat().st_size
    count = share_weights(fused / "unet", base / "unet")
    manifest = json.loads((fused / "unet" / MANIFEST).read_text())
    assert count == len(manifest["tensors"]) > 50 and manifest["weights_from"] == "../../base/unet"
    assert all(name.startswith("unet.") for name in manifest["tensors"])  # the ControlNet's own stay
    assert (fused / "unet" / "model.onnx_data").stat().st_size < 0.6 * before
    assembled = part_folder(fused, "unet")
    assert assembled.parent.parent == optimized_graph_cache / "assembled"
    assert (assembled / "weights_map.json").is_file() and (assembled / "controlnet_0").is_dir()
    stamp = (assembled / "model.onnx").stat().st_mtime_ns
    np.testing.assert_array_equal(_pictures(fused), _pictures(zoo.exported("cn1")))
    assert part_folder(fused, "unet") == assembled and (assembled / "model.onnx").stat().st_mtime_ns == stamp


def test_a_changed_or_missing_base_is_refused(shared_copy):
    fused, base = shared_copy
    share_weights(fused / "unet", base / "unet")
    model = onnx.load(str(base / "unet" / "model.onnx"), load_external_data=True)
    tensor = next(t for t in model.graph.initializer if t.name == "unet.conv_in.weight")
    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) + 1, tensor.name))
    (base / "unet" / "model.onnx_data").unlink()
    onnx.save_model(model, str(base / "unet" / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=1024)
    with pytest.raises(ValueError, match="weights it shares with .* have changed.*rebuild the variant"):
        part_folder(fused, "unet")
    shutil.rmtree(base / "unet")
    with pytest.raises(FileNotFoundError, match="takes .* weights from .*base/unet, which has no model.onnx"):
        part_folder(fused, "unet")


def test_unwritable_cache_assembles_into_a_temporary_folder(shared_copy, tmp_path, monkeypatch, caplog):
    fused, base = shared_copy
    share_weights(fused / "unet", base / "unet")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(shared_weights, "_cache_root", lambda: blocker / "assembled")
    with caplog.at_level("WARNING", logger="ortdiffusion.model_folder.shared_weights"):
        assembled = part_folder(fused, "unet")
    assert "cannot write" in caplog.text and (assembled / "model.onnx").is_file()
    assert not str(assembled).startswith(str(blocker))


def test_shipped_controlnet_variant_ships_only_its_own_weights():
    canny = default_model_path("controlnet")
    manifest = json.loads((canny / "unet" / MANIFEST).read_text())
    assert manifest["weights_from"] == "../../default/unet" and len(manifest["tensors"]) > 300
    assert (canny / "unet" / "model.onnx_data").stat().st_size < 2_000_000
    assembled = part_folder(canny, "unet")
    assert (assembled / "model.onnx").is_file() and assembled != canny / "unet"


@pytest.mark.parametrize("weights_from", ["/etc/unet", "../../../elsewhere/unet", "../../base/text_encoder", "",
                                          ".", "../unet"])
def test_a_manifest_cannot_send_the_loader_elsewhere(shared_copy, weights_from):
    fused, base = shared_copy
    share_weights(fused / "unet", base / "unet")
    manifest = json.loads((fused / "unet" / MANIFEST).read_text())
    manifest["weights_from"] = weights_from
    (fused / "unet" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="weights_from .* must name the unet/ folder of another model beside this one"):
        part_folder(fused, "unet")


def test_an_entry_published_meanwhile_by_another_process_is_used_not_replaced(shared_copy, monkeypatch, tmp_path):
    fused, base = shared_copy
    share_weights(fused / "unet", base / "unet")
    # entries are keyed by content: an empty cache of its own, or another test's entry would be found
    monkeypatch.setattr(shared_weights, "_cache_root", lambda: tmp_path / "cache" / "assembled")
    assemble = shared_weights.assemble
    published = []

    def race(part, target):  # another process publishes the same entry while this one assembles
        entry = target.parent.with_name(target.parent.name.split(".partial-")[0].lstrip("."))
        assemble(part, entry / part.name)
        published.append((entry / part.name / "model.onnx").stat().st_ino)
        assemble(part, target)

    monkeypatch.setattr(shared_weights, "assemble", race)
    assembled = part_folder(fused, "unet")
    assert published and (assembled / "model.onnx").stat().st_ino == published[0]  # the first copy stays
    assert not [p for p in assembled.parent.parent.iterdir() if ".partial-" in p.name]  # staging removed


def test_a_base_that_takes_weights_from_another_part_in_turn_is_refused(shared_copy, tmp_path):
    """One level only: no chains, so no cycles (a base may be packed, not shared)."""
    fused, base = shared_copy
    share_weights(fused / "unet", base / "unet")
    other = tmp_path / "other"
    shutil.copytree(fused, other)
    manifest = json.loads((other / "unet" / MANIFEST).read_text())
    (other / "unet" / MANIFEST).write_text(json.dumps({**manifest, "weights_from": "../../fused/unet"}))
    with pytest.raises(ValueError, match="takes weights from another part in turn"):
        part_folder(other, "unet")


@pytest.mark.parametrize("field, value, message", [
    ("sha256", None, '"sha256" is not a string'),
    ("tensors", None, '"tensors" is not a list of tensor names'),
    ("tensors", [1, 2], '"tensors" is not a list of tensor names'),
    ("low_rank", ["a"], '"low_rank" is not an object with a "tensors" list'),
    ("base_prefixes", {"a.": 3}, '"base_prefixes" is not an object of prefix strings'),
])
def test_a_manifest_with_a_malformed_field_is_refused_with_the_file_named(shared_copy, field, value, message):
    fused, base = shared_copy
    share_weights(fused / "unet", base / "unet")
    manifest = json.loads((fused / "unet" / MANIFEST).read_text())
    manifest[field] = value
    if value is None:
        del manifest[field]
    (fused / "unet" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=f"{MANIFEST}: {message}"):
        part_folder(fused, "unet")


def test_identical_parts_of_different_names_get_entries_of_their_own(zoo, tmp_path, monkeypatch):
    """The entry holds a folder named after the part: a byte-identical copy under another name (an SDXL-like
    text_encoder_2) must not find, or collide with, the first one's entry."""
    from ortdiffusion.model_folder.packed_weights import pack_weights

    monkeypatch.setattr(shared_weights, "_cache_root", lambda: tmp_path / "cache" / "assembled")
    model = tmp_path / "model"
    shutil.copytree(zoo.exported("base") / "text_encoder", model / "text_encoder")
    assert pack_weights(model / "text_encoder") > 0
    shutil.copytree(model / "text_encoder", model / "text_encoder_2")
    first, second = (part_folder(model, name) for name in ("text_encoder", "text_encoder_2"))
    assert (first.name, second.name) == ("text_encoder", "text_encoder_2") and first.parent != second.parent
    assert (first / "model.onnx").read_bytes() == (second / "model.onnx").read_bytes()
