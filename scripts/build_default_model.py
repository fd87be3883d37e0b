"""Install a trained tiny pipeline as the embedded default model (python/ortdiffusion/models/default).

    bash scripts/train_default_model.sh RUN_DIR          # trains (about 40 min on 2 cores), then calls this
    python scripts/build_default_model.py --trained RUN_DIR/base

``--trained`` is the diffusers folder written by ``python -m ortdiffusion.training base``. It is exported
with ortdiffusion's exporter (fused attention), the tokenizer copy is dropped (the package ships the real
CLIP tokenizer; model_index.json points there), and the rows of the 49408-token embedding that training
never touched are set to zero. Only the words of the dataset's captions (about 25 tokens) were ever
trained, so the other rows held their random initialisation and carried no meaning. Zeros compress, so
the wheel and the repository stay small. Needs the [export] extra."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ortdiffusion.exporter import export_pipeline
from ortdiffusion.pipelines.components import SHIPPED_TOKENIZER, SHIPPED_TOKENIZER_KEY
from ortdiffusion.tokenization import CLIPTokenizer
from ortdiffusion.training import shapes

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "python" / "ortdiffusion" / "models" / "default"
TOKEN_EMBEDDING = "token_embedding.weight"


def trained_token_ids() -> set[int]:
    """Every token id the training captions (and the empty prompt of classifier-free guidance) contain."""
    tokenizer = CLIPTokenizer.default()
    captions = {""} | {shapes.sample_at(seed, i).caption for seed in range(3) for i in range(3000)}
    return {int(t) for t in tokenizer(sorted(captions)).ravel()}


def zero_untrained_rows(text_encoder: Path, keep: set[int]) -> int:
    """Zero the token-embedding rows not in ``keep`` in ``text_encoder/model.onnx`` (external data kept);
    returns how many rows were zeroed."""
    model_path = text_encoder / "model.onnx"
    model = onnx.load(str(model_path), load_external_data=True)
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name.endswith(TOKEN_EMBEDDING):
            table = numpy_helper.to_array(tensor).copy()
            unused = np.setdiff1d(np.arange(table.shape[0]), np.fromiter(keep, dtype=np.int64))
            table[unused] = 0.0
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(table, tensor.name))
            break
    else:
        raise ValueError(f"{model_path} has no initializer named *{TOKEN_EMBEDDING}")
    (text_encoder / "model.onnx_data").unlink()
    onnx.save_model(model, str(model_path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx_data", size_threshold=1024)
    return len(unused)


def main() -> int:
    """Export the trained folder and install it into the package."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trained", type=Path, required=True, help="diffusers folder from the training's base step")
    args = parser.parse_args()
    summary_path = args.trained / "training_summary.json"
    with tempfile.TemporaryDirectory() as scratch:
        exported = Path(scratch) / "onnx"
        export_pipeline(args.trained, exported)
        shutil.rmtree(exported / "tokenizer")
        zeroed = zero_untrained_rows(exported / "text_encoder", trained_token_ids())
        index_path = exported / "model_index.json"
        index = json.loads(index_path.read_text())
        index[SHIPPED_TOKENIZER_KEY] = SHIPPED_TOKENIZER
        index["_ortdiffusion_note"] = (
            "trained on synthetic shapes by scripts/train_default_model.sh; installed by scripts/build_default_model.py"
        )
        index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        if summary_path.is_file():
            shutil.copyfile(summary_path, exported / "training_summary.json")
        if TARGET.exists():
            shutil.rmtree(TARGET)
        shutil.copytree(exported, TARGET)
    size = sum(p.stat().st_size for p in TARGET.rglob("*") if p.is_file())
    print(f"wrote {TARGET} ({size / 1e6:.2f} MB; {zeroed} untrained token rows zeroed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
