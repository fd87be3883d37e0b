"""Textual inversion without re-export against diffusers' load_textual_inversion loading the same files, on
the tiny model (ours, the swap export, an optimum export) and on the embedded model's pruned vocabulary;
the file formats people publish; the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_optimum_folder import FIXTURE as OPTIMUM_FOLDER
from test_pipeline_parity import TOLERANCE

import ortdiffusion as od
from ortdiffusion.prompts.textual_inversion_file import read_textual_inversion

ARGS = {"num_inference_steps": 4, "height": 32, "width": 32, "output_type": "np"}


@pytest.fixture(scope="module")
def files(tmp_path_factory, torch):
    """A single-vector and a three-vector embedding in diffusers' layout, the latter also as kohya's
    ``emb_params`` file; random vectors at 25 times the tiny table's spread, so they change the picture."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("embeddings")
    generator = torch.Generator().manual_seed(0)
    single = torch.randn(1, 32, generator=generator) * 0.5
    multi = torch.randn(3, 32, generator=generator) * 0.5
    save_file({"<cat-toy>": single}, folder / "cat.safetensors")
    save_file({"<multi>": multi}, folder / "learned_embeds.safetensors")
    save_file({"emb_params": multi}, folder / "badhands.safetensors")
    return {"single": folder / "cat.safetensors", "multi": folder / "learned_embeds.safetensors",
            "kohya": folder / "badhands.safetensors", "folder": folder}


def _reference(zoo, torch):
    import diffusers

    pipe = diffusers.StableDiffusionPipeline.from_pretrained(zoo.diffusers("base"), safety_checker=None,
                                                             requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _ours(folder: Path) -> od.StableDiffusionPipeline:
    pipe = od.StableDiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("prompt", ["a photo of <cat-toy>", "a <multi> painting, (<cat-toy>) on grass"])
def test_single_and_multi_vector_embeddings_match_diffusers(zoo, torch, files, prompt):
    ref, ours = _reference(zoo, torch), _ours(zoo.exported("base"))
    for pipe in (ref, ours):
        pipe.load_textual_inversion(str(files["single"]))
        pipe.load_textual_inversion(str(files["folder"]))  # a folder: its learned_embeds.safetensors
    with torch.no_grad():
        expected = ref(prompt, generator=torch.Generator().manual_seed(3), **ARGS).images
    got = ours(prompt, generator=3, **ARGS).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE
    without = ours(prompt.replace("<cat-toy>", "").replace("<multi>", ""), generator=3, **ARGS).images
    assert float(np.abs(got - without).max()) > 0.05  # the embeddings steer the picture
    assert ours.maybe_convert_prompt(prompt) == ref.maybe_convert_prompt(prompt, ref.tokenizer)


def test_token_argument_and_kohya_file(zoo, torch, files):
    ref, ours = _reference(zoo, torch), _ours(zoo.exported("base"))
    ref.load_textual_inversion(str(files["multi"]), token="badhands")
    ours.load_textual_inversion(str(files["kohya"]))  # AUTOMATIC1111's rule: the file's stem is the trigger
    prompt = "a circle, badhands"
    with torch.no_grad():
        expected = ref.encode_prompt(prompt, "cpu", 1, False)[0].numpy()
    np.testing.assert_allclose(ours.encode_prompt([prompt], [], 1, False), expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["live", "swap"])
def test_live_lora_mode_and_a_swap_export(zoo, torch, files, kind):
    """Live mode feeds the grown table as an input; a swap export (slots in the UNet only) merges it."""
    ref = _reference(zoo, torch)
    ours = _ours(zoo.exported("swap" if kind == "swap" else "base"))
    if kind == "live":
        ours.enable_live_lora()
    for pipe in (ref, ours):
        pipe.load_textual_inversion(str(files["multi"]))
    prompt = "a <multi> painting"
    with torch.no_grad():
        expected = ref.encode_prompt(prompt, "cpu", 1, False)[0].numpy()
    np.testing.assert_allclose(ours.encode_prompt([prompt], [], 1, False), expected, atol=1e-5)
    fed = ours.components.text_encoder.extra_feeds
    assert any("token_embedding" in name and array.shape[0] == 49411 for name, array in fed.items()) == (kind == "live")
    ours.unload_textual_inversion()
    plain = _ours(zoo.exported("base")).encode_prompt(["a painting"], [], 1, False)
    np.testing.assert_allclose(ours.encode_prompt(["a painting"], [], 1, False), plain, atol=1e-5)


def test_unload_keeps_the_other_embeddings(zoo, torch, files):
    ref, ours = _reference(zoo, torch), _ours(zoo.exported("base"))
    for pipe in (ref, ours):
        pipe.load_textual_inversion(str(files["single"]))
        pipe.load_textual_inversion(str(files["multi"]))
        pipe.unload_textual_inversion("<cat-toy>")
    assert list(ours.components.tokenizer.added_tokens) == ["<multi>", "<multi>_1", "<multi>_2"]
    prompt = "a <multi> painting"
    with torch.no_grad():
        expected = ref.encode_prompt(prompt, "cpu", 1, False)[0].numpy()
    np.testing.assert_allclose(ours.encode_prompt([prompt], [], 1, False), expected, atol=1e-5)


def test_optimum_export(torch, files):
    from tiny_models import build_micro_pipeline

    ref = build_micro_pipeline()
    ours = _ours(OPTIMUM_FOLDER)
    width = ref.text_encoder.get_input_embeddings().weight.shape[1]
    vectors = {"<thing>": torch.randn(2, width, generator=torch.Generator().manual_seed(5))}
    for pipe in (ref, ours):
        pipe.load_textual_inversion(vectors)  # a state dict in memory, torch tensors
    prompt = "a <thing> on a table"
    with torch.no_grad():
        expected = ref.encode_prompt(prompt, "cpu", 1, False)[0].numpy()
    np.testing.assert_allclose(ours.encode_prompt([prompt], [], 1, False), expected, atol=1e-5)


def test_embedded_model_pruned_vocabulary(tmp_path):
    """On the embedded model (pruned vocabulary, float16-stored table): an embedding equal to the word
    "red"'s row reads exactly as "red"; the new token is not reported as an unknown word."""
    from safetensors.numpy import save_file

    from ortdiffusion import initializers
    from ortdiffusion.model_folder import MODEL_FILE

    pipe = od.StableDiffusionPipeline.from_pretrained("default")
    weights = initializers.load(pipe.components.part_folder("text_encoder") / MODEL_FILE)
    table = np.asarray(weights["text_encoder.embeddings.token_embedding.weight"], dtype=np.float32)
    remap = np.asarray(weights["text_encoder.embeddings.token_embedding.weight.remap"])
    red = remap[pipe.components.tokenizer.token_id("red</w>")]
    save_file({"<my-red>": table[red : red + 1]}, str(tmp_path / "red.safetensors"))
    pipe.load_textual_inversion(tmp_path / "red.safetensors")
    assert pipe.components.tokenizer.added_tokens["<my-red>"] in pipe.components.known_token_ids
    np.testing.assert_array_equal(pipe.encode_prompt(["a <my-red> circle"], [], 1, False),
                                  pipe.encode_prompt(["a red circle"], [], 1, False))
    assert not np.array_equal(pipe.encode_prompt(["a <my-red> circle"], [], 1, False),
                              pipe.encode_prompt(["a blue circle"], [], 1, False))


def test_a1111_syntax_keeps_a_multi_vector_embedding_in_one_chunk(zoo, files):
    from ortdiffusion.prompts.weighted_embeddings import prompt_chunks

    ours = _ours(zoo.exported("base"))
    ours.load_textual_inversion(str(files["multi"]))
    tokenizer = ours.components.tokenizer
    first = tokenizer.added_tokens["<multi>"]
    prompt = ours.maybe_convert_prompt(" ".join(["cat"] * 73) + " <multi> dog")
    chunks = prompt_chunks(prompt, tokenizer)  # 73 words + 3 vectors > 75: the vectors open chunk two
    assert chunks[0].tokens[1:74] == [tokenizer.token_id("cat</w>")] * 73
    assert chunks[0].tokens[74:] == [tokenizer.token_id("<|endoftext|>")] * 3
    assert chunks[1].tokens[1:5] == [first, first + 1, first + 2, tokenizer.token_id("dog</w>")]
    ours(prompt, prompt_syntax="a1111", generator=0, **ARGS)  # and the pipeline takes it


def test_bad_embeddings_are_refused_with_clear_errors(zoo, tmp_path, files):
    from safetensors.numpy import save_file

    ours = _ours(zoo.exported("base"))
    save_file({"<wide>": np.zeros((1, 768), np.float32)}, str(tmp_path / "wide.safetensors"))
    with pytest.raises(ValueError, match=r"768 wide.*takes 32-wide"):
        ours.load_textual_inversion(tmp_path / "wide.safetensors")
    save_file({}, str(tmp_path / "empty.safetensors"))
    with pytest.raises(ValueError, match="holds no tensors"):
        ours.load_textual_inversion(tmp_path / "empty.safetensors")
    save_file({"a": np.zeros((1, 32), np.float32), "b": np.zeros((1, 32), np.float32)}, str(tmp_path / "two.safetensors"))
    with pytest.raises(ValueError, match="not a textual-inversion embedding"):
        ours.load_textual_inversion(tmp_path / "two.safetensors")
    with pytest.raises(ValueError, match="Token red already in tokenizer vocabulary"):
        ours.load_textual_inversion(files["single"], token="red")
    (tmp_path / "negative.pt").write_bytes(b"\x80\x02}q\x00.")  # a pickle: refused before it is read
    with pytest.raises(ValueError, match=r"is a pickle \(\.pt\).*run any code"):
        ours.load_textual_inversion(tmp_path / "negative.pt")
    with pytest.raises(ValueError, match="needs its token"):
        read_textual_inversion(np.zeros(32, np.float32))
    ours.load_textual_inversion(files["single"])
    with pytest.raises(ValueError, match="already in tokenizer vocabulary"):
        ours.load_textual_inversion(files["single"])
    assert list(ours.components.tokenizer.added_tokens) == ["<cat-toy>"]  # the refusals added nothing


def test_cli_embedding_option_uses_the_file_stem(zoo, tmp_path, files, capsys):
    from PIL import Image

    from ortdiffusion.cli import main
    from ortdiffusion.png import read_parameters

    common = ["generate", "--model", str(zoo.exported("base")), "--steps", "3", "--seed", "1", "--height", "32",
              "--width", "32", "--quiet"]
    plain, called = tmp_path / "plain.png", tmp_path / "called.png"
    assert main([*common, "a circle", "--out", str(plain)]) == 0
    assert main([*common, "a circle, badhands", "--embedding", str(files["kohya"]), "--out", str(called)]) == 0
    assert read_parameters(called)["embeddings"] == "badhands"
    assert "Embeddings: badhands" in Image.open(called).text["parameters"]
    difference = np.abs(np.asarray(Image.open(plain), np.float32) - np.asarray(Image.open(called), np.float32))
    assert difference.max() > 5
    wide = tmp_path / "sd2embedding.safetensors"
    from safetensors.numpy import save_file

    save_file({"emb_params": np.zeros((2, 768), np.float32)}, str(wide))
    assert main([*common, "a circle", "--embedding", str(wide), "--out", str(tmp_path / "x.png")]) == 2
    assert "768 wide" in capsys.readouterr().err


def test_trigger_words_match_in_any_case_and_cannot_shadow_a_word(zoo, tmp_path, files):
    from safetensors.numpy import save_file

    ours = _ours(zoo.exported("base"))
    save_file({"emb_params": np.ones((2, 32), np.float32)}, str(tmp_path / "BadDream.safetensors"))
    ours.load_textual_inversion(tmp_path / "BadDream.safetensors")
    assert ours.maybe_convert_prompt("a cat, baddream") == "a cat, BadDream BadDream_1"
    first = ours.components.tokenizer.added_tokens["BadDream"]
    ids = ours.components.tokenizer.token_ids([ours.maybe_convert_prompt("a cat, BADDREAM")])[0]
    assert ids[-2:] == [first, first + 1]
    save_file({"emb_params": np.ones((1, 32), np.float32)}, str(tmp_path / "Style.safetensors"))
    with pytest.raises(ValueError, match="Token Style already in tokenizer vocabulary"):
        ours.load_textual_inversion(tmp_path / "Style.safetensors")  # it would take over the word "style"
