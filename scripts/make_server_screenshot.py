"""The screenshot of the server's web page in README: a live server on 127.0.0.1 (embedded model), Debian's
Chromium through Playwright, three pictures generated from the page, the page saved as docs/server_page.png.

    python scripts/make_server_screenshot.py [--out docs/server_page.png]"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> int:
    """Generate from the page and save the screenshot."""
    from playwright.sync_api import sync_playwright
    from server_fixture import live_server

    from ortdiffusion.server import ServerSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/server_page.png"))
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    with live_server(ServerSettings()) as live, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(live.url + "/")
        page.wait_for_function("document.querySelectorAll('#sampler_name option').length > 5")
        for prompt, seed in (("a red circle on a blue background", 3), ("a yellow star on a purple background", 1),
                             ("a white ring on a green and black background", 2)):
            count = page.locator("#gallery figure").count()
            page.fill("#prompt", prompt)
            page.fill("#seed", str(seed))
            page.click("#generate")
            page.wait_for_function(f"document.querySelectorAll('#gallery figure').length > {count}", timeout=60_000)
        page.screenshot(path=str(args.out))
        browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
