"""The ortdiffusion command line (README's main command)."""

import json

from ortdiffusion.cli import main


def test_scheduler_command_prints_schedule_and_seeded_latents(capsys):
    assert main(["scheduler", "--steps", "5", "--seed", "3", "--height", "64", "--width", "64"]) == 0
    out = capsys.readouterr().out
    assert "timesteps: 801 601 401 201 1" in out  # SD 1.5 config, leading spacing, steps_offset 1
    assert "seed=3" in out


def test_scheduler_command_reads_a_config_and_reports_errors(tmp_path, capsys):
    (tmp_path / "scheduler_config.json").write_text(json.dumps({"timestep_spacing": "trailing"}))
    assert main(["scheduler", "--config", str(tmp_path), "--steps", "4", "--height", "16", "--width", "16"]) == 0
    assert "timesteps: 999 749 499 249" in capsys.readouterr().out
    assert main(["scheduler", "--config", str(tmp_path / "missing")]) == 2
    assert "no scheduler_config.json" in capsys.readouterr().err
    (tmp_path / "scheduler_config.json").write_text('{"beta_schedule": "cosine"}')
    assert main(["scheduler", "--config", str(tmp_path)]) == 2
    assert "beta_schedule 'cosine' is not supported" in capsys.readouterr().err


def test_generate_on_the_embedded_model_writes_a_png_with_parameters(tmp_path, capsys):
    from PIL import Image

    from ortdiffusion.png import read_parameters

    out = tmp_path / "out.png"
    assert main(["generate", "a red circle", "--steps", "3", "--seed", "7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "trained on 64x64 pictures of coloured shapes" in printed and "wrote" in printed
    params = read_parameters(out)
    assert params["prompt"] == "a red circle" and params["seed"] == 7 and params["steps"] == 3
    assert params["pipeline"] == "StableDiffusionPipeline"
    with Image.open(out) as image:
        assert image.size == (64, 64)  # the shipped model's own size


def test_generate_picks_img2img_and_inpaint_from_the_arguments(tmp_path, capsys):
    from PIL import Image

    from ortdiffusion.png import read_parameters

    Image.new("RGB", (64, 48), "blue").save(tmp_path / "in.png")
    Image.new("L", (64, 48), 255).save(tmp_path / "mask.png")
    common = ["--prompt", "a cat", "--steps", "2", "--seed", "1", "--quiet"]
    assert main(["generate", *common, "--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "a.png")]) == 0
    assert read_parameters(tmp_path / "a.png")["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert main(["generate", *common, "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
                 "--num-images", "2", "--out", str(tmp_path / "b.png")]) == 0
    assert read_parameters(tmp_path / "b-1.png")["pipeline"] == "StableDiffusionInpaintPipeline"
    assert read_parameters(tmp_path / "b-1.png")["model"].endswith("default_inpaint")  # the 9-channel variant
    with Image.open(tmp_path / "b-0.png") as image:
        assert image.size == (64, 48)


def test_generate_picks_the_embedded_variant_and_shipped_loras(tmp_path):
    """Without --model: --canny runs the embedded Canny ControlNet variant, and --lora NAME[:WEIGHT] finds
    the shipped LoRAs; an unknown name is still read as a path (and reported missing)."""
    from PIL import Image

    from ortdiffusion.png import read_parameters

    Image.new("RGB", (64, 64), "blue").save(tmp_path / "in.png")
    common = ["a red circle on a blue background", "--steps", "2", "--seed", "1", "--quiet"]
    assert main(["generate", *common, "--canny", str(tmp_path / "in.png"), "--out", str(tmp_path / "c.png")]) == 0
    params = read_parameters(tmp_path / "c.png")
    assert params["pipeline"] == "StableDiffusionControlNetPipeline" and params["model"].endswith("default_canny")
    assert main(["generate", *common, "--lora", "outline:0.5", "--lora", "complement", "--out", str(tmp_path / "l.png")]) == 0
    assert read_parameters(tmp_path / "l.png")["loras"] == ["outline.safetensors:0.5", "complement.safetensors:1.0"]
    assert main(["generate", *common, "--lora", "sepia", "--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


def test_generate_with_canny_on_a_controlnet_export(zoo, tmp_path):
    from PIL import Image

    from ortdiffusion.png import read_parameters

    picture = Image.new("RGB", (48, 32), "black")
    picture.paste((255, 255, 255), (10, 8, 30, 24))
    picture.save(tmp_path / "photo.png")
    out = tmp_path / "c.png"
    assert main(["generate", "a box", "--model", str(zoo.exported("cn1")), "--canny", str(tmp_path / "photo.png"),
                 "--steps", "2", "--seed", "0", "--out", str(out), "--quiet"]) == 0
    assert read_parameters(out)["pipeline"] == "StableDiffusionControlNetPipeline"


def test_generate_reports_bad_arguments_without_writing(tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["generate", "a cat", "--height", "50", "--out", str(out), "--quiet"]) == 2
    assert "divisible by" in capsys.readouterr().err
    assert main(["generate", "a cat", "--mask", str(tmp_path / "m.png"), "--out", str(out)]) == 2
    assert "--mask needs --image" in capsys.readouterr().err
    assert main(["generate", "--steps", "2"]) == 2
    assert "give a prompt" in capsys.readouterr().err
    assert main(["generate", "a cat", "--model", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "no exported pipeline folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_export_command(zoo, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export", "--model", str(zoo.diffusers("base")), "--output", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (out / "unet" / "model.onnx_data").is_file()
    assert main(["export", "--model", str(zoo.diffusers("base")), "--output", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_generate_fit_pad_keeps_the_aspect_ratio_and_crops_back(tmp_path):
    from PIL import Image

    from ortdiffusion.png import read_parameters

    Image.new("RGB", (200, 100), "green").save(tmp_path / "wide.png")
    out = tmp_path / "fit.png"
    assert main(["generate", "a cat", "--image", str(tmp_path / "wide.png"), "--fit", "pad", "--width", "128",
                 "--height", "128", "--steps", "2", "--seed", "0", "--out", str(out), "--quiet"]) == 0
    with Image.open(out) as image:
        assert image.size == (128, 64)  # the picture's box inside the padded 128x128 canvas
    assert read_parameters(out)["fit"] == "pad"


def test_generate_from_a_warm_cache_never_imports_onnx_or_torch(tmp_path):
    # Importing onnx costs 0.1-0.9 s (its ml_dtypes dependency), more than the whole main command once the
    # shipped parts are assembled: plain generation must not pull it (nor torch) in.
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from ortdiffusion.cli import main\n"
        f"assert main(['generate', 'a red circle', '--steps', '2', '--out', {str(tmp_path / 'x.png')!r}, '--quiet']) == 0\n"
        "print(sorted(m for m in ('onnx', 'torch') if m in sys.modules))\n"
    )
    env = {**os.environ, "ORTDIFFUSION_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
            for _ in range(2)]  # the first assembles the shipped parts into the empty cache (that needs onnx)
    assert all(run.returncode == 0 for run in runs), [run.stderr[-2000:] for run in runs]
    assert runs[1].stdout.strip().splitlines()[-1] == "[]", runs[1].stdout
