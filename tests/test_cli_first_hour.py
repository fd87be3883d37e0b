"""What a newcomer meets in the CLI's first hour (issue 18), run as they would: ``ortdiffusion`` in a
subprocess. Every refusal is exit status 2 with a message naming the argument and no traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ortdiffusion.models import DEFAULT_MODEL_NOTE


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ortdiffusion", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, check=False)


@pytest.fixture()
def folder(tmp_path) -> Path:
    Image.new("RGB", (64, 64), "blue").save(tmp_path / "in.png")
    (tmp_path / "existing").mkdir()
    return tmp_path


REFUSALS = {
    "out is a folder": (["--out", "existing"], "--out 'existing' is a folder; give a file name"),
    "out is empty": (["--out", ""], "argument --out: is empty"),
    "out in a missing folder": (["--out", "missing/x.png"], "--out 'missing/x.png': the folder 'missing' does not exist"),
    "out is not png": (["--out", "x.jpg"], "--out 'x.jpg': pictures are written as PNG"),
    "too many steps": (["--steps", "1000"],
                       "num_inference_steps=1000 is more steps than this model's noise schedule allows.*use at most 999"),
    "strength without image": (["--strength", "0.5"], "--strength needs --image"),
    "canny thresholds without canny": (["--canny-low", "50"], "--canny-low/--canny-high need --canny"),
    "fit pad without a picture": (["--fit", "pad"], "--fit pad needs an input picture"),
    "shipped lora with a bad weight": (["--lora", "outline:abc"], "--lora outline:abc: the weight 'abc' is not a number"),
    "no images": (["--num-images", "0"], "argument --num-images: must be at least 1, got 0"),
    "empty model": (["--model", ""], "argument --model: is empty"),
    "strength 0 is a value, not a default": (["--image", "in.png", "--strength", "0"],
                                             "`strength` 0.0 .* leaves no denoising step"),
}


@pytest.mark.parametrize(("args", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_refusals_exit_2_naming_the_argument(folder, args, message):
    done = _cli("generate", "a red circle on a blue background", "--quiet", *args, cwd=folder)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(message, done.stderr), done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["existing", "in.png"]  # nothing written


def test_quiet_prints_only_where_the_picture_went(folder):
    done = _cli("generate", "a red circle on a blue background", "--quiet", "--steps", "2", "--seed", "0", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote ortdiffusion.png (StableDiffusionPipeline, seed 0, 2 steps)"
    assert DEFAULT_MODEL_NOTE not in done.stdout + done.stderr
    loud = _cli("generate", "a red circle on a blue background", "--steps", "2", "--seed", "0", cwd=folder)
    assert DEFAULT_MODEL_NOTE in loud.stdout  # without --quiet the note says which model drew it


def test_version_and_help_show_defaults(folder):
    from importlib.metadata import version

    done = _cli("--version", cwd=folder)
    assert done.returncode == 0 and done.stdout.strip() == f"ortdiffusion {version('ortdiffusion')}"
    helptext = " ".join(_cli("generate", "--help", cwd=folder).stdout.split())
    for text in ("--negative-prompt NEGATIVE_PROMPT what the picture should not show",
                 "--canny-low CANNY_LOW --canny: lower hysteresis threshold (default 100)",
                 "--canny-high CANNY_HIGH --canny: upper hysteresis threshold (default 200)",
                 "each with its own seed: --seed, --seed + 1, ... (default 1)", "(default 0: deterministic)",
                 "default cpu"):
        assert text in helptext, text


def test_the_embedded_model_by_name_from_python_and_the_cli(folder):
    import ortdiffusion as od

    for name, pipeline in (("default", od.StableDiffusionPipeline), ("default_inpaint", od.StableDiffusionInpaintPipeline),
                           ("default_canny", od.StableDiffusionControlNetPipeline)):
        assert pipeline.from_pretrained(name).components.folder == od.default_model_path(
            {"default": "text2img", "default_inpaint": "inpaint", "default_canny": "controlnet"}[name])
    with pytest.raises(FileNotFoundError, match="the embedded model's names: default, default_inpaint, default_canny"):
        od.StableDiffusionPipeline.from_pretrained("defaults")
    done = _cli("generate", "a red circle on a blue background", "--model", "default", "--steps", "2", "--quiet",
                "--lora", "outline", cwd=folder)  # --model default is the embedded model: its LoRA names work
    assert done.returncode == 0, done.stderr


def test_shipped_lora_names_work_in_the_lora_commands(folder):
    inspected = _cli("lora", "inspect", "outline", cwd=folder)
    assert inspected.returncode == 0 and "outline.safetensors: diffusers/peft layout, 106 layers" in inspected.stdout
    verified = _cli("lora", "verify", "complement", cwd=folder)  # the embedded model without --model
    assert verified.returncode == 0 and "unet: all" in verified.stdout and "layers match weights of" in verified.stdout


def test_each_picture_of_a_batch_has_its_own_seed_and_reproduces_alone(folder):
    import numpy as np

    from ortdiffusion.png import read_parameters

    common = ["generate", "a yellow star on a purple background", "--steps", "3", "--quiet"]
    batch = _cli(*common, "--seed", "5", "--num-images", "2", "--out", "batch.png", cwd=folder)
    assert batch.returncode == 0, batch.stderr
    assert "seed 5," in batch.stdout and "seed 6," in batch.stdout
    assert [read_parameters(folder / f"batch-{k}.png")["seed"] for k in (0, 1)] == [5, 6]
    alone = _cli(*common, "--seed", "6", "--out", "alone.png", cwd=folder)
    assert alone.returncode == 0, alone.stderr
    with Image.open(folder / "batch-1.png") as second, Image.open(folder / "alone.png") as again:
        assert np.array_equal(np.asarray(second), np.asarray(again))
    with Image.open(folder / "batch-0.png") as first, Image.open(folder / "batch-1.png") as second:
        assert not np.array_equal(np.asarray(first), np.asarray(second))


def test_sizes_are_explained_for_the_embedded_model(folder):
    helptext = " ".join(_cli("generate", "--help", cwd=folder).stdout.split())
    assert "8 for Stable Diffusion, 4 for the embedded model, which was trained at 64x64" in helptext
    small = _cli("generate", "a red circle on a blue background", "--width", "32", "--height", "32", "--steps", "2",
                 "--quiet", cwd=folder)
    assert small.returncode == 0, small.stderr
    assert "trained on 64x64 pictures; other sizes, as this 32x32, draw worse" in small.stderr
    own = _cli("generate", "a red circle on a blue background", "--steps", "2", "--quiet", cwd=folder)
    assert own.returncode == 0 and "draw worse" not in own.stderr


def test_fit_pad_keeps_the_output_size_stretch_gives(folder):
    Image.new("RGB", (128, 64), "green").save(folder / "wide.png")
    sizes = {}
    for fit in ("stretch", "pad"):
        done = _cli("generate", "a red circle on a blue background", "--image", "wide.png", "--fit", fit, "--steps",
                    "2", "--quiet", "--out", f"{fit}.png", cwd=folder)
        assert done.returncode == 0, done.stderr
        with Image.open(folder / f"{fit}.png") as picture:
            sizes[fit] = picture.size
    assert sizes == {"stretch": (128, 64), "pad": (128, 64)}


def _wait_until_sigint_is_caught(pid: int, timeout: float = 60.0) -> None:
    """Wait until process ``pid`` has a SIGINT handler (Linux: the SigCgt mask of /proc/PID/status)."""
    import signal
    import time

    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        caught = next((line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigCgt:")), "0")
        if int(caught, 16) & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.002)
    raise AssertionError(f"process {pid} did not set up SIGINT handling within {timeout} s")


@pytest.mark.parametrize(("after_note", "delay"), [(False, 0.1), (False, 0.35), (True, 0.0), (True, 0.3)])
def test_ctrl_c_at_any_moment_ends_without_a_traceback(folder, after_note, delay):
    """While the command imports (the package imports nothing heavy until the command runs inside its Ctrl-C
    handling; the first few tens of milliseconds are the interpreter's own start) and once it has printed the
    embedded-model note (loading and denoising)."""
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "ortdiffusion", "generate", "a red circle on a blue background",
                                "--steps", "900"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if after_note:
        assert process.stdout.readline().startswith("Using the embedded default model")
    else:
        # Before the interpreter has set up its own SIGINT handling (its first tens of milliseconds, far longer
        # on a loaded machine) no program can print anything: the delay counts from then.
        _wait_until_sigint_is_caught(process.pid)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert "Traceback" not in err, err
    assert process.returncode == 130 and "ortdiffusion: interrupted; no partial output was kept" in err
    assert not (folder / "ortdiffusion.png").exists()


def test_img2img_takes_every_step_count_whose_timesteps_it_uses():
    """1000 steps reach timestep 1000 on SD's schedule, but strength 0.5 starts at step 500: allowed, as in
    diffusers; text-to-image at 1000 steps is refused."""
    import numpy as np

    import ortdiffusion as od

    picture = Image.new("RGB", (64, 64), "blue")
    pipe = od.StableDiffusionImg2ImgPipeline.from_pretrained("default")
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a red circle", image=picture, strength=0.5, num_inference_steps=1000, generator=0, output_type="np")
    assert np.isfinite(out.images).all()
    with pytest.raises(ValueError, match="use at most 999 steps"):
        pipe("a red circle", image=picture, strength=1.0, num_inference_steps=1000, generator=0)


def test_quantize_takes_the_embedded_model_by_name(folder):
    done = _cli("quantize", "--model", "default", "--output", "q", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "q" / "unet" / "model.onnx").is_file() and "wrote q" in done.stdout
