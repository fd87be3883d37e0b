"""Export diffusers Stable Diffusion folders to ONNX (the only part of ortdiffusion that imports torch;
needs the ``[export]`` extra)."""

from ortdiffusion.exporter.pipeline import ExportReport, export_pipeline

__all__ = ["ExportReport", "export_pipeline"]
