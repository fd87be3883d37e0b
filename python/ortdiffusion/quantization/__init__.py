"""Quantization (``ortdiffusion quantize``): lower-precision copies of an exported folder. ``precision``
converts (int8, int8-static, fp16, fp16-weights); ``calibration`` records the UNet and VAE decoder inputs
int8-static calibrates on. Beside the front doors: it uses the pipelines and the folder layer, and nothing on the
generation path imports it (a folder's recorded precision is read through ortdiffusion.model_folder)."""

from ortdiffusion.quantization.calibration import collect_inputs, collect_unet_inputs
from ortdiffusion.quantization.precision import (
    DEFAULT_INT8_TYPES,
    PRECISIONS,
    Int8Types,
    PrecisionReport,
    convert_precision,
)

__all__ = ["DEFAULT_INT8_TYPES", "PRECISIONS", "Int8Types", "PrecisionReport", "collect_inputs", "collect_unet_inputs",
           "convert_precision"]
