"""diffusers' textual-inversion API on the ONNX pipelines (``load_textual_inversion``,
``unload_textual_inversion``, ``maybe_convert_prompt``), without re-export: the new tokens are added to the
tokenizer and their vectors reach the text encoder as rows of its token table, grown and given to the
session as a replaced weight (token_table.py), the way ControlNet weights are swapped. This works on our
exports, optimum's, and a vocabulary-pruned one (the embedded model's), in merge, live and swap LoRA modes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ortdiffusion.model_folder import MODEL_FILE
from ortdiffusion.pipelines.lora_support import LoraSupport
from ortdiffusion.prompts.multi_vector import expand_multi_vector_tokens
from ortdiffusion.prompts.textual_inversion_file import TextualInversion, read_textual_inversion
from ortdiffusion.token_table import TokenTable, grown_token_table, read_token_table

logger = logging.getLogger(__name__)

Source = Any  # a path (str, os.PathLike), a state dict (Mapping) or a tensor (numpy, torch)


class TextualInversionSupport(LoraSupport):
    """Mixed into the pipelines; the added vectors live in ``_textual_inversion`` (token -> float32 vector)."""

    def _embeddings(self) -> dict[str, np.ndarray]:
        return self.__dict__.setdefault("_textual_inversion", {})

    def _token_table(self) -> TokenTable:
        table = self.__dict__.get("_token_table_found")
        if table is None:
            table = self.__dict__["_token_table_found"] = read_token_table(self.components.part_folder("text_encoder") / MODEL_FILE)
        return table

    def load_textual_inversion(self, pretrained_model_name_or_path: Source | list[Source],
                               token: str | list[str] | None = None, weight_name: str | None = None) -> None:
        """Load textual-inversion embeddings (diffusers' semantics): ``pretrained_model_name_or_path`` is a
        .safetensors file, a folder with ``learned_embeds.safetensors`` (or ``weight_name``), a state dict or a
        tensor, or a list of them; ``token`` (or a list, one per source) replaces the token the file names.
        Formats and trigger words: prompts/textual_inversion_file.py. A multi-vector embedding adds
        ``token``, ``token_1`` ...; a prompt saying ``token`` reads them all. Refused with ValueError: a token
        already in the vocabulary, an embedding of another width than the text encoder's, a file without
        tensors, pickles (.pt / .bin)."""
        sources = pretrained_model_name_or_path if isinstance(pretrained_model_name_or_path, list) else [pretrained_model_name_or_path]
        tokens = token if isinstance(token, list) else [token]
        if tokens[0] is None:
            tokens = tokens * len(sources)
        if len(sources) > 1 and len(sources) != len(tokens):
            raise ValueError(f"You have passed a list of models of length {len(sources)}, and list of tokens of length "
                             f"{len(tokens)} Make sure both lists have the same length.")
        named = [t for t in tokens if t is not None]
        if len(set(named)) < len(named):
            raise ValueError(f"You have passed a list of tokens that contains duplicates: {tokens}")
        if len(sources) == 1 and len(tokens) > 1:  # one tensor holding a vector per token (diffusers' 4.1)
            whole = read_textual_inversion(sources[0], tokens[0] or "", weight_name)
            if len(whole.vectors) != len(tokens):
                raise ValueError(f"{whole.source} holds {len(whole.vectors)} vectors but {len(tokens)} tokens were given")
            loaded = [TextualInversion(t, whole.vectors[k : k + 1], whole.source) for k, t in enumerate(tokens)]
        else:
            loaded = [read_textual_inversion(s, t, weight_name) for s, t in zip(sources, tokens)]
        self._check_new_embeddings(loaded)
        tokenizer = self.components.tokenizer
        for embedding in loaded:
            tokenizer.add_tokens(embedding.tokens)
            self._embeddings().update(zip(embedding.tokens, embedding.vectors))
            logger.info("loaded textual inversion %s as %s (%d vectors)", embedding.source, embedding.token, len(embedding.vectors))
        self._apply_token_table()

    def _check_new_embeddings(self, loaded: Sequence[TextualInversion]) -> None:
        """diffusers' refusals (a token or multi-vector token already in the vocabulary) and the width check."""
        tokenizer = self.components.tokenizer
        width = self._token_table().width
        seen: set[str] = set()
        for embedding in loaded:
            # the tokenizer matches added tokens in the lowercased text: "Style" would take over the word "style"
            if any(tokenizer.token_id(t) is not None for t in {embedding.token, embedding.token.lower()}) or embedding.token in seen:
                raise ValueError(f"Token {embedding.token} already in tokenizer vocabulary. Please choose a different token "
                                 f"name or remove {embedding.token} and embedding from the tokenizer and text encoder.")
            taken = [t for t in embedding.tokens[1:] if tokenizer.token_id(t) is not None
                     or tokenizer.token_id(t.lower()) is not None or t in seen]
            if taken:
                raise ValueError(f"Multi-vector Token {taken} already in tokenizer vocabulary. Please choose a different "
                                 f"token name or remove the {taken} and embedding from the tokenizer and text encoder.")
            if embedding.vectors.shape[1] != width:
                raise ValueError(
                    f"{embedding.source}: the embedding is {embedding.vectors.shape[1]} wide but this model's text encoder "
                    f"takes {width}-wide token embeddings (an embedding for another text encoder, e.g. SD 2.x's 1024 or "
                    "SD 1.x's 768)"
                )
            seen.update(embedding.tokens)

    def unload_textual_inversion(self, tokens: str | list[str] | None = None) -> None:
        """Remove the given loaded tokens (with their multi-vector tokens ``tok_1`` ...), or all of them;
        the remaining ones keep working (their ids are renumbered, as diffusers does)."""
        embeddings = self._embeddings()
        if tokens is None:
            removed = set(embeddings)
        else:
            wanted = [tokens] if isinstance(tokens, str) else list(tokens)
            unknown = [t for t in wanted if t not in embeddings]
            if unknown:
                raise ValueError(f"no textual inversion loaded for {unknown}; loaded: {sorted(embeddings)}")
            removed = {t for t in embeddings for w in wanted if t == w or (t.startswith(w + "_") and t[len(w) + 1 :].isdigit())}
        kept = {t: v for t, v in embeddings.items() if t not in removed}
        tokenizer = self.components.tokenizer
        tokenizer.remove_added_tokens()
        if kept:
            tokenizer.add_tokens(list(kept))
        embeddings.clear()
        embeddings.update(kept)
        self._apply_token_table()

    def maybe_convert_prompt(self, prompt: str | list[str], tokenizer: Any = None) -> str | list[str]:
        """``prompt`` with each multi-vector embedding's token ``tok`` spelled out as ``tok tok_1 ...``
        (diffusers' ``maybe_convert_prompt``; the pipelines call it on every prompt)."""
        tokenizer = tokenizer or self.components.tokenizer
        if isinstance(prompt, list):
            return [expand_multi_vector_tokens(p, tokenizer) for p in prompt]
        return expand_multi_vector_tokens(prompt, tokenizer)

    def _apply_token_table(self) -> None:
        """Give the text encoder its token table grown by the loaded vectors (or back to the file's)."""
        table = self._token_table()
        tokenizer = self.components.tokenizer
        rows = {tokenizer.added_tokens[t]: v for t, v in self._embeddings().items()}
        state = self._lora()
        replaced = state.replaced.setdefault("text_encoder", {})
        for name in (table.table, table.remap):
            replaced.pop(name or "", None)
        replaced.update(grown_token_table(table, self._base_weights("text_encoder"), rows))
        state.replaced_version += 1
        self._apply_lora()
