"""Image pre/post-processing against diffusers' VaeImageProcessor as SD pipelines configure it."""

import numpy as np
import pytest
from diffusers.image_processor import VaeImageProcessor
from PIL import Image

from ortdiffusion import image as odimage


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(67, 93, 3), dtype=np.uint8)
    return Image.fromarray(base)


@pytest.fixture(scope="module")
def mask_picture():
    m = np.zeros((67, 93), np.uint8)
    m[10:40, 20:70] = 255
    m[45:50, 5:15] = 127  # just below the 0.5 threshold after resizing noise
    return Image.fromarray(m)


@pytest.mark.parametrize("size", [(None, None), (64, 96), (40, 56)])
def test_prepare_image_matches_diffusers(photo, size, torch):
    ref = VaeImageProcessor(vae_scale_factor=8).preprocess(photo, height=size[0], width=size[1]).numpy()
    ours = odimage.prepare_image(photo, height=size[0], width=size[1])
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_prepare_mask_and_control_image_match_diffusers(photo, mask_picture, torch):
    mask_ref = VaeImageProcessor(vae_scale_factor=8, do_normalize=False, do_binarize=True,
                                 do_convert_grayscale=True).preprocess(mask_picture, height=64, width=96).numpy()
    mask = odimage.prepare_mask(mask_picture, height=64, width=96)
    np.testing.assert_array_equal(mask, mask_ref)
    assert set(np.unique(mask)) <= {0.0, 1.0} and mask.shape == (1, 1, 64, 96)
    control_ref = VaeImageProcessor(vae_scale_factor=8, do_convert_rgb=True, do_normalize=False).preprocess(
        photo, height=64, width=96).numpy()
    np.testing.assert_allclose(odimage.prepare_control_image(photo, 64, 96), control_ref, atol=1e-6)


def test_batches_of_images(photo, torch):
    ref = VaeImageProcessor(vae_scale_factor=8).preprocess([photo, photo.rotate(90, expand=False)]).numpy()
    np.testing.assert_allclose(odimage.prepare_image([photo, photo.rotate(90, expand=False)]), ref, atol=1e-6)


def test_postprocess_matches_diffusers(torch):
    decoded = np.random.default_rng(1).normal(0, 0.8, size=(2, 3, 16, 24)).astype(np.float32)
    processor = VaeImageProcessor(vae_scale_factor=8)
    ref_np = processor.postprocess(torch.from_numpy(decoded), output_type="np")
    np.testing.assert_allclose(odimage.postprocess(decoded, "np"), ref_np, atol=1e-7)
    ref_pil = processor.postprocess(torch.from_numpy(decoded), output_type="pil")
    ours_pil = odimage.postprocess(decoded, "pil")
    for a, b in zip(ours_pil, ref_pil):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    with pytest.raises(ValueError, match="output_type"):
        odimage.postprocess(decoded, "latent")


def test_resize_and_pad_keeps_aspect_and_reports_box(photo):
    padded, box = odimage.resize_and_pad(photo, 128, 128)
    assert padded.size == (128, 128)
    left, top, right, bottom = box
    assert (right - left, bottom - top) == (128, round(67 * 128 / 93))
    array = np.array(padded)
    assert array[:top].max() == 0 and array[bottom:].max() == 0


def test_canny_gives_three_channel_edges():
    square = np.zeros((64, 64, 3), np.uint8)
    square[16:48, 16:48] = 255
    edges = np.array(odimage.canny(square))
    assert edges.shape == (64, 64, 3) and set(np.unique(edges)) <= {0, 255}
    # the border is found (Canny marks one side of the step, row 15 or 16) and the flat inside is empty
    assert edges[15:17, 30].max() == 255 and edges[24:40, 24:40].max() == 0


def test_unreadable_and_empty_images_raise_clearly(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="image: cannot read .*broken.png"):
        odimage.prepare_image(broken)
    with pytest.raises(FileNotFoundError, match="mask_image: no image file"):
        odimage.prepare_mask(tmp_path / "missing.png")
    with pytest.raises(TypeError, match="uint8"):
        odimage.load_image(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="empty"):
        odimage.prepare_image(Image.new("RGB", (5, 5)))
