"""Turning a wrapper module into an ONNX file with every weight kept under its own name.

``torch.onnx.export`` (the TorchScript exporter) is run with ``do_constant_folding=False`` so that a
Linear weight stays an initializer consumed through ``Transpose`` (ONNX Runtime folds it at load), and with
``keep_initializers_as_inputs=True``, the documented way to skip its initializer de-duplication pass:
otherwise parameters that happen to hold equal values (freshly initialised norm weights, say) collapse
into one initializer and can no longer be swapped one by one. The initializers are then removed from
the graph inputs again, so the model has only the real inputs (as optimum's exports do)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

logger = logging.getLogger(__name__)

EXTERNAL_DATA_NAME = "model.onnx_data"
DEFAULT_OPSET = 17  # LayerNormalization is native from 17; ONNX Runtime 1.17+ runs it everywhere
# ONNX Runtime's contrib-op domain (fused_attention.py emits MultiHeadAttention from it)
CUSTOM_OPSETS = {"com.microsoft": 1}


def drop_initializer_inputs(model: onnx.ModelProto) -> None:
    """Remove the graph inputs that are initializers (left by ``keep_initializers_as_inputs=True``)."""
    initializers = {t.name for t in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(keep)


def export_module(
    module: torch.nn.Module,
    args: Sequence[torch.Tensor],
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    path: Path,
    external_data: bool,
    opset: int = DEFAULT_OPSET,
    custom_opsets: dict[str, int] | None = None,
) -> onnx.ModelProto:
    """Export ``module`` called on ``args`` to ``path``. With ``external_data`` all tensors above 1 KiB go
    to one ``model.onnx_data`` file beside it (needed above protobuf's 2 GB limit). ``custom_opsets``
declares contrib-op domains the module emits (CUSTOM_OPSETS for fused attention). Returns the model
    without its tensor data loaded (for analysis of names and shapes)."""
    module.eval()
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as scratch:
        raw = Path(scratch) / "raw.onnx"
        with torch.no_grad():
            torch.onnx.export(
                module, tuple(args), str(raw),
                input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                opset_version=opset, do_constant_folding=False, keep_initializers_as_inputs=True,
                dynamo=False, custom_opsets=custom_opsets or {},
            )
        model = onnx.load(str(raw), load_external_data=True)
        drop_initializer_inputs(model)
        if external_data:
            onnx.save_model(
                model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                location=EXTERNAL_DATA_NAME, size_threshold=1024,
            )
        else:
            onnx.save_model(model, str(path))
    logger.info("exported %s (%d initializers)", path, len(model.graph.initializer))
    return onnx.load(str(path), load_external_data=False)
