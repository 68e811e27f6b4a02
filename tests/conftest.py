"""Shared fixtures: tiny datasets generated on the fly (no downloads), and a tiny-model config."""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import pytest
import torch

# One thread: test models are tiny, and several processes (DDP tests, CLI subprocesses) share the cores;
# oversubscribed OpenMP threads make tiny models 10x slower.
torch.set_num_threads(1)
warnings.filterwarnings("ignore", message=".*does not have many workers.*")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
TINY_CONFIG = Path(__file__).parent / "configs" / "tiny_sort_of_clevr.yaml"


# ---- outbound network refused: `pytest --no-network` or VQA_TESTS_NO_NETWORK=1 (`make test` passes the option) --

NO_NETWORK = Path(__file__).parent / "no_network"
_NETWORK_REFUSED = pytest.StashKey[bool]()


def pytest_addoption(parser):
    parser.addoption(
        "--no-network",
        action="store_true",
        help="refuse outbound network connections and name lookups (loopback allowed), in child processes too",
    )


def pytest_configure(config):
    """Install the guard of tests/no_network/sitecustomize.py here, and in children through PYTHONPATH."""
    if not (config.getoption("--no-network") or os.environ.get("VQA_TESTS_NO_NETWORK") == "1"):
        return
    os.environ["VQA_TESTS_NO_NETWORK"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NO_NETWORK), os.environ.get("PYTHONPATH")]))
    spec = importlib.util.spec_from_file_location("vqa_tests_no_network", NO_NETWORK / "sitecustomize.py")
    guard = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guard)  # installs the guard: the variable is set
    config.stash[_NETWORK_REFUSED] = True


def pytest_report_header(config):
    return "outbound network: refused" if config.stash.get(_NETWORK_REFUSED, False) else "outbound network: allowed"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def easy_vqa_source():
    """The real easy-VQA dataset from the installed package (read once per session)."""
    from vqa.data import EasyVQA

    return EasyVQA()


@pytest.fixture()
def tiny_clevr(tmp_path):
    """A 40-image Sort-of-CLEVR cached in a temporary folder."""
    from vqa.data import SortOfClevr

    return SortOfClevr(num_images=40, test_images=8, val_images=8, questions_per_family=4, cache_dir=str(tmp_path))


@pytest.fixture()
def tiny_datamodule(tiny_clevr):
    from vqa.data import VQADataModule

    return VQADataModule(tiny_clevr, batch_size=16)


# ---- tests never write into the checkout -------------------------------------------------------------------

# Folders a test run may touch: the environment and the tools' own caches.
_NOT_OURS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}
_BEFORE = pytest.StashKey[set]()


def _checkout_files() -> set[Path]:
    """Every file of the checkout outside the environment and tool caches."""
    files = set()
    for path in REPO.rglob("*"):
        parts = path.relative_to(REPO).parts
        if not _NOT_OURS.intersection(parts) and not parts[0].endswith(".egg-info") and path.is_file():
            files.add(path)
    return files


def pytest_sessionstart(session):
    session.config.stash[_BEFORE] = _checkout_files()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a test left a new file in the checkout (each test writes under its tmp_path)."""
    before = session.config.stash.get(_BEFORE, None)
    if before is None or getattr(session.config, "workerinput", None) is not None:
        return
    left = sorted(str(p.relative_to(REPO)) for p in _checkout_files() - before)
    if left:
        session.config.get_terminal_writer().line(
            f"tests wrote {len(left)} file(s) into the checkout (write under tmp_path instead): {left[:10]}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
