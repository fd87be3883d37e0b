"""``ortdiffusion serve`` under bad input, credentials and load, on a live server on 127.0.0.1 (bounded request
counts): every refusal is a 4xx JSON naming the field, no stack trace; a full queue answers 429 with
Retry-After and loses or doubles nothing; memory stays flat over sequential requests."""

from __future__ import annotations

import base64
import io
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from server_fixture import live_server

from ortdiffusion.server import Limits, ServerSettings

requests = pytest.importorskip("requests")
SMALL = {"prompt": "a red circle on a blue background", "width": 64, "height": 64, "steps": 4}


def _b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    loras = tmp_path_factory.mktemp("loras")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.safetensors").write_bytes(b"not for the server")
    os.symlink(outside / "secret.safetensors", loras / "escape.safetensors")  # a symlink leading out of the folder
    with live_server(ServerSettings(lora_dir=loras, queue_size=16)) as live:
        yield live


@pytest.mark.parametrize(("body", "status", "field"), [
    (b"{not json", 422, "body"),
    (json.dumps({**SMALL, "steps": -1}), 422, "steps"),
    (json.dumps({**SMALL, "width": 100000}), 422, "width"),
    (json.dumps({**SMALL, "sampler_name": "Warp 9"}), 404, "sampler_name"),
    (json.dumps({**SMALL, "override_settings": {"sd_model_checkpoint": "nope"}}), 404, "override_settings.sd_model_checkpoint"),
    (json.dumps({**SMALL, "override_settings": {"sd_model_checkpoint": "../default"}}), 404, "override_settings.sd_model_checkpoint"),
    (json.dumps({**SMALL, "prompt": "a cat <lora:missing:1>"}), 404, "prompt"),
    (json.dumps({**SMALL, "prompt": "a cat <lora:../../etc/passwd:1>"}), 404, "prompt"),
    (json.dumps({**SMALL, "prompt": "a cat <lora:escape:1>"}), 404, "prompt"),
    (json.dumps({**SMALL, "prompt": "a cat <lora:outline:x>"}), 422, "prompt"),
    (json.dumps({**SMALL, "enable_hr": True}), 422, "enable_hr"),
    (json.dumps({**SMALL, "steps": "many"}), 422, "steps"),
], ids=["malformed-json", "negative-steps", "huge-size", "unknown-sampler", "unknown-model", "model-traversal",
        "unknown-lora", "lora-traversal", "lora-symlink-out", "lora-weight", "hires-fix", "steps-not-a-number"])
def test_bad_txt2img_requests_name_the_field(server, body, status, field):
    response = requests.post(f"{server.url}/sdapi/v1/txt2img", data=body, headers={"Content-Type": "application/json"},
                             timeout=60)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["field"] == field and "Traceback" not in response.text


def test_bad_pictures_name_the_field(server):
    url = f"{server.url}/sdapi/v1/img2img"
    response = requests.post(url, json={**SMALL, "init_images": ["%%% not base64"]}, timeout=60)
    assert response.status_code == 422 and response.json()["field"] == "init_images[0]"
    huge = Image.new("RGB", (4097, 4097))
    response = requests.post(url, json={**SMALL, "init_images": [_b64(huge)]}, timeout=60)
    assert response.status_code == 413 and "more than the server's limit" in response.json()["detail"]
    response = requests.post(url, json={**SMALL, "init_images": [_b64(Image.new("RGB", (64, 64)))],
                                        "mask": _b64(Image.new("L", (64, 64)))}, timeout=60)
    assert response.status_code == 422 and response.json()["field"] == "mask"  # black everywhere
    response = requests.post(f"{server.url}/sdapi/v1/png-info", json={"image": base64.b64encode(b"GIF89a").decode()},
                             timeout=60)
    assert response.status_code == 422 and response.json()["field"] == "image"


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    with live_server(ServerSettings(limits=Limits(max_body_bytes=1000))) as live:
        response = requests.post(f"{live.url}/sdapi/v1/txt2img", data=b"x" * 5000, timeout=60)
        assert response.status_code == 413 and response.json()["field"] == "body"


def test_credentials_cover_every_route(tmp_path):
    settings = ServerSettings(api_auth=(("alice", "s3cret"),), api_key="k3y")
    with live_server(settings) as live:
        for path in ("/sdapi/v1/options", "/sdapi/v1/loras", "/controlnet/model_list", "/v1/models"):
            response = requests.get(f"{live.url}{path}", timeout=60)
            assert response.status_code == 401, path
            assert requests.get(f"{live.url}{path}", auth=("alice", "wrong"), timeout=60).status_code == 401
            assert requests.get(f"{live.url}{path}", auth=("alice", "s3cret"), timeout=60).status_code == 200
        assert requests.get(f"{live.url}/v1/models", headers={"Authorization": "Bearer k3y"}, timeout=60).status_code == 200
        assert requests.get(f"{live.url}/sdapi/v1/options", headers={"Authorization": "Bearer k3y"},
                            timeout=60).status_code == 401  # the key opens the OpenAI routes only
        assert requests.get(f"{live.url}/v1/models", headers={"Authorization": "Bearer nope"}, timeout=60).json()[
            "error"]["param"] == "Authorization"


def test_fifty_concurrent_requests_against_a_queue_of_sixteen(server):
    """Every accepted request gets its own picture (its seed in its info), the others 429 with Retry-After."""
    answers: dict[int, requests.Response] = {}

    def post(seed: int) -> None:
        answers[seed] = requests.post(f"{server.url}/sdapi/v1/txt2img", json={**SMALL, "steps": 30, "seed": seed}, timeout=300)

    threads = [threading.Thread(target=post, args=(seed,)) for seed in range(100, 150)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    statuses = [answers[s].status_code for s in range(100, 150)]
    accepted = [s for s in range(100, 150) if answers[s].status_code == 200]
    assert set(statuses) == {200, 429} and len(statuses) == 50
    assert len(accepted) >= 17  # the queue's 16 and the running one
    for seed in accepted:
        body = answers[seed].json()
        assert len(body["images"]) == 1 and json.loads(body["info"])["all_seeds"] == [seed]
    refused = next(answers[s] for s in range(100, 150) if answers[s].status_code == 429)
    assert refused.headers["Retry-After"] and refused.json()["field"] == "queue"


def _rss_bytes() -> int:
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_stays_flat_over_two_hundred_requests(server):
    url = f"{server.url}/sdapi/v1/txt2img"
    with requests.Session() as session:
        for seed in range(20):  # warm up: sessions, caches, allocator pools
            assert session.post(url, json={**SMALL, "seed": seed}, timeout=60).status_code == 200
        before = _rss_bytes()
        pictures = set()
        for seed in range(200):
            body = session.post(url, json={**SMALL, "seed": seed}, timeout=60).json()
            pictures.add(body["images"][0][:64] + body["images"][0][-64:])
        after = _rss_bytes()
    assert after <= before * 1.05, (before, after)
    assert len(pictures) > 150  # different seeds, different pictures


def test_a_chunked_body_over_the_limit_is_413_too():
    with live_server(ServerSettings(limits=Limits(max_body_bytes=1000))) as live:
        chunks = (b"x" * 500 for _ in range(10))  # a generator: sent chunked, without Content-Length
        response = requests.post(f"{live.url}/sdapi/v1/txt2img", data=chunks, timeout=60)
        assert response.status_code == 413 and response.json()["field"] == "body"


def test_non_ascii_credentials_are_a_401_not_a_crash():
    with live_server(ServerSettings(api_auth=(("zoë", "pässword"),), api_key="ключ")) as live:
        assert requests.get(f"{live.url}/sdapi/v1/options", auth=("zoë".encode(), "pässword".encode()),
                            timeout=60).status_code == 200
        assert requests.get(f"{live.url}/sdapi/v1/options", auth=("é".encode(), b"x"), timeout=60).status_code == 401
        wrong = {"Authorization": "Bearer " + "ключ2".encode().decode("latin-1")}
        assert requests.get(f"{live.url}/v1/models", headers=wrong, timeout=60).status_code == 401


def test_served_embeddings_are_loaded_by_their_stem(tmp_path):
    from safetensors.numpy import save_file

    (tmp_path / "sub").mkdir()
    save_file({"emb_params": np.random.default_rng(0).standard_normal((2, 32), dtype=np.float32)},
              str(tmp_path / "sub" / "shapeword.safetensors"))
    save_file({"emb_params": np.zeros((1, 768), np.float32)}, str(tmp_path / "wide768.safetensors"))
    with live_server(ServerSettings(embeddings_dir=tmp_path)) as live:
        plain = requests.post(f"{live.url}/sdapi/v1/txt2img", json={**SMALL, "seed": 1}, timeout=60).json()
        called = requests.post(f"{live.url}/sdapi/v1/txt2img", json={**SMALL, "seed": 1,
                               "prompt": SMALL["prompt"] + ", ShapeWord"}, timeout=60).json()
        listed = requests.get(f"{live.url}/sdapi/v1/embeddings", timeout=60).json()
    assert "shapeword" in listed["loaded"] and "768 wide" in listed["skipped"]["wide768"]["reason"]
    assert plain["images"][0] != called["images"][0]
