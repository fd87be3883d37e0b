"""``ortdiffusion serve`` driven by the ``openai`` package (``base_url`` pointed at a live server on
127.0.0.1): images.generate, images.edit (transparent mask pixels repainted), models.list, and the bearer key."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from server_fixture import live_server

from ortdiffusion.server import ServerSettings
from ortdiffusion.training.scoring import colour_fractions

openai = pytest.importorskip("openai")
KEY = "test-key-123"


@pytest.fixture(scope="module")
def server():
    with live_server(ServerSettings(api_key=KEY)) as live:
        yield live


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0) as client:
        yield client


def _picture(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_generate(client):
    result = client.images.generate(model="default", prompt="a yellow square on a purple background", n=2,
                                    size="64x64", response_format="b64_json")
    pictures = [_picture(d.b64_json) for d in result.data]
    assert [p.size for p in pictures] == [(64, 64), (64, 64)]
    colours = colour_fractions(np.asarray(pictures[0].convert("RGB")))
    assert colours["yellow"] > 0.02 and colours["purple"] > 0.3, colours
    assert "Sampler: DPM++ 2M Karras" in pictures[0].info["parameters"]
    auto = client.images.generate(model="default", prompt="a red ring on a white background")  # size: the model's own
    assert _picture(auto.data[0].b64_json).size == (64, 64)


def test_edit_repaints_the_transparent_pixels(client, tmp_path):
    source = _picture(client.images.generate(model="default", prompt="a red circle on a blue background",
                                             size="64x64").data[0].b64_json).convert("RGB")
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (16, 16, 48, 48))  # transparent: repaint
    image_path, mask_path = tmp_path / "image.png", tmp_path / "mask.png"
    source.save(image_path)
    mask.save(mask_path)
    with open(image_path, "rb") as image, open(mask_path, "rb") as mask_file:
        result = client.images.edit(model="default", image=image, mask=mask_file, prompt="a green square on a blue background")
    edited = np.asarray(_picture(result.data[0].b64_json).convert("RGB"), np.int16)
    original = np.asarray(source, np.int16)
    inside = np.zeros((64, 64), bool)
    inside[16:48, 16:48] = True
    assert np.abs(edited[inside] - original[inside]).max() > 30


def test_models_and_the_key(client, server):
    assert {m.id for m in client.models.list().data} >= {"default", "default_inpaint", "default_canny"}
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0) as wrong, \
            pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.images.generate(model="default", prompt="a red circle", size="64x64", response_format="url")
