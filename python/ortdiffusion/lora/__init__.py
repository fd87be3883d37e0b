"""LoRA for exported ONNX models: parse the files people download, match them to the graph's weights,
merge them natively; the pipelines apply the result as session initializers (no re-export)."""

from ortdiffusion.lora.formats import LoraFile, LoraLayer, load_lora_file, parse_lora
from ortdiffusion.lora.merge import merged_weights
from ortdiffusion.lora.targets import Assignment, Target, match_layers, module_targets

__all__ = [
    "Assignment",
    "LoraFile",
    "LoraLayer",
    "Target",
    "load_lora_file",
    "match_layers",
    "merged_weights",
    "module_targets",
    "parse_lora",
]
