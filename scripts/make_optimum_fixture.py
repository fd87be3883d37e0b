"""Rebuild tests/data/optimum-micro: the micro pipeline of tests/tiny_models.py exported by
``optimum-cli export onnx``, so the tests check that optimum's exports load and match diffusers without
needing optimum (which pins transformers<4.58) in the test environment.

    python scripts/make_optimum_fixture.py --optimum-python /path/to/optimum-venv/bin/python

Run it with the test extra installed (it builds the diffusers folder), pointing at a virtualenv that has
``optimum-onnx``, ``torch==2.13.0``, ``diffusers`` and ``transformers<4.58``."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "tests" / "data" / "optimum-micro"
TOKENIZER = REPO / "python" / "ortdiffusion" / "data" / "clip_tokenizer"


def save_for_old_transformers(folder: Path) -> None:
    """Save the micro pipeline so transformers 4.x can read it: CLIP text weights keyed ``text_model.*``
    (transformers 5 drops that prefix) and the slow tokenizer's vocab.json / merges.txt."""
    sys.path.insert(0, str(REPO / "tests"))
    from safetensors.torch import load_file, save_file
    from tiny_models import build_micro_pipeline

    build_micro_pipeline().save_pretrained(folder)
    weights = folder / "text_encoder" / "model.safetensors"
    tensors = load_file(weights)
    save_file({k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in tensors.items()}, weights,
              metadata={"format": "pt"})
    for name in ("vocab.json", "merges.txt", "special_tokens_map.json"):
        shutil.copyfile(TOKENIZER / name, folder / "tokenizer" / name)


def main() -> int:
    """Build, export with optimum, replace the fixture folder."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--optimum-python", required=True, help="python of a virtualenv with optimum-onnx")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        source, exported = Path(scratch) / "diffusers", Path(scratch) / "optimum"
        save_for_old_transformers(source)
        subprocess.run(
            [args.optimum_python, "-m", "optimum.commands.optimum_cli", "export", "onnx", "--model", str(source),
             "--task", "text-to-image", str(exported)],
            check=True,
        )
        if TARGET.exists():
            shutil.rmtree(TARGET)
        shutil.copytree(exported, TARGET)
    size = sum(p.stat().st_size for p in TARGET.rglob("*") if p.is_file())
    print(f"wrote {TARGET} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
