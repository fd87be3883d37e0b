"""Export and generation never touch the network (issue 19): both run in a subprocess whose proxies point at a
local listener that refuses everything and records each attempt, with the hub libraries' offline switches set;
both must succeed and the listener must see no connection."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

from server_fixture import free_port


class RefusingProxy:
    """A socket on 127.0.0.1 that accepts connections, records them and closes them at once."""

    def __init__(self) -> None:
        self.port = free_port()
        self.attempts = 0
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", self.port))
        self._socket.listen(8)
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            self.attempts += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


def test_export_and_generate_with_the_network_unreachable(zoo, tmp_path):
    proxy = RefusingProxy()
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url, "ALL_PROXY": url,
               "NO_PROXY": "", "no_proxy": "", "HF_HOME": str(tmp_path / "hf-home")}
        export = [sys.executable, "-m", "ortdiffusion", "export", "--model", str(zoo.diffusers("base")),
                  "--output", str(tmp_path / "out")]
        done = subprocess.run(export, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        generate = [sys.executable, "-m", "ortdiffusion", "generate", "a red circle", "--model", str(tmp_path / "out"),
                    "--steps", "2", "--height", "32", "--width", "32", "--seed", "0", "--quiet",
                    "--out", str(tmp_path / "picture.png")]
        done = subprocess.run(generate, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert (tmp_path / "picture.png").is_file()
    finally:
        proxy.close()
    assert proxy.attempts == 0
