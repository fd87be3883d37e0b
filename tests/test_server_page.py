"""The server's web page in a real browser: Playwright driving Debian's Chromium (``apt-get install chromium``,
launched through ``executable_path``: no browser download) against a live server on 127.0.0.1. It opens the
page, generates a picture on the embedded model, sees progress, cancels a long run and finds the results in
the gallery. Skipped, saying why, where Chromium or Playwright is missing."""

from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pytest
from PIL import Image
from server_fixture import live_server

from ortdiffusion.server import ServerSettings
from ortdiffusion.training.scoring import colour_fractions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with live_server(ServerSettings()) as live, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            tab = browser.new_page()
            tab.goto(live.url + "/")
            tab.wait_for_function("document.querySelectorAll('#sampler_name option').length > 5")
            yield tab
        finally:
            browser.close()


def _gallery_pictures(page) -> list[Image.Image]:
    sources = page.eval_on_selector_all("#gallery img", "images => images.map(i => i.src)")
    return [Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) for src in sources]


def test_generate_a_picture_on_the_embedded_model(page, tmp_path):
    page.fill("#prompt", "a red circle on a blue background")
    page.fill("#seed", "3")
    page.click("#generate")
    page.wait_for_selector("#gallery figure", timeout=60_000)
    assert "seeds 3" in page.text_content("#status")
    picture = _gallery_pictures(page)[0]
    colours = colour_fractions(np.asarray(picture.convert("RGB")))
    assert colours["red"] > 0.02 and colours["blue"] > 0.3, colours
    assert "Seed: 3" in page.text_content("#gallery figure pre")
    assert page.get_attribute("#gallery figure a", "download") == "ortdiffusion-3.png"
    page.screenshot(path=str(tmp_path / "page.png"))


def test_progress_and_cancel_of_a_long_run(page):
    before = page.locator("#gallery figure").count()
    page.fill("#steps", "150")
    page.fill("#n_iter", "16")
    page.click("#generate")
    page.wait_for_function("document.getElementById('status').textContent.includes('step')", timeout=60_000)
    page.wait_for_function("document.getElementById('progress').value > 0", timeout=60_000)
    page.click("#cancel")
    page.wait_for_function("!document.getElementById('generate').disabled", timeout=10_000)
    after = page.locator("#gallery figure").count()
    assert 1 <= after - before < 16  # what it had when cancelled, in the gallery
    page.fill("#steps", "20")
    page.fill("#n_iter", "1")
