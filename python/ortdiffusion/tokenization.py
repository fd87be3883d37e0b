"""Prompt tokenisation for Stable Diffusion 1.x with the ``tokenizers`` library (no transformers):
``input_ids`` of shape [batch, 77], padded and truncated exactly as diffusers' pipelines ask their
CLIP tokenizer to (``padding="max_length", truncation=True``), with a logged warning on truncation."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from ortdiffusion.clip_bpe import EOS_TOKEN, build_clip_tokenizer, read_vocab_and_merges

logger = logging.getLogger(__name__)


class CLIPTokenizer:
    """CLIP BPE tokenizer producing fixed-length ``input_ids`` for the text encoder.

    Use :meth:`from_pretrained` on a ``tokenizer/`` folder (``tokenizer.json``, or ``vocab.json`` +
    ``merges.txt`` when that is missing) or :meth:`default` for the real CLIP vocabulary shipped with
    ortdiffusion."""

    def __init__(self, tokenizer: Tokenizer, model_max_length: int = 77, pad_token: str = EOS_TOKEN) -> None:
        pad_id = tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise ValueError(f"pad token {pad_token!r} is not in the tokenizer's vocabulary")
        if model_max_length < 2:
            raise ValueError(f"model_max_length must be at least 2, got {model_max_length}")
        self.model_max_length = model_max_length
        self.pad_token_id = pad_id
        self._tokenizer = tokenizer
        # Truncation counts the <|startoftext|>/<|endoftext|> the post-processor adds, as transformers does.
        self._tokenizer.enable_truncation(max_length=model_max_length)
        self._tokenizer.enable_padding(length=model_max_length, pad_id=pad_id, pad_token=pad_token)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, subfolder: str | None = None) -> CLIPTokenizer:
        """Load from a tokenizer folder (``subfolder`` inside ``path``, e.g. ``"tokenizer"``).

        Reads ``tokenizer.json`` when present, else builds the tokenizer from ``vocab.json`` and
        ``merges.txt``; ``model_max_length`` and ``pad_token`` come from ``tokenizer_config.json``."""
        folder = Path(path) / subfolder if subfolder else Path(path)
        if (folder / "tokenizer.json").is_file():
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        elif (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            tokenizer = build_clip_tokenizer(*read_vocab_and_merges(folder))
        else:
            raise FileNotFoundError(
                f"{folder} holds no tokenizer: expected tokenizer.json, or vocab.json and merges.txt"
            )
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        pad_token = config.get("pad_token", EOS_TOKEN)
        if isinstance(pad_token, dict):  # AddedToken serialised by transformers
            pad_token = pad_token.get("content", EOS_TOKEN)
        max_length = int(config.get("model_max_length", 77))
        if max_length > 4096:  # transformers writes a huge sentinel when no limit was set
            max_length = 77
        return cls(tokenizer, model_max_length=max_length, pad_token=pad_token)

    @classmethod
    def default(cls) -> CLIPTokenizer:
        """The real CLIP ViT-L/14 vocabulary (49408 tokens) that Stable Diffusion 1.x uses, shipped with
        the package (built by scripts/build_clip_tokenizer.py from open_clip's MIT-licensed merges)."""
        with resources.as_file(resources.files("ortdiffusion") / "data" / "clip_tokenizer") as folder:
            return cls.from_pretrained(folder)

    def __call__(self, prompts: str | Sequence[str]) -> np.ndarray:
        """``input_ids`` [batch, model_max_length] int64 for one prompt or a list of prompts."""
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError(f"prompts must be a string or a list of strings, got {prompts!r}")
        encodings = self._tokenizer.encode_batch(texts)
        for text, encoding in zip(texts, encodings):
            if encoding.overflowing:
                removed = self._decode(encoding.overflowing[0].ids)
                logger.warning(
                    "The following part of your input was truncated because CLIP can only handle sequences up to "
                    "%d tokens: %r (prompt starts %r)", self.model_max_length, removed, text[:40]
                )
        return np.array([e.ids for e in encodings], dtype=np.int64)

    @functools.cached_property
    def _raw(self) -> Tokenizer:
        """The same vocabulary without padding or truncation, for AUTOMATIC1111's chunking of long prompts;
        built on first use (copying the vocabulary takes half as long as loading it)."""
        raw = Tokenizer.from_str(self._tokenizer.to_str())
        raw.no_padding()
        raw.no_truncation()
        return raw

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The token ids of each text without <|startoftext|>, <|endoftext|>, padding or truncation
        (transformers' ``tokenizer(texts, truncation=False, add_special_tokens=False)``)."""
        return [e.ids for e in self._raw.encode_batch(list(texts), add_special_tokens=False)]

    def token_id(self, token: str) -> int | None:
        """The id of ``token`` (e.g. ``",</w>"``), or None when the vocabulary lacks it."""
        return self._raw.token_to_id(token)

    @property
    def added_tokens(self) -> dict[str, int]:
        """Tokens added with :meth:`add_tokens` (textual inversion) -> their ids, in the order added."""
        return dict(self.__dict__.get("_added", {}))

    def add_tokens(self, tokens: Sequence[str]) -> list[int]:
        """Add ``tokens`` to the vocabulary as transformers' ``tokenizer.add_tokens`` does (matched in the
        normalized text before BPE, no stripping, not special; ids after the last one) and return their ids.
        ValueError for a token the vocabulary already has (diffusers refuses those)."""
        from tokenizers import AddedToken

        present = [t for t in tokens if self.token_id(t) is not None]
        if present or len(set(tokens)) != len(tokens):
            raise ValueError(f"tokens already in the tokenizer's vocabulary (or repeated): {present or list(tokens)}")
        self.__dict__.setdefault("_original", self._tokenizer.to_str())
        added = [AddedToken(t, single_word=False, lstrip=False, rstrip=False, normalized=True, special=False) for t in tokens]
        self._tokenizer.add_tokens(added)
        if "_raw" in self.__dict__:
            self._raw.add_tokens(added)
        ids = [self._tokenizer.token_to_id(t) for t in tokens]
        self.__dict__.setdefault("_added", {}).update(zip(tokens, ids))
        return ids

    def remove_added_tokens(self) -> None:
        """Back to the vocabulary as loaded (every :meth:`add_tokens` undone)."""
        original = self.__dict__.pop("_original", None)
        self.__dict__.pop("_added", None)
        self.__dict__.pop("_raw", None)
        if original is not None:
            tokenizer = Tokenizer.from_str(original)
            tokenizer.enable_truncation(max_length=self.model_max_length)
            tokenizer.enable_padding(length=self.model_max_length, pad_id=self.pad_token_id,
                                     pad_token=self._tokenizer.padding["pad_token"])
            self._tokenizer = tokenizer

    def tokenize(self, text: str) -> list[str]:
        """The token strings of ``text`` without special tokens (transformers' ``tokenizer.tokenize``)."""
        return self._raw.encode(text, add_special_tokens=False).tokens

    def _decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` without special tokens; CLIP's ``</w>`` word ends become spaces."""
        return self._tokenizer.decode(list(ids), skip_special_tokens=True).replace("</w>", " ").strip()
