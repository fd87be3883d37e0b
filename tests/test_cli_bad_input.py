"""Bad input a user can reach through ``ortdiffusion generate`` gets exit status 2, a message naming the
argument or file, and leaves no output file behind."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
from PIL import Image

from ortdiffusion.cli import main
from ortdiffusion.models import default_model_path


@pytest.fixture()
def inputs(tmp_path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    Image.new("RGB", (64, 64), "blue").save(folder / "in.png")
    Image.new("L", (32, 32), 255).save(folder / "small_mask.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (folder / "empty.png").write_bytes(b"")
    header = json.dumps({"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight":
                         {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]}}).encode()
    (folder / "sdxl.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(32))
    (folder / "broken.safetensors").write_bytes(struct.pack("<Q", 10**12))
    return folder


CASES = {
    "corrupt image": (["--image", "{in}/corrupt.png"], "image: cannot read '.*corrupt.png' as an image"),
    "empty image": (["--image", "{in}/empty.png"], "image: cannot read '.*empty.png' as an image"),
    "corrupt mask": (["--image", "{in}/in.png", "--mask", "{in}/corrupt.png"], "mask_image: cannot read"),
    "mask of another size": (["--image", "{in}/in.png", "--mask", "{in}/small_mask.png"], "`mask_image` is 32x32 but `image` is 64x64"),
    "missing image": (["--image", "{in}/absent.png"], "absent.png"),
    # --model given: without it a control image picks the embedded ControlNet variant
    "control image on a plain export": (["--model", str(default_model_path()), "--control-image", "{in}/in.png"],
                                        "lacks the inputs \\['controlnet_cond'"),
    "SDXL LoRA": (["--lora", "{in}/sdxl.safetensors"], "this LoRA targets a different architecture \\(SDXL"),
    "broken safetensors": (["--lora", "{in}/broken.safetensors"], "broken.safetensors: safetensors header of 1000000000000 bytes"),
    "missing model": (["--model", "{in}/no-model"], "no-model"),
    "strength outside [0, 1]": (["--image", "{in}/in.png", "--strength", "1.5"], "strength"),
}


@pytest.mark.parametrize(("args", "match"), CASES.values(), ids=CASES.keys())
def test_bad_input_exits_2_with_a_message_and_no_output(inputs, tmp_path, capsys, args, match):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    argv = ["generate", "a cat", "--steps", "2", "--quiet", "--out", str(out_dir / "x.png")]
    argv += [a.format(**{"in": inputs}) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "ortdiffusion: error:" in err
    assert re.search(match, err), err
    assert list(out_dir.iterdir()) == []


def test_controlnet_export_without_a_control_image(zoo, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["generate", "a cat", "--model", str(zoo.exported("cn1")), "--steps", "2", "--quiet", "--out", str(out)]) == 2
    assert "was exported with 1 ControlNet(s): pass --control-image IMG" in capsys.readouterr().err
    assert not out.exists()


def test_a_1000_token_prompt_runs_in_chunks_or_is_truncated_with_a_warning(tmp_path, caplog):
    out = tmp_path / "long.png"
    # AUTOMATIC1111's syntax (the CLI's default): 14 chunks of 75 tokens, nothing cut
    assert main(["generate", " ".join(["red"] * 1000), "--steps", "1", "--quiet", "--out", str(out)]) == 0
    assert "truncated" not in caplog.text and out.is_file()
    assert main(["generate", " ".join(["red"] * 1000), "--steps", "1", "--quiet", "--out", str(tmp_path / "plain.png"),
                 "--prompt-syntax", "plain"]) == 0
    assert "truncated because CLIP can only handle sequences up to 77 tokens" in caplog.text
