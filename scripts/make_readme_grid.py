"""Make README's picture grid (docs/default_model_grid.png) with the CLI on the embedded default model:
prompts x seeds, each without LoRA, with the outline LoRA and with the complement LoRA; then a Canny
ControlNet example (input picture, its edges, the result) and an inpainting example (picture, mask,
result). Every picture comes from one ``ortdiffusion generate`` run, so the grid shows what the CLI does.

    python scripts/make_readme_grid.py [--out docs/default_model_grid.png]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ortdiffusion.image import canny
from ortdiffusion.training import shapes
from ortdiffusion.training.inpaint_masks import shape_box

REPO = Path(__file__).resolve().parent.parent
PROMPTS = ["a red circle on a blue background", "a yellow star on a purple background",
           "a white square on a green background", "an orange triangle on a black background"]
SEEDS = (0, 1, 2)
LORAS = (None, "outline", "complement")
SCALE = 2  # each 64x64 picture is drawn 128x128 (nearest neighbour)
LABEL_HEIGHT = 18


def generate(out: Path, prompt: str, seed: int, *extra: str) -> np.ndarray:
    """Run ``ortdiffusion generate`` once and read the picture back (RGB uint8)."""
    command = [sys.executable, "-m", "ortdiffusion", "generate", prompt, "--seed", str(seed), "--quiet",
               "--out", str(out), *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return np.asarray(Image.open(out).convert("RGB"))


def labelled(picture: np.ndarray, text: str) -> np.ndarray:
    """``picture`` scaled up by SCALE with ``text`` on a white strip above it."""
    big = cv2.resize(picture, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
    strip = np.full((LABEL_HEIGHT, big.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (2, LABEL_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, big])


def row(cells: list[np.ndarray], width: int) -> np.ndarray:
    """Cells side by side, padded with white to ``width`` pixels."""
    line = np.concatenate(cells, axis=1)
    pad = np.full((line.shape[0], width - line.shape[1], 3), 255, np.uint8)
    return np.concatenate([line, pad], axis=1)


def main() -> int:
    """Generate every picture with the CLI and write the grid."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "default_model_grid.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        lines = []
        for prompt in PROMPTS:
            cells = []
            for lora in LORAS:
                for seed in SEEDS:
                    extra = ["--lora", lora] if lora else []
                    picture = generate(scratch / "out.png", prompt, seed, *extra)
                    cells.append(labelled(picture, f"{lora or 'base'} s{seed}"))
            lines.append((prompt, cells))
        width = sum(c.shape[1] for c in lines[0][1])

        source = shapes.ShapeAttributes("star", "yellow", ("blue",), None, (0.35, 0.35), 0.25, 0.0)
        picture = shapes.render(source).image
        Image.fromarray(picture).save(scratch / "source.png")
        edges = np.asarray(canny(picture))
        result = generate(scratch / "cn.png", "a yellow star on a blue background", 0, "--canny", str(scratch / "source.png"))
        control_cells = [labelled(picture, "input"), labelled(edges, "canny"), labelled(result, "controlnet")]
        moved = generate(scratch / "cn2.png", "a red circle on a white background", 0, "--canny", str(scratch / "source.png"))
        control_cells.append(labelled(moved, "other prompt"))

        mask = shape_box(source, 64)
        Image.fromarray(mask.astype(np.uint8) * 255).save(scratch / "mask.png")
        inpainted = generate(scratch / "inp.png", "a red circle on a blue background", 0, "--image",
                             str(scratch / "source.png"), "--mask", str(scratch / "mask.png"))
        inpaint_cells = [labelled(picture, "input"), labelled(np.stack([mask * 255] * 3, -1).astype(np.uint8), "mask"),
                         labelled(inpainted, "inpainted")]

    blocks = []
    for prompt, cells in lines:
        blocks.append(row([labelled(np.full((9, width // SCALE, 3), 255, np.uint8), prompt)[:LABEL_HEIGHT]], width))
        blocks.append(row(cells, width))
    blocks.append(row([labelled(np.full((9, width // SCALE, 3), 255, np.uint8),
                                "ControlNet (--canny): a yellow star ... / a red circle on a white background")[:LABEL_HEIGHT]], width))
    blocks.append(row(control_cells + inpaint_cells, width))
    grid = np.concatenate(blocks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(args.out, optimize=True)
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
