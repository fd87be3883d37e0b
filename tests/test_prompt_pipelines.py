"""Pipelines with prompt_syntax="a1111" against diffusers given the embeddings AUTOMATIC1111's algorithm
makes (chunks through diffusers' own text encoder, weights and mean restore in torch, the negative padded with
the empty prompt's chunk), on tiny models; the plain syntax stays diffusers' own; long prompts reach the UNet
in a1111 mode only."""

from __future__ import annotations

import numpy as np
import pytest
from test_pipeline_parity import TOLERANCE

import ortdiffusion as od
from ortdiffusion.prompts.weighted_embeddings import prompt_chunks
from ortdiffusion.tokenization import CLIPTokenizer

LONG = ", ".join(["a red circle on a blue background"] * 12)  # about 95 tokens: two chunks


def _a1111_embeddings(torch, text_encoder, prompts):
    """AUTOMATIC1111's forward with the "Original" emphasis, written out in torch on diffusers' text encoder."""
    tokenizer = CLIPTokenizer.default()
    per_prompt = []
    for prompt in prompts:
        zs = []
        for chunk in prompt_chunks(prompt, tokenizer):
            with torch.no_grad():
                z = text_encoder(torch.tensor([chunk.tokens]))[0]
            original_mean = z.mean()
            z = z * torch.tensor(chunk.multipliers, dtype=torch.float32).reshape(1, -1, 1)
            z = z * (original_mean / z.mean())
            zs.append(z)
        per_prompt.append(zs)
    longest = max(len(zs) for zs in per_prompt)
    with torch.no_grad():
        empty = text_encoder(torch.tensor([prompt_chunks("", tokenizer)[0].tokens]))[0]
    return [torch.cat(zs + [empty] * (longest - len(zs)), dim=1) for zs in per_prompt]


@pytest.fixture(scope="module")
def pipes(zoo, tmp_path_factory, torch):
    """The tiny base model with a bias in the text encoder's final layer norm: untrained, its hidden states
    have a mean of about 1e-9, where the mean restore (original_mean / new_mean) is noise; real CLIP's is not."""
    import diffusers

    from ortdiffusion.exporter import export_pipeline

    folder = tmp_path_factory.mktemp("prompt-model")
    ref = diffusers.StableDiffusionPipeline.from_pretrained(zoo.diffusers("base"), safety_checker=None,
                                                            requires_safety_checker=False)
    with torch.no_grad():
        ref.text_encoder.get_submodule("final_layer_norm").bias.add_(0.3)
    ref.save_pretrained(folder / "diffusers", safe_serialization=True)
    export_pipeline(folder / "diffusers", folder / "onnx")
    ref.set_progress_bar_config(disable=True)
    ours = od.StableDiffusionPipeline.from_pretrained(folder / "onnx")
    ours.set_progress_bar_config(disable=True)
    return ref, ours


@pytest.mark.parametrize(("prompt", "negative"), [
    ("a (red:1.4) circle on a [blue] background", None),
    (LONG + ", (green:1.3) square", "blurry"),
    ("a red circle BREAK a blue background", "(dark:1.2), " + LONG),
])
def test_a1111_prompts_match_diffusers_given_a1111_embeddings(torch, pipes, prompt, negative):
    ref, ours = pipes
    positive, negative_embeds = _a1111_embeddings(torch, ref.text_encoder, [prompt, negative or ""])
    args = {"num_inference_steps": 6, "height": 32, "width": 32, "output_type": "np"}
    with torch.no_grad():
        expected = ref(prompt_embeds=positive, negative_prompt_embeds=negative_embeds,
                       generator=torch.Generator().manual_seed(3), **args).images
    got = ours(prompt, negative_prompt=negative, generator=3, prompt_syntax="a1111", **args).images
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_a_short_plain_prompt_is_the_same_in_both_syntaxes_and_weights_change_it(pipes):
    _, ours = pipes
    args = {"num_inference_steps": 4, "height": 32, "width": 32, "output_type": "latent", "generator": 0}
    plain = ours("a red circle, blue background", **args).images
    np.testing.assert_array_equal(ours("a red circle, blue background", prompt_syntax="a1111", **args).images, plain)
    np.testing.assert_array_equal(ours("a (red:1) circle, blue background", prompt_syntax="a1111", **args).images, plain)
    weighted = ours("a (red:1.5) circle, blue background", prompt_syntax="a1111", **args).images
    assert np.abs(weighted - plain).max() > 1e-3


def test_words_after_token_77_count_in_a1111_mode_only(pipes, caplog):
    _, ours = pipes
    args = {"num_inference_steps": 4, "height": 32, "width": 32, "output_type": "latent", "generator": 0}
    one, two = LONG + ", a green square", LONG + ", a yellow star"
    np.testing.assert_array_equal(ours(one, **args).images, ours(two, **args).images)  # truncated alike
    assert "truncated because CLIP can only handle sequences up to 77 tokens" in caplog.text
    assert np.abs(ours(one, prompt_syntax="a1111", **args).images - ours(two, prompt_syntax="a1111", **args).images).max() > 1e-3


def test_bad_syntax_and_weight_are_named(pipes):
    _, ours = pipes
    with pytest.raises(ValueError, match="prompt_syntax must be one of 'plain', 'a1111', got 'sd'"):
        ours("a red circle", prompt_syntax="sd", num_inference_steps=2)
    with pytest.raises(ValueError, match="prompt weight '1..2' in ':1..2\\)' is not a number"):
        ours("a (red:1..2) circle", prompt_syntax="a1111", num_inference_steps=2)


def test_a_unet_exported_for_77_tokens_refuses_a_long_prompt_by_name(zoo, tmp_path):
    """An older export whose UNet fixes encoder_hidden_states at 77 tokens: a two-chunk prompt is refused with
    what to do; a one-chunk prompt still runs."""
    import shutil

    import onnx

    folder = tmp_path / "fixed-77"
    shutil.copytree(zoo.exported("base"), folder)
    model_path = folder / "unet" / "model.onnx"
    model = onnx.load(str(model_path), load_external_data=False)
    (text,) = [i for i in model.graph.input if i.name == "encoder_hidden_states"]
    text.type.tensor_type.shape.dim[1].dim_value = 77
    onnx.save(model, str(model_path))
    pipe = od.StableDiffusionPipeline.from_pretrained(folder, graph_cache=False)
    pipe.set_progress_bar_config(disable=True)
    args = {"num_inference_steps": 2, "height": 32, "width": 32, "output_type": "latent"}
    pipe("a (red:1.3) circle", prompt_syntax="a1111", **args)
    with pytest.raises(ValueError, match="this prompt needs 154 text tokens \\(2 chunks of 77\\) but .* takes exactly 77: "
                                         "export the model again"):
        pipe(LONG, prompt_syntax="a1111", **args)


def test_cli_reads_a1111_syntax_by_default_and_records_it(tmp_path):
    import subprocess
    import sys

    from ortdiffusion.png import read_parameters

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ortdiffusion", "generate", *args], capture_output=True,
                              text=True, cwd=tmp_path, timeout=300, check=False)

    done = cli("a (red:1.3) circle, " + LONG, "--steps", "2", "--seed", "1", "--out", "a.png")
    assert done.returncode == 0, done.stderr
    assert read_parameters(tmp_path / "a.png")["prompt_syntax"] == "a1111"
    done = cli("a red circle", "--steps", "2", "--seed", "1", "--prompt-syntax", "plain", "--out", "p.png")
    assert done.returncode == 0, done.stderr
    from PIL import Image

    with Image.open(tmp_path / "p.png") as image:
        assert "Prompt syntax: plain" in image.text["parameters"]
    done = cli("a red circle", "--prompt-syntax", "sd")
    assert done.returncode == 2 and "invalid choice: 'sd'" in done.stderr
