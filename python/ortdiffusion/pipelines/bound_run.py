"""Repeated runs of one model through ONNX Runtime's IO binding, so a loop allocates nothing per run:
the model's first output is written into a buffer the caller owns, and the inputs are bound to the
caller's numpy arrays (``OrtValue.ortvalue_from_numpy`` wraps CPU memory without copying, so on the CPU
provider a bound array's new contents are read by the next run). On the CPU provider an input given the
same array object as in the previous run is not bound again: in the denoising loop only the timestep
changes object from step to step. Other providers copy a CPU input to the device when it is bound, so
there every input is bound again before every run."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from ortdiffusion.pipelines.components import OnnxModel


class BoundRun:
    """``model``'s runs with its first output bound to ``out``. Other outputs, if any, are left for ONNX
    Runtime to allocate (the pipelines read only the first). Use :meth:`fits` first: the buffer must have
    the output's dtype."""

    def __init__(self, model: OnnxModel, out: np.ndarray) -> None:
        if not self.fits(model, out):
            raise ValueError(
                f"{model.path}: output buffer of dtype {out.dtype} (C-contiguous: {out.flags.c_contiguous}) "
                f"cannot take the model's first output ({next(iter(model.outputs.values())).dtype})"
            )
        self._model = model
        self._out = out
        self._binding = model.session.io_binding()
        self._bound: dict[str, np.ndarray] = {}  # input name -> the array bound to it (kept alive here)
        self._reuse_bindings = model.session.get_providers() == ["CPUExecutionProvider"]
        names = list(model.outputs)
        self._binding.bind_ortvalue_output(names[0], ort.OrtValue.ortvalue_from_numpy(out))
        for name in names[1:]:
            self._binding.bind_output(name)

    @staticmethod
    def fits(model: OnnxModel, out: np.ndarray) -> bool:
        """Whether ``out`` can receive ``model``'s first output: same dtype and rank, the same size on every
        fixed dimension, C-contiguous and writeable (otherwise the caller runs the model plainly, and a
        mismatch is reported where the result is used, naming both shapes)."""
        first = next(iter(model.outputs.values()), None)
        if first is None or first.dtype != out.dtype or len(first.shape) != out.ndim:
            return False
        fixed = all(not isinstance(d, int) or d == n for d, n in zip(first.shape, out.shape))
        return fixed and out.flags.c_contiguous and out.flags.writeable

    def run(self, **feeds: np.ndarray) -> np.ndarray:
        """Run with ``feeds`` (cast to the model's input dtypes as :meth:`OnnxModel.run` does) and return
        the output buffer, now holding this run's first output. Its shape must be the output's shape for
        these feeds; ONNX Runtime raises otherwise."""
        for name, value in self._model.prepare_feeds(feeds).items():
            if not self._reuse_bindings or self._bound.get(name) is not value:
                self._binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value))
                self._bound[name] = value
        self._model.session.run_with_iobinding(self._binding)
        return self._out
