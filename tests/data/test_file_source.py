"""The base of every file-backed reader: a new format needs only `image_folder` and `entries`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.data.fixture_sources import jsonl_source
from vqa.data import DatasetError, FileEntry, FileSource, VQARecord
from vqa.data.bad_samples import BadSamples


class PipeSource(FileSource):
    """A toy format, one question per line: `image|question|answer`; counts how often its files are parsed."""

    title = "pipe"

    def __init__(self, folder: Path, check_images: bool = True) -> None:
        files = {"train": str(folder / "train.txt"), "val": None, "test": None}
        super().__init__(files, (8, 8), check_images)
        self.folder = folder
        self.parsed = 0

    def image_folder(self, split: str) -> Path:
        return self.folder / "images"

    def entries(self, split: str, bad: BadSamples) -> Iterator[FileEntry]:
        self.parsed += 1
        path = Path(self.files[split])
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            parts = line.split("|")
            if len(parts) != 3:
                bad.handle(DatasetError(f"{path}, line {number}: expected image|question|answer"))
                continue
            image, question, answer = parts
            yield FileEntry(image, VQARecord(-1, question, [answer]), f"line {number} of {path}")


def _folder(tmp_path: Path, lines: list[str], images: list[str]) -> Path:
    (tmp_path / "images").mkdir()
    for name in images:
        Image.new("RGB", (4, 4), (200, 10, 10)).save(tmp_path / "images" / name)
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_distinct_images_once_in_order_of_first_use(tmp_path):
    folder = _folder(tmp_path, ["b.png|q1|x", "a.png|q2|y", "b.png|q3|z"], ["a.png", "b.png"])
    split = PipeSource(folder).read("train")
    assert split.images.paths == [str(folder / "images" / "b.png"), str(folder / "images" / "a.png")]
    assert [r.image for r in split.records] == [0, 1, 0]
    assert [r.question for r in split.records] == ["q1", "q2", "q3"]


def test_each_split_is_read_once_and_empty_splits_have_no_files(tmp_path):
    source = PipeSource(_folder(tmp_path, ["a.png|q|x"], ["a.png"]))
    assert source.read("train") is source.read("train")
    assert source.parsed == 1
    assert source.read("val").records == [] and len(source.read("test").images) == 0
    with pytest.raises(ValueError, match="pipe has splits train, val, test; got 'dev'"):
        source.read("dev")


def test_missing_image_names_the_first_entry_that_needs_it(tmp_path):
    folder = _folder(tmp_path, ["a.png|q1|x", "gone.png|q2|y", "gone.png|q3|y"], ["a.png"])
    with pytest.raises(DatasetError, match=r"pipe train: image file not found: .*gone.png, needed by line 2 of"):
        PipeSource(folder).read("train")
    assert len(PipeSource(folder, check_images=False).read("train").images) == 2


def test_skipping_leaves_out_bad_lines_and_the_questions_of_missing_images(tmp_path):
    folder = _folder(tmp_path, ["a.png|q1|x", "broken line", "gone.png|q2|y", "gone.png|q3|y"], ["a.png"])
    bad = BadSamples(skip=True)
    split = PipeSource(folder).read("train", bad)
    assert [r.question for r in split.records] == ["q1"] and len(split.images) == 1
    assert bad.count == 3  # the broken line, then both questions about the missing image
    assert "line 2" in bad.reasons[0] and "gone.png" in bad.reasons[1]


def test_jsonl_image_named_relative_and_absolute_is_one_image(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "images" / "a.png")
    lines = [
        {"image": "images/a.png", "question": "What?", "answers": ["x"]},
        {"image": str(tmp_path / "images" / "a.png"), "question": "Where?", "answers": ["y"]},
        {"image": "./images/a.png", "question": "Why?", "answers": ["z"]},
    ]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    split = jsonl_source(tmp_path, val=None, test=None).read("train")
    assert len(split.images) == 1 and [r.image for r in split.records] == [0, 0, 0]
