"""Lower-precision copies of an exported pipeline folder (ours or optimum's), opt-in:

- ``int8``: ONNX Runtime's dynamic quantization (``onnxruntime.quantization.quantize_dynamic``) of the UNet
  and text encoder for CPU: weights stored as 7-bit int8 (see :class:`Int8Types`) with per-tensor (or
  per-channel) scales, activations quantized on the fly per run (DynamicQuantizeLinear + MatMulInteger). By default only MatMul weights are
  quantized: ONNX Runtime's CPU ConvInteger kernel is slower than its float convolution, so quantizing
  Conv costs speed (measured in benchmarks/precision.py);
- ``int8-static``: static quantization of the UNet and, on request, the VAE decoder (``quantize_static``,
  QDQ format): weights 7-bit int8 per channel, activations uint8 with ranges calibrated on the inputs each
  model sees in a few float32 denoising runs (calibration.py). ONNX Runtime fuses the QDQ pairs into
  QLinearConv / QLinearMatMul, which run on the CPU's integer dot-product units: the fastest CPU option,
  at a larger image difference;
- ``fp16``: every float tensor as float16 (``onnxruntime.transformers.float16.convert_float_to_float16``)
  with float32 inputs and outputs kept, for GPU providers; on CPU many kernels have no float16 version and
  run behind casts, so it is slower there;
- ``fp16-weights``: weights *stored* in float16 and computed in float32 (half_weights.py): half the disk,
  the same speed, pictures within float16 rounding of the weights. LoRAs and ControlNet weight swaps work
  on it (merged in float32).

The rest of the folder is copied as is. ``model_index.json`` records the precision
(``_ortdiffusion_precision``) and, for int8 copies, the integer types (``_ortdiffusion_int8_types``).
LoRAs and ControlNet weight swaps need float weights and refuse int8 and fp16 folders with a message
saying so. An fp16-weights folder can be converted further (its weights are restored to float32 first, so
weights the conversion leaves alone, such as Conv weights under dynamic int8, are float32 again in the
output). Image differences against float32 (PSNR, same seed) are in benchmarks/README.md, and per CPU
kind in docs/precision.md.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ortdiffusion.atomic_file import (
    check_output_folder,
    move_folder_into_place,
    publish_permissions,
    staging_folder,
)
from ortdiffusion.model_folder import (  # noqa: F401 (folder_precision, FLOAT_WEIGHT_PRECISIONS: re-exported)
    DATA_FILE,
    FLOAT_WEIGHT_PRECISIONS,
    INT8_PRECISIONS,
    INT8_TYPES_KEY,
    MODEL_FILE,
    PRECISION_KEY,
    SHARED_PARTS_KEY,
    folder_precision,
    part_folder,
    read_config,
    save_model_files,
)
from ortdiffusion.model_folder.half_weights import FLOAT32_SUFFIX, restore_float32_weights, store_weights_fp16
from ortdiffusion.model_folder.shared_weights import needs_assembly
from ortdiffusion.quantization import calibration

logger = logging.getLogger(__name__)

PRECISIONS = ("int8", "int8-static", "fp16", "fp16-weights")
INT8_OPS_KEY = "_ortdiffusion_int8_ops"
CALIBRATION_KEY = "_ortdiffusion_calibration"
DEFAULT_PARTS = {
    "int8": ("unet", "text_encoder"),
    "int8-static": ("unet",),
    "fp16": ("unet", "text_encoder", "vae_encoder", "vae_decoder"),
    "fp16-weights": ("unet", "text_encoder", "vae_encoder", "vae_decoder"),
}
DEFAULT_INT8_OPS = ("MatMul",)
DEFAULT_STATIC_INT8_OPS = ("Conv", "MatMul")
FOLDER_PARTS = ("text_encoder", "unet", "vae_encoder", "vae_decoder", "scheduler", "tokenizer")


@dataclass(frozen=True)
class Int8Types:
    """The integer types of an int8 copy: what its weights and activations are stored as, and whether the
    weights keep 7 bits (``reduce_range``). The choice matters per CPU: ONNX Runtime's x86 kernels for
    uint8 activations x int8 weights (u8s8) without VNNI add pairs of products in 16 bits, which saturate
    for large values (VPMADDUBSW); with VNNI (AVX-512 VNNI, AVX-VNNI) they do not. A folder is converted on
    one machine and run on others, so the defaults (:data:`DEFAULT_INT8_TYPES`) are chosen to hold on both
    kinds of x86 CPU; the measurements behind them are in docs/precision.md."""

    weights: str = "int8"  # "int8" or "uint8"
    activations: str = "uint8"  # "uint8" or "int8"
    reduce_range: bool = True  # 7-bit weights (-64..64): full range saturates on x86 without VNNI

    def __post_init__(self) -> None:
        for name in ("weights", "activations"):
            if getattr(self, name) not in _QUANT_TYPE_NAMES:
                raise ValueError(f"Int8Types.{name} must be one of {sorted(_QUANT_TYPE_NAMES)}, got {getattr(self, name)!r}")

    def record(self) -> dict:
        """The form written to model_index.json (``_ortdiffusion_int8_types``)."""
        return {"weights": self.weights, "activations": self.activations, "reduce_range": self.reduce_range}

    def quant_types(self) -> tuple:
        """(weight_type, activation_type) as onnxruntime.quantization.QuantType values."""
        from onnxruntime.quantization import QuantType

        kinds = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
        return kinds[self.weights], kinds[self.activations]


_QUANT_TYPE_NAMES = frozenset({"int8", "uint8"})
# Chosen by measurement on AVX-512 VNNI and AVX2-only CPUs (docs/precision.md).
DEFAULT_INT8_TYPES = {
    "int8": Int8Types(weights="int8", activations="uint8", reduce_range=True),
    "int8-static": Int8Types(weights="int8", activations="uint8", reduce_range=True),
}


@dataclass
class PrecisionReport:
    """What :func:`convert_precision` wrote: the folder and, per converted part, seconds and bytes."""

    output: Path
    precision: str
    seconds: dict[str, float] = field(default_factory=dict)
    bytes: dict[str, tuple[int, int]] = field(default_factory=dict)  # part -> (before, after)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class _DropPreprocessingHint(logging.Filter):
    """ONNX Runtime's quantizers log a root-logger warning suggesting its pre-processing script (shape
    inference and graph optimization first). The folder's graphs are already shape-inferred exports, and the
    speed and image figures of benchmarks/README.md were measured without that step."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextmanager
def _without_preprocessing_hint() -> Iterator[None]:
    """Drop ONNX Runtime's quantizers' pre-processing hint from the root logger while they run."""
    root = logging.getLogger()
    quiet = _DropPreprocessingHint()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def _quantize_int8(source: Path, target: Path, op_types: Sequence[str], per_channel: bool, types: Int8Types) -> None:
    from onnxruntime.quantization import quantize_dynamic

    weight_type, _ = types.quant_types()  # dynamic quantization's activations are always uint8
    with _without_preprocessing_hint():
        quantize_dynamic(
            model_input=source / MODEL_FILE, model_output=target / MODEL_FILE, op_types_to_quantize=list(op_types),
            per_channel=per_channel, reduce_range=types.reduce_range, weight_type=weight_type,
            use_external_data_format=True,
            extra_options={"MatMulConstBOnly": True},  # activations x activations (attention scores) stay float
        )
    _resave_single_file(target)  # quantize_dynamic names its data file after the model; keep optimum's name


class _FeedList:
    """quantize_static's CalibrationDataReader over recorded feeds (the protocol is one method, get_next)."""

    def __init__(self, feeds: Sequence[dict]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def _quantize_int8_static(
    source: Path, target: Path, op_types: Sequence[str], feeds: Sequence[dict], types: Int8Types
) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    weight_type, activation_type = types.quant_types()
    with _without_preprocessing_hint():
        quantize_static(
            model_input=source / MODEL_FILE, model_output=target / MODEL_FILE, calibration_data_reader=_FeedList(feeds),
            quant_format=QuantFormat.QDQ, op_types_to_quantize=list(op_types), per_channel=True,
            activation_type=activation_type, weight_type=weight_type, reduce_range=types.reduce_range,
            use_external_data_format=True,
            calibrate_method=CalibrationMethod.MinMax,
            # MinMax calibration outputs only per-tensor ReduceMin/ReduceMax, so every recorded run fits in
            # memory. (CalibMaxIntermediateOutputs is not used: onnxruntime 1.32 drops, rather than folds, the
            # ranges of each full batch.)
            extra_options={"MatMulConstBOnly": True},
        )
    _resave_single_file(target)


def _resave_single_file(folder: Path) -> None:
    """Re-save ``folder/model.onnx`` with all its weights in ``model.onnx_data`` (optimum's layout)."""
    import onnx

    model = onnx.load(str(folder / MODEL_FILE), load_external_data=True)
    for path in folder.iterdir():  # the data file(s) quantize_dynamic wrote beside the graph
        if path.is_file() and path.name.startswith(MODEL_FILE) and path.name != MODEL_FILE:
            path.unlink()
    save_model_files(model, folder)


def _convert_fp16(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source / MODEL_FILE), load_external_data=True)
    restore_float32_weights(model)
    save_model_files(convert_float_to_float16(model, keep_io_types=True), target)


def _store_fp16_weights(source: Path, target: Path) -> None:
    import onnx

    model = onnx.load(str(source / MODEL_FILE), load_external_data=True)
    store_weights_fp16(model)
    save_model_files(model, target)


def _has_fp16_storage(folder: Path) -> bool:
    """Whether the part in ``folder`` reads float16-stored weights through Casts (half_weights.py)."""
    import onnx

    graph = onnx.load(str(folder / MODEL_FILE), load_external_data=False).graph
    return any(node.op_type == "Cast" and node.output[0].endswith(FLOAT32_SUFFIX) for node in graph.node)


def _float32_source(folder: Path, scratch: Path) -> Path:
    """``folder``, or a float32 copy of it in ``scratch`` when its weights are stored in float16 (ONNX
    Runtime's quantizers need float32 initializers read directly)."""
    import onnx

    if not _has_fp16_storage(folder):
        return folder
    model = onnx.load(str(folder / MODEL_FILE), load_external_data=True)
    restore_float32_weights(model)
    scratch.mkdir(parents=True)
    save_model_files(model, scratch)
    return scratch


def convert_precision(
    model: str | Path,
    output: str | Path,
    precision: str = "int8",
    parts: Sequence[str] | None = None,
    int8_ops: Sequence[str] | None = None,
    per_channel: bool = False,
    overwrite: bool = False,
    calibration_prompts: Sequence[str] | None = None,
    calibration_steps: int = calibration.DEFAULT_STEPS,
    calibration_size: int | None = None,
    int8_types: Int8Types | None = None,
) -> PrecisionReport:
    """Write a copy of the exported folder ``model`` to ``output`` with ``parts`` (default: UNet and text
    encoder for int8, the UNet for int8-static, every model for fp16 and fp16-weights) converted to
    ``precision`` ("int8", "int8-static", "fp16" or "fp16-weights"; int8-static converts the UNet, the VAE
    decoder or both). ``int8_ops``: the op types whose weights are quantized (default MatMul for
    int8, Conv and MatMul for int8-static); ``per_channel`` applies to int8 (int8-static is always per
    channel). int8-static calibrates on the UNet and decoder inputs of ``calibration_prompts`` (default:
    calibration.DEFAULT_PROMPTS) denoised in ``calibration_steps`` steps by the float32 pipeline at
    ``calibration_size`` pixels square (default: the model's own size). The output is staged and moved
    into place at the end. ``int8_types``: the integer types of int8 and int8-static copies (default
    :data:`DEFAULT_INT8_TYPES`, chosen to keep the pictures on every x86 CPU kind); recorded in
    ``model_index.json``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    static = precision == "int8-static"
    if int8_types is not None and precision not in DEFAULT_INT8_TYPES:
        raise ValueError(f"int8_types applies to {' and '.join(DEFAULT_INT8_TYPES)} copies, not {precision}")
    if int8_types is not None and precision == "int8" and int8_types.activations != "uint8":
        raise ValueError(f"dynamic int8 quantizes activations as uint8 only, got activations={int8_types.activations!r}")
    int8_types = int8_types or DEFAULT_INT8_TYPES.get(precision)
    int8_ops = tuple(int8_ops or (DEFAULT_STATIC_INT8_OPS if static else DEFAULT_INT8_OPS))
    if static and parts and not set(parts) <= set(calibration.CALIBRATED_PARTS):
        others = ", ".join(p for p in parts if p not in calibration.CALIBRATED_PARTS)
        raise ValueError(f"int8-static calibrates and converts the UNet and the VAE decoder only, not {others}")
    source, output = Path(model), Path(output)
    if not (source / "model_index.json").is_file():
        raise FileNotFoundError(f"{source} is not an exported pipeline folder (no model_index.json)")
    index = read_config(source, "model_index.json")
    current = index.get(PRECISION_KEY, "fp32")
    if current not in FLOAT_WEIGHT_PRECISIONS or current == precision:
        raise ValueError(f"{source} is already converted to {current}; convert the float32 export instead")
    check_output_folder(output, overwrite)
    parts = tuple(parts or DEFAULT_PARTS[precision])
    missing = [p for p in parts if not (part_folder(source, p) / MODEL_FILE).is_file()]
    if missing:
        raise FileNotFoundError(f"{source} has no {', '.join(missing)} model to convert")
    report = PrecisionReport(output=output, precision=precision)
    feeds: dict[str, list[dict]] = {}
    if static:
        start = time.perf_counter()
        prompts = tuple(calibration_prompts or calibration.DEFAULT_PROMPTS)
        feeds = calibration.collect_inputs(source, parts, prompts, calibration_steps, calibration_size, calibration_size)
        report.seconds["calibration"] = time.perf_counter() - start
        logger.info("recorded %s for calibration in %.1f s", ", ".join(f"{len(f)} {p} runs" for p, f in feeds.items()),
                    report.seconds["calibration"])
    staging = staging_folder(output)
    try:
        # parts stored incomplete (shared or packed weights, shared_weights.py) are copied assembled
        partial = [part for part in FOLDER_PARTS if needs_assembly(source / part)]
        shutil.copytree(source, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*parts, *partial))
        for part in FOLDER_PARTS:  # parts a variant folder takes from another: copied in, so the output stands alone
            shared = part_folder(source, part)
            if part not in parts and shared.exists() and not (staging / part).exists():
                shutil.copytree(shared, staging / part)
        index.pop(SHARED_PARTS_KEY, None)
        for part in parts:
            from_folder, to_folder = part_folder(source, part), staging / part
            shutil.copytree(from_folder, to_folder, ignore=shutil.ignore_patterns(MODEL_FILE, DATA_FILE))
            start = time.perf_counter()
            scratch = staging / f".{part}-fp32"  # a float32 copy for the quantizers, when the part stores fp16
            if precision == "int8":
                _quantize_int8(_float32_source(from_folder, scratch), to_folder, int8_ops, per_channel, int8_types)
            elif static:
                _quantize_int8_static(_float32_source(from_folder, scratch), to_folder, int8_ops, feeds[part], int8_types)
            elif precision == "fp16":
                _convert_fp16(from_folder, to_folder)
            else:
                _store_fp16_weights(from_folder, to_folder)
            shutil.rmtree(scratch, ignore_errors=True)
            report.seconds[part] = time.perf_counter() - start
            report.bytes[part] = (_folder_bytes(from_folder), _folder_bytes(to_folder))
            logger.info("%s -> %s in %.1f s", part, precision, report.seconds[part])
        index[PRECISION_KEY] = precision
        for stale in (INT8_OPS_KEY, INT8_TYPES_KEY, CALIBRATION_KEY):  # from an fp16-weights source's own conversion record
            index.pop(stale, None)
        if precision in INT8_PRECISIONS:
            index[INT8_OPS_KEY] = list(int8_ops)
            index[INT8_TYPES_KEY] = int8_types.record()
        if static:
            index[CALIBRATION_KEY] = {"prompts": list(prompts), "steps": calibration_steps,
                                      **{f"{part}_runs": len(runs) for part, runs in feeds.items()}}
            if "unet" in feeds:
                index[CALIBRATION_KEY]["sample_shape"] = list(feeds["unet"][0]["sample"].shape)
        (staging / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        publish_permissions(staging)
        move_folder_into_place(staging, output, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report
