"""`vqa serve` as users run it: a real uvicorn process on loopback, its page in headless Chromium (Debian's
`chromium`, driven by Playwright; `make install` installs it), and the bad requests over real HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import warnings
from collections.abc import Iterator

import httpx
import pytest

from tests.inference.serve.helpers import BAD_CASES, bad_requests
from vqa.inference.serve.process import ServerProcess


@pytest.fixture(scope="module")
def server(model_specs) -> Iterator[ServerProcess]:
    with ServerProcess(model_specs, ["--threads", "1"], env={"OMP_NUM_THREADS": "1"}) as process:
        yield process
        log = process.log_text()
        assert process.stop() == 0, log  # Ctrl-C shuts it down cleanly
    assert "Traceback" not in log, log


def chromium() -> str:
    """The system's Chromium; a loud skip only where it cannot be installed (not root, or no apt-get)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        pytest.fail("Chromium is missing but can be installed here: run `make install` (apt-get install chromium)")
    reason = "SKIPPED the page test: no Chromium, and it cannot be installed here (needs root and apt-get)"
    warnings.warn(reason, stacklevel=2)
    pytest.skip(reason)


def answers_of(server: ServerProcess, image: bytes, question: str, model: str, top_k: int) -> list[dict]:
    response = httpx.post(
        f"{server.url}/v1/answer",
        trust_env=False,
        data={"question": question, "model": model, "top_k": str(top_k)},
        files={"image": ("shape.png", image, "image/png")},
    )
    assert response.status_code == 200, response.text
    return response.json()["answers"]


def test_bad_requests_over_http_are_4xx_and_the_server_stays_healthy(server, trained, huge_png):
    image = trained.image_files[0].read_bytes()
    cases = bad_requests(image, trained.questions[0], huge_png)
    with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
        for name in BAD_CASES:
            response = client.post("/v1/answer", **cases[name]["request"])
            assert response.status_code == cases[name]["status"], (name, response.text)
            assert cases[name]["says"] in response.json()["error"], (name, response.text)
        assert client.get("/healthz").json()["status"] == "ok"
    assert answers_of(server, image, trained.questions[0], "cross", 2)


def test_the_server_listens_on_loopback_only(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.2", server.port), timeout=5):
        pass


def test_the_page_in_headless_chromium_shows_every_models_answers_and_the_attention_map(server, trained, tmp_path):
    from playwright.sync_api import sync_playwright

    executable = chromium()
    image, question = trained.image_files[2], trained.questions[1]
    expected = {name: answers_of(server, image.read_bytes(), question, name, 5) for name in ("cross", "late")}
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(server.url)
            page.wait_for_selector('.model-card[data-model="late"]')
            assert page.locator("#ask").is_disabled()
            page.set_input_files("#image-input", str(image))
            page.fill("#question", question)
            page.click("#ask")
            page.wait_for_function("document.querySelectorAll('.model-card[data-state=done]').length === 2")
            for name, answers in expected.items():
                card = page.locator(f'.model-card[data-model="{name}"]')
                assert card.locator(".answer-text").all_inner_texts() == [a["answer"] for a in answers]
                shown = card.locator(".answer-prob").all_inner_texts()
                assert shown == [f"{100 * a['probability']:.1f}%" for a in answers]
            attention = page.locator('.model-card[data-model="cross"] img.attention')
            assert attention.evaluate("img => img.complete && img.naturalWidth") > 100
            assert page.locator('.model-card[data-model="late"] img.attention').count() == 0
            assert "no attention map" in page.locator('.model-card[data-model="late"] .result-note').inner_text()
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"
    assert requested and all(url.startswith((server.url, "blob:", "data:")) for url in requested), requested
