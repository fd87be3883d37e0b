"""PNG output with generation parameters, written atomically."""

from PIL import Image

from ortdiffusion.png import parameters_text, read_parameters, save_png


def test_parameters_text_has_the_common_sd_layout():
    text = parameters_text({"prompt": "a cat", "negative_prompt": "dog", "steps": 20, "scheduler": "DDIM",
                            "guidance_scale": 7.5, "seed": 3, "size": "64x64", "model": "m"})
    assert text == "a cat\nNegative prompt: dog\nSteps: 20, Sampler: DDIM, CFG scale: 7.5, Seed: 3, Size: 64x64, Model: m"


def test_save_png_round_trips_parameters_and_leaves_no_temporary(tmp_path):
    path = save_png(Image.new("RGB", (8, 8), "red"), tmp_path / "sub" / "out.png", {"prompt": "a cat", "seed": 1})
    assert read_parameters(path) == {"prompt": "a cat", "seed": 1}
    with Image.open(path) as image:
        assert image.text["parameters"].startswith("a cat\n")
    assert [p.name for p in path.parent.iterdir()] == ["out.png"]
