"""Two tiny trained models to serve (cross-attention, which explains, and late fusion, which cannot), an
in-process client of the app, and a 100-megapixel PNG."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.inference.serve.helpers import png_bytes, serve_models
from tests.inference.tiny_model import train_tiny
from vqa.inference.bundle import export_checkpoint
from vqa.inference.serve.app import create_app
from vqa.inference.serve.inputs import Limits


@pytest.fixture(scope="session")
def late_bundle(tmp_path_factory) -> Path:
    """The tiny config's late-fusion model, trained 4 steps and exported as a bundle."""
    root = tmp_path_factory.mktemp("late")
    checkpoint = train_tiny(root, "late.ckpt")[1]
    return export_checkpoint(checkpoint, root / "late")


@pytest.fixture(scope="session")
def model_specs(bundle_dir, late_bundle) -> list[str]:
    """`--model` arguments: the cross-attention bundle first (the default model), then the late-fusion one."""
    return [f"cross={bundle_dir}", f"late={late_bundle}"]


@pytest.fixture()
def client(model_specs) -> Iterator[TestClient]:
    """The app on both models, default limits, no API key; lifespan (the batchers) runs inside the block."""
    with TestClient(create_app(serve_models(model_specs), Limits())) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def huge_png() -> bytes:
    """A real 10,000 x 10,000 PNG (100 megapixels, 1 bit per pixel: about 12 kB on disk)."""
    return png_bytes(Image.new("1", (10_000, 10_000)))
