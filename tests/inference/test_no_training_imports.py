"""Inference does not need training code: `vqa.load` and `vqa ask` import neither Lightning nor torchmetrics.

Each check runs in a fresh interpreter, since this one has imported both for training the fixture model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

TRAINING_PACKAGES = ("lightning", "lightning_fabric", "pytorch_lightning", "torchmetrics")

# Prints, as JSON, the top-level packages of TRAINING_PACKAGES that the code before it imported.
REPORT = (
    "import json, sys; "
    f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(TRAINING_PACKAGES)!r})))"
)


def imported_training_packages(code: str) -> list[str]:
    """Run `code` then REPORT in a fresh interpreter; the training packages it imported."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\n{REPORT}"], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["bundle", "checkpoint"])
def test_load_and_answer_import_no_training_code(kind, trained, bundle_dir):
    path = bundle_dir if kind == "bundle" else trained.checkpoint
    code = (
        "import vqa\n"
        f"predictor = vqa.load({str(path)!r}, device='cpu')\n"
        f"assert predictor.answer({str(trained.image_files[0])!r}, {trained.questions[0]!r})\n"
    )
    assert imported_training_packages(code) == []


def test_vqa_ask_imports_no_training_code(trained, bundle_dir):
    args = ["ask", "--model", str(bundle_dir), "--image", str(trained.image_files[0])]
    args += ["--question", trained.questions[0], "--json"]
    code = f"from vqa.cli import main\nmain({args!r})\n"
    assert imported_training_packages(code) == []


def test_the_check_sees_training_imports():
    """The probe itself can fail: importing the training module is reported."""
    assert {"lightning", "torchmetrics"} <= set(imported_training_packages("import vqa.training.module"))
