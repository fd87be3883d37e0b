"""Live LoRA switching: the weights LoRAs touch become graph *inputs* fed from buffers we own, and a switch
rewrites those buffers in place (C++, all cores); no session is recreated.

Why inputs: ONNX Runtime copies initializers, folds ``Transpose(W)`` and prepacks constant weights when the
session is created, so nothing written later into an initializer's buffer is seen. Graph inputs are read
from the caller's memory on every run. Measured on the SD 1.5 UNet (benchmarks/README.md): feeding the 160
attention/feed-forward weights as inputs costs no step time, and the session is created faster. A Linear
weight read through ``Transpose`` is fed pre-transposed, so the Transpose disappears from the graph."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ortdiffusion import _native
from ortdiffusion.lora.targets import Assignment

LIVE_SUFFIX = "::live"


@dataclass
class LiveGraph:
    """A model whose chosen initializers were turned into inputs: ``inputs`` maps initializer -> input
    name, ``transposed`` says whether the input holds W^T (the Transpose that read it was removed)."""

    model: bytes
    inputs: dict[str, str]
    transposed: dict[str, bool]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]  # of the fed buffers: float32 for weights, the initializer's own otherwise (a remap)


def build_live_graph(model_path: Path, names: Iterable[str], resized: Mapping[str, tuple[int, ...]] | None = None) -> LiveGraph:
    """Rewrite ``model_path``'s graph (weights stay where they are) so ``names`` become graph inputs;
    ``resized`` gives the shape of those fed with arrays of another shape than the file's (a token table
    grown by textual inversion, token_table.py)."""
    import onnx
    from onnx import helper

    proto = onnx.load(str(model_path), load_external_data=False)
    graph = proto.graph
    initializers = {t.name: t for t in graph.initializer}
    wanted = sorted(set(names))
    missing = [n for n in wanted if n not in initializers]
    if missing:
        raise ValueError(f"{model_path} has no initializers {missing[:5]}")
    consumers: dict[str, list] = {}
    for node in graph.node:
        for value in node.input:
            consumers.setdefault(value, []).append(node)
    inputs, transposed, shapes, dtypes, removed = {}, {}, {}, {}, []
    for name in wanted:
        tensor = initializers[name]
        dims = tuple(int(d) for d in (resized or {}).get(name, tensor.dims))
        live = name + LIVE_SUFFIX
        users = consumers.get(name, [])
        read = name
        if tensor.data_type == onnx.TensorProto.FLOAT16 and users and all(_is_float32_read(u, name) for u in users):
            # float16 storage (half_weights.py): the float32 buffer replaces the Cast's output
            removed.extend(users)
            read = users[0].output[0]
            users = [c for u in users for c in consumers.get(u.output[0], [])]
        via_transpose = len(dims) == 2 and bool(users) and all(
            u.op_type == "Transpose" and [a.ints for a in u.attribute if a.name == "perm"] in ([], [[1, 0]])
            and all(c.op_type == "MatMul" and list(c.input).index(u.output[0]) == 1 for c in consumers.get(u.output[0], []))
            for u in users
        )
        if via_transpose:
            for transpose in users:
                for matmul in consumers.get(transpose.output[0], []):
                    matmul.input[1] = live
                removed.append(transpose)
            dims = dims[::-1]
        else:
            for node in users:
                for k, value in enumerate(node.input):
                    if value == read:
                        node.input[k] = live
        inputs[name], transposed[name], shapes[name] = live, via_transpose, dims
        data_type = onnx.TensorProto.FLOAT if read != name else tensor.data_type
        dtypes[name] = np.dtype(helper.tensor_dtype_to_np_dtype(data_type))
        graph.input.append(helper.make_tensor_value_info(live, data_type, list(dims)))
    for node in removed:
        graph.node.remove(node)
    kept = [t for t in graph.initializer if t.name not in inputs]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return LiveGraph(proto.SerializeToString(), inputs, transposed, shapes, dtypes)


def _is_float32_read(node, name: str) -> bool:
    """Whether ``node`` is the Cast through which float16 storage reads initializer ``name`` as float32."""
    from onnx import TensorProto

    from ortdiffusion.model_folder.half_weights import FLOAT32_SUFFIX

    return (node.op_type == "Cast" and list(node.input) == [name] and node.output[0] == name + FLOAT32_SUFFIX
            and any(a.name == "to" and a.i == TensorProto.FLOAT for a in node.attribute))


class LiveWeights:
    """The owned buffers of one model part's live weights, rewritten in place by :meth:`update`."""

    def __init__(self, graph: LiveGraph, base: Mapping[str, np.ndarray], replaced: Mapping[str, np.ndarray] | None = None) -> None:
        self.graph = graph
        self._base = base
        self.buffers = {name: np.empty(shape, dtype=graph.dtypes[name]) for name, shape in graph.shapes.items()}
        self._keys: dict[str, tuple] = {}
        self.update([], replaced)

    @property
    def names(self) -> set[str]:
        """Initializers fed live."""
        return set(self.buffers)

    @property
    def feeds(self) -> dict[str, np.ndarray]:
        """Graph input name -> buffer, to pass with every run."""
        return {self.graph.inputs[name]: buffer for name, buffer in self.buffers.items()}

    def update(self, adapters: Sequence[tuple[Sequence[Assignment], float]],
               replaced: Mapping[str, np.ndarray] | None = None) -> int:
        """Make every buffer hold its base weight (or ``replaced`` one) plus the deltas of ``adapters``
        (assignments, adapter weight); only buffers whose inputs changed are rewritten. Returns how many."""
        replaced = replaced or {}
        factors: dict[str, list[tuple[np.ndarray, np.ndarray, float]]] = {name: [] for name in self.buffers}
        for assignments, adapter_weight in adapters:
            for a in assignments:
                name = a.target.initializer
                if name not in factors:
                    raise ValueError(f"{name} is not a live weight of this session")
                up = a.layer.up.reshape(a.layer.up.shape[0], a.layer.rank)
                down = a.layer.down.reshape(a.layer.rank, -1)
                if a.target.transposed:  # the initializer itself stores W^T: its delta is down^T @ up^T
                    up, down = np.ascontiguousarray(down.T), np.ascontiguousarray(up.T)
                factors[name].append((up, down, float(adapter_weight) * a.layer.scale))
        jobs = []
        for name, fs in factors.items():
            base = replaced.get(name)
            base = self._base[name] if base is None else base
            key = (id(base), tuple((id(u), id(d), s) for u, d, s in fs))
            if self._keys.get(name) == key:
                continue
            if self.buffers[name].dtype != np.float32:  # not a weight (a vocabulary remap): fed as it is
                if fs:
                    raise ValueError(f"{name} is not a float weight: no LoRA applies to it")
                self.buffers[name][...] = base
                self._keys[name] = key
                continue
            weight = np.ascontiguousarray(np.asarray(base, dtype=np.float32).reshape(base.shape[0], -1))
            transpose_out = self.graph.transposed[name]
            buffer = self.buffers[name]
            dst = buffer if buffer.ndim == 2 else buffer.reshape(buffer.shape[0], -1)
            jobs.append((weight, dst, transpose_out, fs))
            self._keys[name] = key
        if jobs:
            _native.lora_merge_into(jobs, 0)
        return len(jobs)
