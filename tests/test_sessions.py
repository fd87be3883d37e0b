"""ONNX Runtime session helpers on small graphs built here."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ortdiffusion import sessions


@pytest.fixture(scope="module")
def unet_like(tmp_path_factory):
    """noise_pred = sample * 2 + timestep (cast), with a symbolic batch dimension and int64 timestep."""
    sample = helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 4, 8, 8])
    timestep = helper.make_tensor_value_info("timestep", TensorProto.INT64, [1])
    out = helper.make_tensor_value_info("noise_pred", TensorProto.FLOAT, ["batch", 4, 8, 8])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    nodes = [
        helper.make_node("Mul", ["sample", "two"], ["scaled"]),
        helper.make_node("Cast", ["timestep"], ["t_float"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["scaled", "t_float"], ["noise_pred"]),
    ]
    graph = helper.make_graph(nodes, "unet_like", [sample, timestep], [out], initializer=[two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("models") / "model.onnx"
    onnx.save(model, path)
    return path


def test_provider_names_resolve_and_unknown_ones_list_the_available():
    assert sessions.resolve_provider("cpu") == "CPUExecutionProvider"
    assert sessions.resolve_provider("CPUExecutionProvider") == "CPUExecutionProvider"
    with pytest.raises(ValueError, match="provider 'tpu' is not available.*available: .*CPUExecutionProvider"):
        sessions.resolve_provider("tpu")


def test_session_runs_and_reports_specs(unet_like):
    session = sessions.create_session(unet_like, provider="cpu")
    specs = sessions.input_specs(session)
    assert specs["timestep"].dtype == np.int64 and specs["sample"].dtype == np.float32
    assert specs["sample"].shape == ("batch", 4, 8, 8)
    assert sessions.output_specs(session)["noise_pred"].dtype == np.float32
    x = np.ones((2, 4, 8, 8), np.float32)
    (out,) = session.run(None, {"sample": x, "timestep": np.array([3], np.int64)})
    np.testing.assert_array_equal(out, np.full_like(x, 5.0))
    sessions.require_inputs(session, ["sample", "timestep"], "unet/model.onnx", "text2img")


def test_missing_inputs_missing_files_and_broken_models(unet_like, tmp_path):
    session = sessions.create_session(unet_like)
    with pytest.raises(ValueError, match=r"unet/model.onnx lacks the inputs \['controlnet_cond'\] that ControlNet"):
        sessions.require_inputs(session, ["sample", "controlnet_cond"], "unet/model.onnx", "ControlNet")
    with pytest.raises(FileNotFoundError, match="no ONNX model at"):
        sessions.create_session(tmp_path / "nothing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ValueError, match="onnxruntime cannot load .*broken.onnx"):
        sessions.create_session(broken)


def test_replaced_weights_survive_graph_optimization(tmp_path):
    """Inline and external initializers are both replaced before ONNX Runtime optimizes the graph (plain
    add_initializer would be ignored once the weight is folded or re-laid out)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ortdiffusion.sessions import create_session

    weight = np.arange(16, dtype=np.float32).reshape(4, 4)
    nodes = [helper.make_node("Transpose", ["W"], ["Wt"]), helper.make_node("MatMul", ["x", "Wt"], ["y"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=[numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.ones((1, 4), np.float32)
    for external in (False, True):
        path = tmp_path / f"m{int(external)}" / "model.onnx"
        path.parent.mkdir()
        onnx.save_model(model, str(path), save_as_external_data=external, location="w.bin", size_threshold=0)
        replaced = create_session(path, initializers={"W": np.eye(4, dtype=np.float32)})
        np.testing.assert_array_equal(replaced.run(None, {"x": x})[0], x)
        np.testing.assert_array_equal(create_session(path).run(None, {"x": x})[0], x @ weight.T)
    with pytest.raises(ValueError, match="no initializers named"):
        create_session(path, initializers={"nope": weight})
