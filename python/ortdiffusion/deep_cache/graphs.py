"""The two UNet graphs DeepCache runs, both from one exported UNet graph.

DeepCache's shallowest branch (the DeepCache helper's ``cache_branch_id=0``, the one it uses for SD 1.x):
in a step that reuses the cache, only ``conv_in`` runs on the down path, and on the up path only the last
ResNet (and its attention, if the block has one) of the last up block, on ``concat(cached features,
conv_in output)``; then ``conv_norm_out``, ``conv_out``. The cached features are what enters that ResNet
beside the skip connection: the output of the up path just before it, from the last full step.

:func:`mark_deep_features` finds that tensor in an exported UNet graph (the first input of the ``Concat``
that joins it with ``conv_in``'s output) and makes it the graph output ``deep_features``;
:func:`shallow_graph` cuts the shallow graph out of a marked graph: every node ``out_sample`` needs once
``deep_features`` is an input. The cut graph keeps the initializers' external-data references, so it reads
the same weights file as the full graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEEP_FEATURES = "deep_features"
MODEL_FILE = "model.onnx"


def _producers(graph: Any) -> dict[str, Any]:
    return {output: node for node in graph.node for output in node.output}


def _consumers(graph: Any) -> dict[str, list[Any]]:
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consumers


def _conv_in_output(graph: Any, where: str) -> str:
    """The output of the first Conv on the path from the ``sample`` input (``conv_in``)."""
    consumers = _consumers(graph)
    frontier, seen = ["sample"], set()
    while frontier:
        name = frontier.pop(0)
        for node in consumers.get(name, []):
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.op_type == "Conv":
                return node.output[0]
            frontier.extend(node.output)
    raise ValueError(f"{where}: no Conv reads the UNet's `sample` input; is this a Stable Diffusion UNet graph?")


def deep_feature_tensor(model: Any, where: str = "the UNet graph") -> str:
    """The name of the tensor DeepCache caches in the UNet graph ``model`` (see the module docstring).
    Raises ValueError when the graph is not shaped like a diffusers UNet2DConditionModel, or fuses ControlNets
    (their residuals are added to the skip connections, so the shallow branch would need the whole ControlNet)."""
    graph = model.graph
    inputs = {i.name for i in graph.input}
    if "sample" not in inputs:
        raise ValueError(f"{where} has no `sample` input; DeepCache needs a Stable Diffusion UNet graph")
    if "controlnet_cond" in inputs:
        raise ValueError(f"{where} has ControlNets fused in; DeepCache does not apply to it (a ControlNet adds a "
                         "residual to every skip connection, so even the shallow branch would run the whole ControlNet)")
    skip = _conv_in_output(graph, where)
    joins = [n for n in _consumers(graph).get(skip, []) if n.op_type == "Concat" and len(n.input) == 2
             and n.input[1] == skip]
    if len(joins) != 1:
        raise ValueError(f"{where}: expected one Concat joining the up path with conv_in's output ({skip}), "
                         f"found {len(joins)}; is this a Stable Diffusion UNet graph?")
    return joins[0].input[0]


def mark_deep_features(model: Any, where: str = "the UNet graph") -> Any:
    """Add the output ``deep_features`` (an Identity of :func:`deep_feature_tensor`) to the UNet graph
    ``model`` in place, unless it has it already; returns ``model``."""
    from onnx import TensorProto, helper

    graph = model.graph
    if any(o.name == DEEP_FEATURES for o in graph.output):
        return model
    feature = deep_feature_tensor(model, where)
    graph.node.append(helper.make_node("Identity", [feature], [DEEP_FEATURES], name="DeepCacheFeatures"))
    first = graph.output[0].type.tensor_type.elem_type or TensorProto.FLOAT
    graph.output.append(helper.make_tensor_value_info(DEEP_FEATURES, first, ["batch", "channels", "height", "width"]))
    return model


def has_deep_features(model: Any) -> bool:
    """Whether the UNet graph ``model`` was marked by :func:`mark_deep_features`."""
    return any(o.name == DEEP_FEATURES for o in model.graph.output)


def shallow_graph(model: Any, where: str = "the UNet graph") -> Any:
    """The shallow-branch graph of the marked UNet graph ``model`` (a new ModelProto): the nodes its first
    output needs when ``deep_features`` is given as an input, with the initializers they read (external
    data references kept as they are). Inputs the branch does not read are dropped."""
    import onnx
    from onnx import helper

    if not has_deep_features(model):
        raise ValueError(f"{where} has no `{DEEP_FEATURES}` output (it was exported without --deep-cache)")
    graph = model.graph
    marker = next(n for n in graph.node if list(n.output) == [DEEP_FEATURES])
    feature = marker.input[0]
    result = graph.output[0]
    needed, kept = {result.name}, []
    for node in reversed(graph.node):  # graph.node is topologically sorted
        if node is marker or not needed.intersection(node.output):
            continue
        kept.append(node)
        needed.update(name for name in node.input if name and name != feature)
    if len(kept) * 2 > len(graph.node):
        raise ValueError(f"{where}: the shallow branch would run {len(kept)} of {len(graph.node)} nodes; the graph "
                         "is not shaped like a diffusers UNet")
    nodes = []
    for node in reversed(kept):
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        for k, name in enumerate(copy.input):
            if name == feature:
                copy.input[k] = DEEP_FEATURES
        nodes.append(copy)
    feature_type = next(o for o in graph.output if o.name == DEEP_FEATURES)
    inputs = [i for i in graph.input if i.name in needed] + [feature_type]
    initializers = [t for t in graph.initializer if t.name in needed]
    shallow = helper.make_graph(nodes, f"{graph.name}-deep-cache-shallow", inputs, [result], initializers)
    out = helper.make_model(shallow, producer_name="ortdiffusion-deep-cache")
    del out.opset_import[:]
    out.opset_import.extend(model.opset_import)
    out.ir_version = model.ir_version
    return out


def add_deep_cache(unet_folder: str | Path) -> bool:
    """Mark the UNet graph of an exported folder's ``unet/`` (``unet_folder``: that folder) for DeepCache in
    place (the graph file only; the weights stay as they are). Works on any export of a diffusers UNet, an
    optimum one included. Returns False when it was marked already."""
    import onnx

    path = Path(unet_folder) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no UNet graph at {path}")
    model = onnx.load(str(path), load_external_data=False)
    if has_deep_features(model):
        return False
    mark_deep_features(model, str(path))
    staged = path.with_name(f".{path.name}.deep-cache")
    onnx.save_model(model, str(staged))
    staged.replace(path)
    return True
