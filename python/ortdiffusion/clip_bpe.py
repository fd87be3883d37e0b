"""Building CLIP's byte-level BPE tokenizer (the one Stable Diffusion 1.x uses) for the ``tokenizers``
library: from CLIP's original merges list, or from a ``vocab.json`` + ``merges.txt`` pair.

The pipeline (NFC, whitespace squeeze, lowercase; CLIP's split regex; byte-level BPE with a ``</w>``
end-of-word suffix; <|startoftext|> ... <|endoftext|> around each text) is the one OpenAI's
SimpleTokenizer defines and that ``transformers.CLIPTokenizerFast`` builds.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
# CLIP's pre-tokenisation: contractions, runs of letters, single digits, runs of other non-space symbols.
CLIP_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
# CLIP keeps the first 49152 - 256 - 2 merges of its list (SimpleTokenizer.__init__).
CLIP_NUM_MERGES = 49152 - 256 - 2


def bytes_to_unicode() -> dict:
    """GPT-2/CLIP's reversible map from the 256 byte values to printable unicode characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


def vocab_and_merges_from_clip_bpe(lines: list) -> tuple:
    """CLIP's vocabulary and merges from the lines of ``bpe_simple_vocab_16e6.txt`` (first line is a
    header): byte symbols, the same with ``</w>``, one token per merge, then the two special tokens."""
    merges = [tuple(line.split()) for line in lines[1 : CLIP_NUM_MERGES + 1]]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [BOS_TOKEN, EOS_TOKEN]
    return {token: i for i, token in enumerate(tokens)}, merges


def build_clip_tokenizer(vocab: dict, merges: list) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` for CLIP from its vocabulary (token -> id) and ordered merges."""
    tokenizer = Tokenizer(
        BPE(vocab=vocab, merges=merges, continuing_subword_prefix="", end_of_word_suffix="</w>", fuse_unk=False,
            unk_token=EOS_TOKEN)
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CLIP_SPLIT_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    # Registered as special (as in transformers' CLIP tokenizer.json): matched whole, skippable on decode.
    tokenizer.add_special_tokens([AddedToken(BOS_TOKEN, special=True), AddedToken(EOS_TOKEN, special=True)])
    # RobertaProcessing adds <|startoftext|> ... <|endoftext|> and keeps byte-level offsets right.
    tokenizer.post_processor = processors.RobertaProcessing(
        (EOS_TOKEN, vocab[EOS_TOKEN]), (BOS_TOKEN, vocab[BOS_TOKEN]), trim_offsets=False, add_prefix_space=False
    )
    return tokenizer


def read_vocab_and_merges(folder: Path) -> tuple:
    """``vocab.json`` and ``merges.txt`` (with or without the ``#version`` header) from a tokenizer folder."""
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split()) for line in lines if line and not line.startswith("#version")]
    return vocab, merges


def vocab_and_merges_from_tokenizer_json(path: Path) -> tuple:
    """The BPE vocabulary and ordered merges stored in a ``tokenizer.json`` (merges as "a b" strings in
    older files, as [a, b] pairs in newer ones)."""
    model = json.loads(Path(path).read_text(encoding="utf-8"))["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"{path} holds a {model.get('type')} tokenizer, not BPE")
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def write_vocab_and_merges(vocab: dict, merges: list, folder: Path) -> None:
    """``vocab.json`` and ``merges.txt`` (with transformers' ``#version: 0.2`` header), the files the
    slow ``transformers.CLIPTokenizer`` and older tools read."""
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
