"""How textual-inversion vectors reach the text encoder (issue 16), measured on the full-size SD 1.5 text
encoder (random weights, the export benchmarks/full_size_export.py leaves in the cache), in one run:

- grown table, merge mode (what ortdiffusion does): the token table with the new rows replaces the file's
  when the session is recreated; time to load an embedding, then prompt encoding;
- grown table, live mode (``enable_live_lora``): the table is a graph input fed from our buffer;
- the alternative: the graph takes the token embeddings as an input (the Gather's output), looked up in
  numpy from the memory-mapped table on every call.

    python benchmarks/textual_inversion.py [--cache ~/.cache/ortdiffusion-bench] [--json OUT]

Not part of CI."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from unet_inputs import best_run_seconds

PROMPT = "a photo of <thing> on a wooden table, soft light"


def _seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _embeddings_input_session(text_encoder_path: Path):
    """The alternative: a session whose graph reads the token embeddings [1, 77, 768] as input ``token_embeds``
    instead of gathering them (the Gather node removed), and the table to look them up in."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from ortdiffusion import initializers
    from ortdiffusion.token_table import find_token_table

    proto = onnx.load(str(text_encoder_path), load_external_data=False)
    table = find_token_table(proto.graph, text_encoder_path)
    gather = next(n for n in proto.graph.node if n.op_type == "Gather" and n.input[0] == table.table)
    proto.graph.node.remove(gather)
    proto.graph.input.append(helper.make_tensor_value_info(gather.output[0], TensorProto.FLOAT, [1, 77, table.width]))
    options = ort.SessionOptions()
    options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(text_encoder_path.parent))
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session, gather.output[0], initializers.load(text_encoder_path)[table.table]


def main() -> int:
    """Time each way; print and optionally save."""
    from safetensors.numpy import save_file

    import ortdiffusion as od

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ortdiffusion-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = args.cache / "sd15-random-onnx-fused"
    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: run benchmarks/full_size_export.py first")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "thing.safetensors"
        save_file({"<thing>": np.random.default_rng(0).standard_normal((2, 768), dtype=np.float32) * 0.02}, str(path))
        for mode in ("merge", "live"):
            pipe = od.StableDiffusionPipeline.from_pretrained(folder, graph_cache=False)
            results[f"{mode}_plain_encode_s"] = best_run_seconds(lambda p=pipe: p.encode_prompt([PROMPT], [], 1, False), 5)
            if mode == "live":
                pipe.enable_live_lora()
            results[f"{mode}_load_s"] = _seconds(lambda p=pipe: p.load_textual_inversion(path))
            results[f"{mode}_encode_s"] = best_run_seconds(lambda p=pipe: p.encode_prompt([PROMPT], [], 1, False), 5)
        pipe = od.StableDiffusionPipeline.from_pretrained(folder, graph_cache=False)
        pipe.load_textual_inversion(path)
        ids = pipe.components.tokenizer(pipe.maybe_convert_prompt([PROMPT]))
        text_encoder = pipe.components.part_folder("text_encoder") / "model.onnx"
        holder: dict = {}
        results["embeddings_input_load_s"] = _seconds(lambda: holder.update(zip(("s", "name", "table"),
                                                                                _embeddings_input_session(text_encoder))))
        vectors = np.asarray(pipe._embeddings()["<thing>"])

        def encode_by_input() -> np.ndarray:
            known = np.minimum(ids, holder["table"].shape[0] - 1)
            embeds = np.take(holder["table"], known, axis=0)
            embeds[ids >= holder["table"].shape[0]] = vectors[0]  # both new tokens: good enough for timing
            return holder["s"].run(None, {"input_ids": ids, holder["name"]: embeds})[0]

        results["embeddings_input_encode_s"] = best_run_seconds(encode_by_input, 5)
    for key, value in results.items():
        print(f"{key}: {value * 1e3:.1f} ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
