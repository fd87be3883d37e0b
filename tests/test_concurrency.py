"""One loaded pipeline shared by threads gives the images sequential runs give; long runs keep resident
memory flat; an interrupted CLI run leaves no partial file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from tiny_models import make_random_lora

import ortdiffusion as od
from ortdiffusion.models import default_model_path


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_four_threads_give_the_sequential_images():
    pipe = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    pipe.set_progress_bar_config(disable=True)
    jobs = [{"prompt": f"a shape number {k}", "generator": k, "eta": 0.3 * (k % 2)} for k in range(8)]

    def run(job):
        return pipe(**job, num_inference_steps=4, height=64, width=64, output_type="np").images

    sequential = [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(run, jobs))
    for a, b in zip(sequential, threaded):
        np.testing.assert_array_equal(a, b)


def test_resident_memory_stays_flat_over_many_generations():
    pipe = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    pipe.set_progress_bar_config(disable=True)
    for k in range(20):  # warm-up: arenas and caches reach their working size
        pipe("warm up", num_inference_steps=2, height=64, width=64, generator=k)
    start = _rss_mb()
    for k in range(200):
        pipe("a red circle", num_inference_steps=2, height=64, width=64, generator=k)
    growth = _rss_mb() - start
    assert growth < 0.05 * start, f"resident memory grew {growth:.1f} MB over 200 generations (from {start:.0f} MB)"


@pytest.fixture(scope="module")
def two_loras(tmp_path_factory):
    root = tmp_path_factory.mktemp("switch-loras")
    return make_random_lora(root / "a", seed=11).path, make_random_lora(root / "b", seed=12, text_rank=None).path


@pytest.mark.parametrize("live", [False, True], ids=["merge", "live"])
def test_resident_memory_stays_flat_over_100_lora_switches(zoo, two_loras, live):
    """Switching among one LoRA, another, a blend and none (each followed by a generation) must not leak:
    merge mode recreates sessions on every switch, live mode rewrites buffers in place."""
    pipe = od.StableDiffusionPipeline.from_pretrained(zoo.exported("base"))
    pipe.set_progress_bar_config(disable=True)
    if live:
        pipe.enable_live_lora()
    pipe.load_lora_weights(two_loras[0], adapter_name="a")
    pipe.load_lora_weights(two_loras[1], adapter_name="b")
    settings = [(["a"], None), (["b"], None), (["a", "b"], [0.7, 0.4]), None]

    def switch_and_generate(k: int) -> None:
        setting = settings[k % len(settings)]
        if setting is None:
            pipe.disable_lora()
        else:
            pipe.enable_lora()
            pipe.set_adapters(*setting)
        pipe("a red circle", num_inference_steps=1, height=32, width=32, generator=k)

    for k in range(12):  # warm-up
        switch_and_generate(k)
    start = _rss_mb()
    for k in range(100):
        switch_and_generate(k)
    growth = _rss_mb() - start
    assert growth < 0.05 * start, f"resident memory grew {growth:.1f} MB over 100 LoRA switches (from {start:.0f} MB)"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_generation_leaves_no_partial_output(tmp_path, sig):
    out = tmp_path / "out.png"
    process = subprocess.Popen(
        [sys.executable, "-m", "ortdiffusion", "generate", "a cat", "--steps", "900", "--height", "256", "--width", "256", "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(4)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + sig, err
    assert "interrupted" in err
    assert os.listdir(tmp_path) == []
