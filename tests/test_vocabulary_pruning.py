"""Vocabulary pruning of an exported text encoder: outputs bit-identical for kept tokens, every dropped
token reads one zero row, the table and the file shrink, and bad requests are refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from ortdiffusion.exporter.vocabulary import PRUNED_KEY, prune_vocabulary
from ortdiffusion.initializers import load as load_initializers

BOS, EOS = 49406, 49407
KEEP = [BOS, EOS, 320, 736, 2666, 525, 1746, 3360]  # a, red, circle, on, blue, background (+ specials)


def _encode(folder, ids: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": ids.astype(np.int64)})


def _ids(*tokens: int) -> np.ndarray:
    row = [BOS, *tokens, EOS]
    return np.array([row + [EOS] * (77 - len(row))])


@pytest.fixture
def text_encoder(zoo, tmp_path):
    folder = tmp_path / "text_encoder"
    shutil.copytree(zoo.exported("base") / "text_encoder", folder)
    return folder


def test_kept_tokens_give_identical_outputs_and_dropped_ones_a_zero_row(text_encoder, tmp_path):
    original = tmp_path / "original"
    shutil.copytree(text_encoder, original)
    known = _ids(320, 736, 2666, 525, 1746, 3360)
    report = prune_vocabulary(text_encoder, KEEP)
    assert (report.rows_before, report.rows_after) == (49408, len(KEEP) + 1)
    assert report.bytes_after < report.bytes_before / 10
    for got, expected in zip(_encode(text_encoder, known), _encode(original, known)):
        np.testing.assert_array_equal(got, expected)
    # two different dropped tokens at the same place read the same (zero) row...
    cat, dog = _encode(text_encoder, _ids(320, 2368)), _encode(text_encoder, _ids(320, 1929))
    np.testing.assert_array_equal(cat[0], dog[0])
    # ...which is what the original gives when that token's row is zero
    table = next(n for n in load_initializers(original / "model.onnx") if "token_embedding" in n)
    zeroed = tmp_path / "zeroed"
    shutil.copytree(original, zeroed)
    _zero_row(zeroed, table, 2368)
    np.testing.assert_array_equal(cat[0], _encode(zeroed, _ids(320, 2368))[0])
    config = json.loads((text_encoder / "config.json").read_text())
    assert config[PRUNED_KEY]["kept_token_ids"] == sorted(KEEP) and config[PRUNED_KEY]["rows_before"] == 49408
    weights_map = json.loads((text_encoder / "weights_map.json").read_text())
    shapes = [e["shape"] for entries in weights_map["modules"].values() for e in entries.values() if e["initializer"] == table]
    assert shapes == [[len(KEEP) + 1, 32]]


def _zero_row(folder, table: str, row: int) -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(folder / "model.onnx"), load_external_data=True)
    for tensor in model.graph.initializer:
        if tensor.name == table:
            values = numpy_helper.to_array(tensor).copy()
            values[row] = 0
            tensor.CopyFrom(numpy_helper.from_array(values, table))
    (folder / "model.onnx_data").unlink()
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx_data", size_threshold=1024)


def test_refuses_bad_requests(text_encoder, zoo):
    with pytest.raises(ValueError, match=r"subset of \[0, 49408\)"):
        prune_vocabulary(text_encoder, [5, 49408])
    with pytest.raises(ValueError, match="non-empty"):
        prune_vocabulary(text_encoder, [])
    prune_vocabulary(text_encoder, KEEP)
    with pytest.raises(ValueError, match="already pruned to 8 tokens"):
        prune_vocabulary(text_encoder, KEEP)
    with pytest.raises(ValueError, match="expected one token-embedding Gather table, found none"):
        prune_vocabulary(zoo.exported("base") / "vae_decoder", KEEP)


def test_pipeline_names_the_prompt_words_a_pruned_text_encoder_does_not_know(zoo, caplog):
    import ortdiffusion as od
    from ortdiffusion.models import default_model_path

    pipe = od.StableDiffusionPipeline.from_pretrained(default_model_path())
    pipe.set_progress_bar_config(disable=True)
    assert len(pipe.components.known_token_ids) == 21
    def ours() -> list:  # other libraries' threads (a Ray cluster of earlier tests) may log meanwhile
        return [record for record in caplog.records if record.name.startswith("ortdiffusion")]

    with caplog.at_level("WARNING", logger="ortdiffusion.pipelines.base"):
        pipe("a red circle on a blue background", num_inference_steps=1, output_type="latent")
        assert not ours()
        pipe("a red cat, on a blue sofa, 4k", num_inference_steps=1, output_type="latent", negative_prompt="blurry")
    # the words as written ("4k", not the tokenizer's "4" and "k"), punctuation left out
    assert len(ours()) == 1 and ours()[0].getMessage().endswith("read as blanks: 4k, blurry, cat, sofa")
    assert od.StableDiffusionPipeline.from_pretrained(zoo.exported("base")).components.known_token_ids is None
