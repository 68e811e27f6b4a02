"""Helpers of the serve tests: the bad requests of the issue (for the in-process API and the real server), a PNG
encoder, and loading models to serve."""

from __future__ import annotations

import io

from PIL import Image

from vqa.inference.serve.models import ServedModel, load_models

# The names of `bad_requests`' cases, for parametrizing tests at collection time.
BAD_CASES = (
    "non-image file",
    "truncated PNG",
    "10,000 x 10,000 PNG",
    "50 MB upload",
    "empty question",
    "10,000-character question",
    "missing image",
    "missing question",
    "unknown model name",
    "top_k not a number",
    "top_k zero",
)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bad_requests(image: bytes, question: str, huge_png: bytes) -> dict[str, dict]:
    """Every bad request of the issue as keyword arguments of `httpx.Client.post("/v1/answer", ...)`, with the
    status and a piece of the error message each must get."""

    def form(**fields) -> dict:
        return {"data": {"question": question, **fields}, "files": {"image": ("shape.png", image, "image/png")}}

    return {
        "non-image file": {
            "request": {
                "data": {"question": question},
                "files": {"image": ("notes.txt", b"just text\n", "text/plain")},
            },
            "status": 422,
            "says": "'notes.txt' is not an image",
        },
        "truncated PNG": {
            "request": {"data": {"question": question}, "files": {"image": ("cut.png", image[: len(image) // 2])}},
            "status": 422,
            "says": "'cut.png' cannot be decoded",
        },
        "10,000 x 10,000 PNG": {
            "request": {"data": {"question": question}, "files": {"image": ("huge.png", huge_png, "image/png")}},
            "status": 413,
            "says": "10,000 x 10,000 = 100,000,000 pixels",
        },
        "50 MB upload": {
            "request": {"data": {"question": question}, "files": {"image": ("big.png", image + bytes(50_000_000))}},
            "status": 413,
            "says": "larger than the upload limit of 20,000,000 bytes",
        },
        "empty question": {"request": form(question="   "), "status": 422, "says": "the question is empty"},
        "10,000-character question": {
            "request": form(question="a" * 10_000),
            "status": 422,
            "says": "10,000 characters long, more than the limit of 500",
        },
        "missing image": {
            "request": {"data": {"question": question}},
            "status": 422,
            "says": "missing form field 'image'",
        },
        "missing question": {
            "request": {"files": {"image": ("shape.png", image, "image/png")}},
            "status": 422,
            "says": "missing form field 'question'",
        },
        "unknown model name": {"request": form(model="nope"), "status": 404, "says": "unknown model 'nope'"},
        "top_k not a number": {"request": form(top_k="many"), "status": 422, "says": "form field 'top_k'"},
        "top_k zero": {"request": form(top_k="0"), "status": 422, "says": "top_k must be between 1 and"},
    }


def serve_models(specs: list[str], max_batch: int = 8, window_s: float = 0.02) -> list[ServedModel]:
    """Load `specs` on the CPU, with a batching window long enough for concurrent test requests to meet."""
    return load_models(specs, device="cpu", max_batch=max_batch, window_s=window_s, max_queue=256)
