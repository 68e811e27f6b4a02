"""The screenshot of `vqa serve`'s page in the README (docs/images/serve_page.png), taken by headless Chromium.

Starts `vqa serve` on the given models, opens its page, uploads the image, asks the question, waits until every
model has answered (and drawn its attention map, where it can), then saves a screenshot of the page:

    .venv/bin/python scripts/serve_screenshot.py --out docs/images/serve_page.png \\
        --image .venv/lib/python3.11/site-packages/easy_vqa/data/test/images/1.png \\
        --question "what is the color of the rectangle?" \\
        --model cross_attention=results/quick_3seeds/cells/easy_vqa__cross_attention__seed0/bundle \\
        --model mfb=results/quick_3seeds/cells/easy_vqa__mfb__seed0/bundle \\
        --model late_product=results/quick_3seeds/cells/easy_vqa__late_product__seed0/bundle

Needs Chromium on PATH (`make install` installs Debian's) and Playwright (a dev dependency).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

from vqa.inference.serve.process import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, help="[NAME=]PATH, as for `vqa serve`; repeat")
    parser.add_argument("--image", type=Path, required=True, help="the image to upload")
    parser.add_argument("--question", required=True, help="the question to ask")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1360, help="browser window width in pixels (default 1360)")
    options = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        parser.error("no chromium on PATH; `make install` installs Debian's")
    with ServerProcess(options.model, ["--log-level", "warning"]) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": options.width, "height": 700}, device_scale_factor=1)
        page.goto(server.url)
        page.wait_for_selector(".model-card")
        page.set_input_files("#image-input", str(options.image))
        page.fill("#question", options.question)
        page.click("#ask")
        count = len(options.model)
        page.wait_for_function(f"document.querySelectorAll('.model-card[data-state=done]').length === {count}")
        page.wait_for_function("[...document.images].every(image => image.complete)")
        options.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(options.out), full_page=True)
        browser.close()
    print(f"wrote {options.out}")


if __name__ == "__main__":
    main()
