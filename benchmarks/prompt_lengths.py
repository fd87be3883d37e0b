"""What long prompts cost (issue 16): AUTOMATIC1111-syntax prompt encoding at 77 / 154 / 231 tokens (one, two,
three chunks through the text encoder, weights and mean restore included) and one UNet step with 77 against 154
text tokens, on the full-size SD 1.5 architecture (random weights, the export benchmarks/full_size_export.py
leaves in the cache), in one run.

    python benchmarks/prompt_lengths.py [--cache ~/.cache/ortdiffusion-bench] [--size 256] [--json OUT]

Not part of CI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from unet_inputs import best_run_seconds, unet_feeds

CHUNK_WORDS = "a (red:1.2) circle on a blue background, "  # 8 tokens


def main() -> int:
    """Time prompt encoding per chunk count and a UNet step per text length; print and optionally save."""
    import ortdiffusion as od

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ortdiffusion-bench")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = args.cache / "sd15-random-onnx-fused"
    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: run benchmarks/full_size_export.py first")
    pipe = od.StableDiffusionPipeline.from_pretrained(folder)
    results: dict[str, float] = {}
    for chunks in (1, 2, 3):
        prompt = (CHUNK_WORDS * (9 * chunks))[: -2]  # about 72 tokens per chunk
        embeds = pipe.encode_prompt([prompt], [""], 1, True, "a1111")
        assert embeds.shape[1] == 77 * chunks, embeds.shape
        seconds = best_run_seconds(lambda p=prompt: pipe.encode_prompt([p], [""], 1, True, "a1111"), 5)
        results[f"encode_{77 * chunks}_tokens_s"] = seconds
        print(f"prompt encoding, {77 * chunks} tokens (prompt + empty negative): {seconds * 1e3:.1f} ms")
    unet = pipe.components.unet
    for tokens in (77, 154):
        feeds = unet_feeds(args.size, 768, unet.path)
        rng = np.random.default_rng(1)
        feeds["encoder_hidden_states"] = rng.standard_normal((2, tokens, 768), dtype=np.float32)
        seconds = best_run_seconds(lambda f=feeds: unet.run(**f), 2)
        results[f"unet_step_{tokens}_tokens_s"] = seconds
        print(f"UNet step at {args.size}x{args.size}, batch 2, {tokens} text tokens: {seconds:.2f} s")
    ratio = results["unet_step_154_tokens_s"] / results["unet_step_77_tokens_s"]
    print(f"154 / 77 tokens: {ratio:.3f}x the step time")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
