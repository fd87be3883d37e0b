"""int8 copies keep the UNet's output on both kinds of x86 CPU: natively (whatever this machine is) and on
ONNX Runtime's AVX2 kernels without VNNI, run under qemu-user emulating a Haswell (avx2_emulation.py).
A folder is converted on one machine and run on others, so the integer types cannot depend on the one
that converts it. The emulated run also shows the route works: the saturating u8s8 types lose far more
there than natively on a VNNI machine, so a test that passed only because the emulator ran VNNI-like
kernels would notice."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from avx2_emulation import emulator, run_as_haswell, unet_output

from ortdiffusion import _native
from ortdiffusion.model_folder import part_folder
from ortdiffusion.models import default_model_path
from ortdiffusion.pipelines.components import warn_if_int8_saturates
from ortdiffusion.quantization.calibration import collect_inputs, collect_unet_inputs
from ortdiffusion.quantization.precision import (
    DEFAULT_INT8_TYPES,
    INT8_TYPES_KEY,
    Int8Types,
    convert_precision,
)

PROMPTS = ["a red circle on a blue background", "a green star on a yellow background"]
CALIBRATION_PROMPTS = ["a purple triangle on a white background", "an orange square on a black background"]
# noise_pred SNR against float32 on these inputs with the default types, measured 2026-12-02 on an AVX-512
# VNNI machine natively and under Haswell emulation (the same to 1e-3 dB on both): dynamic int8 66.6 dB,
# int8-static 28.5 dB. With int8 weights at full range, dynamic int8 gave 66.5 dB natively and 45.0 dB on
# the AVX2 kernels (a 21.6 dB loss).
MIN_DYNAMIC_SNR_DB = 60.0
MIN_STATIC_SNR_DB = 25.0
# The VAE decoder in int8-static (``--parts vae_decoder``), output SNR against float32 on the final latents of
# PROMPTS (10 steps), calibrated on CALIBRATION_PROMPTS: 37.4 dB natively and under Haswell emulation
# (2026-12-03, the same to the last bit).
MIN_STATIC_DECODER_SNR_DB = 32.0
KERNEL_SPREAD_DB = 0.5  # native against AVX2 with the default types
SATURATION_LOSS_DB = 10.0  # default types against full-range int8 weights, both on the AVX2 kernels

needs_emulator = pytest.mark.skipif(
    emulator() is None and not os.environ.get("CI"),
    reason="qemu-user is not installed (apt-get install qemu-user); .ci/run installs it, so CI never skips this",
)


def _snr_db(value: np.ndarray, reference: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(reference**2) / max(float(np.mean((value - reference) ** 2)), 1e-30)))


@pytest.fixture(scope="module")
def feeds(tmp_path_factory):
    """UNet inputs of the float32 pipeline (the first prompt's first step and the second's fourth, of a 6-step
    run; classifier-free-guidance batches, stacked), saved for the emulated children, with float32's
    noise_pred on them."""
    runs = collect_unet_inputs(default_model_path(), PROMPTS, num_inference_steps=6)
    chosen = [runs[0], runs[6 + 3]]
    stacked = {name: np.concatenate([run[name] for run in chosen]) for name in chosen[0]}
    path = tmp_path_factory.mktemp("feeds") / "feeds.npz"
    np.savez(path, **stacked)
    reference = unet_output(part_folder(default_model_path(), "unet") / "model.onnx", stacked)
    return path, stacked, reference


def _convert(tmp_path_factory, precision: str, types: Int8Types | None = None):
    out = tmp_path_factory.mktemp(precision) / "model"
    extra = {"calibration_prompts": CALIBRATION_PROMPTS, "calibration_steps": 4} if precision == "int8-static" else {}
    convert_precision(default_model_path(), out, precision, int8_types=types, **extra)
    return out


def _emulated(folder, feeds_path, tmp_path) -> np.ndarray:
    out = tmp_path / "noise_pred.npy"
    run_as_haswell(["unet", str(folder / "unet" / "model.onnx"), str(feeds_path), str(out)], timeout=1200)
    return np.load(out)


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> dict:
    """The default model converted with the default types, per precision."""
    return {precision: _convert(tmp_path_factory, precision) for precision in DEFAULT_INT8_TYPES}


@pytest.fixture(scope="module")
def emulated_snr(feeds, tmp_path_factory):
    """SNR in dB of a folder's UNet output against float32 under AVX2 emulation (each folder run once)."""
    feeds_path, _, reference = feeds
    known: dict = {}

    def snr(folder) -> float:
        if folder not in known:
            known[folder] = _snr_db(_emulated(folder, feeds_path, tmp_path_factory.mktemp("emulated")), reference)
        return known[folder]

    return snr


@pytest.mark.parametrize("precision", sorted(DEFAULT_INT8_TYPES))
def test_records_the_integer_types(copies, precision):
    index = json.loads((copies[precision] / "model_index.json").read_text())
    assert index[INT8_TYPES_KEY] == DEFAULT_INT8_TYPES[precision].record()


@needs_emulator
@pytest.mark.parametrize("precision", sorted(DEFAULT_INT8_TYPES))
def test_default_int8_types_keep_the_unet_output_on_both_cpu_kinds(copies, feeds, emulated_snr, precision):
    folder = copies[precision]
    native = _snr_db(unet_output(folder / "unet" / "model.onnx", feeds[1]), feeds[2])
    avx2 = emulated_snr(folder)
    minimum = MIN_DYNAMIC_SNR_DB if precision == "int8" else MIN_STATIC_SNR_DB
    assert native >= minimum and avx2 >= minimum, (native, avx2)
    assert abs(native - avx2) < KERNEL_SPREAD_DB, (native, avx2)  # no kernel-dependent loss


@needs_emulator
def test_int8_static_decoder_keeps_its_output_on_both_cpu_kinds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("static-decoder") / "model"
    convert_precision(default_model_path(), folder, "int8-static", parts=["vae_decoder"],
                      calibration_prompts=CALIBRATION_PROMPTS, calibration_steps=10)
    runs = collect_inputs(default_model_path(), ["vae_decoder"], PROMPTS, num_inference_steps=10)["vae_decoder"]
    feeds = {"latent_sample": np.concatenate([run["latent_sample"] for run in runs])}
    feeds_path = tmp_path_factory.mktemp("decoder-feeds") / "feeds.npz"
    np.savez(feeds_path, **feeds)
    reference = unet_output(part_folder(default_model_path(), "vae_decoder") / "model.onnx", feeds)
    model = folder / "vae_decoder" / "model.onnx"
    native = _snr_db(unet_output(model, feeds), reference)
    out = tmp_path_factory.mktemp("decoder-emulated") / "sample.npy"
    run_as_haswell(["unet", str(model), str(feeds_path), str(out)], timeout=1200)
    avx2 = _snr_db(np.load(out), reference)
    assert native >= MIN_STATIC_DECODER_SNR_DB and avx2 >= MIN_STATIC_DECODER_SNR_DB, (native, avx2)
    assert abs(native - avx2) < KERNEL_SPREAD_DB, (native, avx2)


@needs_emulator
def test_emulation_runs_the_saturating_avx2_kernels(copies, emulated_snr, tmp_path_factory):
    """The types int8 copies had before (uint8 x int8, full range) lose far more under emulation than the
    defaults: the child really runs ONNX Runtime's non-VNNI u8s8 kernels."""
    saturating = _convert(tmp_path_factory, "int8", Int8Types(weights="int8", activations="uint8", reduce_range=False))
    assert emulated_snr(copies["int8"]) - emulated_snr(saturating) > SATURATION_LOSS_DB


def test_refuses_int8_types_that_do_not_apply(tmp_path):
    with pytest.raises(ValueError, match="int8_types applies to int8 and int8-static copies, not fp16"):
        convert_precision(default_model_path(), tmp_path / "a", "fp16", int8_types=Int8Types())
    with pytest.raises(ValueError, match="activations as uint8 only, got activations='int8'"):
        convert_precision(default_model_path(), tmp_path / "b", "int8", int8_types=Int8Types(activations="int8"))
    with pytest.raises(ValueError, match=r"Int8Types.weights must be one of \['int8', 'uint8'\], got 'int4'"):
        Int8Types(weights="int4")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _cpuinfo_flags() -> set[str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return None
    line = next((line for line in text.splitlines() if line.startswith("flags")), None)
    return set(line.split(":", 1)[1].split()) if line else None


def test_int8_dot_products_detected_as_the_kernel_reports():
    flags = _cpuinfo_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags to compare with")
    vnni = bool({"avx512_vnni", "avx_vnni"} & flags)
    assert _native.cpu_int8_dot_products() == ("x86-vnni" if vnni else "x86-saturating")


@needs_emulator
def test_int8_dot_products_of_an_avx2_cpu():
    # "avx2": the emulator really offers AVX2 + FMA (a qemu without them would run SSE kernels instead)
    assert run_as_haswell(["int8-dot-products"], timeout=300).stdout.split() == ["x86-saturating", "avx2"]


def test_warns_when_a_folder_saturates_on_this_cpu(tmp_path_factory, copies, monkeypatch, caplog):
    full_range = _convert(tmp_path_factory, "int8", Int8Types(reduce_range=False))
    legacy = tmp_path_factory.mktemp("legacy") / "model"  # made before the types were recorded
    legacy.mkdir()
    index = json.loads((full_range / "model_index.json").read_text())
    del index[INT8_TYPES_KEY]
    (legacy / "model_index.json").write_text(json.dumps(index))
    monkeypatch.setattr(_native, "cpu_int8_dot_products", lambda: "x86-saturating")
    with caplog.at_level("WARNING", logger="ortdiffusion.pipelines.components"):
        assert warn_if_int8_saturates(full_range, "cpu") and warn_if_int8_saturates(legacy, "CPUExecutionProvider")
    assert "saturate on this CPU (x86 without VNNI)" in caplog.text and str(full_range) in caplog.text
    assert not any(warn_if_int8_saturates(copies[p], "cpu") for p in copies)  # the default types hold
    assert not warn_if_int8_saturates(default_model_path(), "cpu")  # not an int8 copy
    monkeypatch.setattr(_native, "cpu_int8_dot_products", lambda: "x86-vnni")
    assert not warn_if_int8_saturates(full_range, "cpu")
