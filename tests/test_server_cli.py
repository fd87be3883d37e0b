"""``ortdiffusion serve`` as a user starts it: a subprocess on 127.0.0.1 and a free port, serving the embedded
model with no other argument; SIGTERM during a long request ends the process cleanly (the running job stops
at its next step and answers with what it has)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest
from server_fixture import free_port

requests = pytest.importorskip("requests")


def _wait_until_up(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            if requests.get(f"{url}/sdapi/v1/options", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("serve did not answer")


def test_serve_with_no_arguments_and_sigterm_during_a_request():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "ortdiffusion", "serve", "--port", str(port), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_up(url, process)
        titles = [m["title"] for m in requests.get(f"{url}/sdapi/v1/sd-models", timeout=10).json()]
        assert titles[0].startswith("default [")
        answer = {}

        def long_request() -> None:
            answer["response"] = requests.post(f"{url}/sdapi/v1/txt2img", json={
                "prompt": "a red circle on a blue background", "width": 64, "height": 64, "steps": 150, "n_iter": 16},
                timeout=120)

        thread = threading.Thread(target=long_request)
        thread.start()
        deadline = time.monotonic() + 60
        while requests.get(f"{url}/sdapi/v1/progress", timeout=10).json()["state"]["sampling_step"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 128 + signal.SIGTERM  # the CLI's code for "ended by SIGTERM"
        thread.join(30)
        response = answer["response"]
        assert response.status_code == 200 and 1 <= len(response.json()["images"]) < 16
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            stream.close()
