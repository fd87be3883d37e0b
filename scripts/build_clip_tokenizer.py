"""Build the CLIP tokenizer files ortdiffusion ships, once, from open_clip's BPE merges (MIT licence).

    pip download --no-deps open-clip-torch -d /tmp/oc
    python scripts/build_clip_tokenizer.py /tmp/oc/open_clip_torch-*.whl

Writes vocab.json, merges.txt, tokenizer.json, tokenizer_config.json and special_tokens_map.json
(the layout of a diffusers/optimum ``tokenizer/`` folder) into python/ortdiffusion/data/clip_tokenizer.
"""

from __future__ import annotations

import gzip
import json
import sys
import zipfile
from pathlib import Path

from ortdiffusion.clip_bpe import BOS_TOKEN, EOS_TOKEN, build_clip_tokenizer, vocab_and_merges_from_clip_bpe

OUT = Path(__file__).resolve().parents[1] / "python" / "ortdiffusion" / "data" / "clip_tokenizer"
MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"


def main(wheel: str) -> None:
    """Read the merges from the open-clip-torch wheel and write the tokenizer folder."""
    with zipfile.ZipFile(wheel) as zf:
        lines = gzip.decompress(zf.read(MEMBER)).decode("utf-8").split("\n")
    vocab, merges = vocab_and_merges_from_clip_bpe(lines)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (OUT / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    build_clip_tokenizer(vocab, merges).save(str(OUT / "tokenizer.json"))
    special = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "unk_token": EOS_TOKEN, "pad_token": EOS_TOKEN}
    (OUT / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True, **special}
    (OUT / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(vocab)} tokens and {len(merges)} merges to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
