"""A writable copy of a dataset fixture, to break on purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.data.fixture_sources import FIXTURES


@pytest.fixture()
def fixture_copy(tmp_path):
    """copy(name) -> a writable copy of tests/fixtures/<name> (to break on purpose)."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy
