"""CLIP tokenisation against transformers' CLIPTokenizer built from the same vocabulary."""

import logging
import shutil

import numpy as np
import pytest
from transformers import CLIPTokenizer as TransformersCLIPTokenizer

from ortdiffusion.tokenization import CLIPTokenizer

PROMPTS = [
    "a red circle on a blue background",
    "A photo of an astronaut riding a horse on Mars, 4k, highly detailed!!!",
    "  multiple   spaces\tand\nnewlines  ",
    "numbers 1234567 and symbols #$%^&* (parentheses) [brackets] {braces}",
    "it's what they're doing, we'll see -- don't stop",
    "café, naïve, Ünïcödé and emoji 🙂",
    "",
    "a literal <|endoftext|> token",
    "word " * 100,  # truncated
]


@pytest.fixture(scope="module")
def shipped_folder():
    from importlib import resources

    with resources.as_file(resources.files("ortdiffusion") / "data" / "clip_tokenizer") as folder:
        yield folder


@pytest.fixture(scope="module")
def oracle(shipped_folder, tmp_path_factory):
    # transformers builds its own tokenizer from vocab.json + merges.txt only (never our tokenizer.json)
    folder = tmp_path_factory.mktemp("oracle_tokenizer")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(shipped_folder / name, folder / name)
    return TransformersCLIPTokenizer.from_pretrained(str(folder), pad_token="<|endoftext|>")


def _oracle_ids(oracle, prompts):
    return np.asarray(oracle(prompts, padding="max_length", max_length=77, truncation=True)["input_ids"])


def test_default_tokenizer_matches_transformers(oracle):
    ours = CLIPTokenizer.default()
    ids = ours(PROMPTS)
    assert ids.shape == (len(PROMPTS), 77) and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, _oracle_ids(oracle, PROMPTS))
    assert ids[0, 0] == 49406 and 49407 in ids[0]  # <|startoftext|> ... <|endoftext|>


def test_folder_without_tokenizer_json_builds_the_same(tmp_path, shipped_folder, oracle):
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(shipped_folder / name, tmp_path / name)
    ours = CLIPTokenizer.from_pretrained(tmp_path)
    np.testing.assert_array_equal(ours(PROMPTS), _oracle_ids(oracle, PROMPTS))


def test_export_of_a_tokenizer_json_only_folder_adds_vocab_and_merges(tmp_path, shipped_folder, oracle):
    """Folders saved by recent transformers hold only tokenizer.json; the export adds vocab.json +
    merges.txt so optimum (and transformers' file-based tokenizer) can load it, with the same token ids."""
    from ortdiffusion.exporter.folder import copy_tokenizer

    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(shipped_folder / "tokenizer.json", source / "tokenizer.json")
    copy_tokenizer(source, tmp_path / "out")
    oracle_folder = tmp_path / "oracle"
    oracle_folder.mkdir()
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(tmp_path / "out" / name, oracle_folder / name)
    rebuilt = TransformersCLIPTokenizer.from_pretrained(str(oracle_folder), pad_token="<|endoftext|>")
    np.testing.assert_array_equal(_oracle_ids(rebuilt, PROMPTS), _oracle_ids(oracle, PROMPTS))


def test_truncation_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="ortdiffusion.tokenization"):
        ids = CLIPTokenizer.default()("word " * 100)
    assert ids.shape == (1, 77) and ids[0, -1] == 49407
    assert "truncated" in caplog.text and "'word word" in caplog.text and "<|endoftext|>" not in caplog.text


def test_bad_folder_and_prompts(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected tokenizer.json, or vocab.json and merges.txt"):
        CLIPTokenizer.from_pretrained(tmp_path)
    with pytest.raises(TypeError, match="prompts must be a string"):
        CLIPTokenizer.default()(["ok", 3])
