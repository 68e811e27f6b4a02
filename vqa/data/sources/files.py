"""What every file-backed dataset reader shares: each split's files are read once, every entry is checked, and
each distinct image is kept once, as a path (decoded later, one batch at a time). Readers with a columnar fast
path (`read_table`) also get the parse cache: the second read of unchanged files loads the parsed split."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from vqa.data.bad_samples import BadSamples
from vqa.data.image_files import ImageFiles, drop_missing_images
from vqa.data.parse_cache import ParseCache, ParsedSplit
from vqa.data.records import VQARecord, VQASplit
from vqa.data.sources.base import SPLITS, VQASource


class FileEntry(NamedTuple):
    """One good question of a dataset file, as a reader yields it.

    Attributes:
        image: its image file, relative to the split's `image_folder` (or absolute); equal values are one image.
            Cheap to build (a string): a split has many questions per image.
        record: the question; its `image` index is left to `FileSource`.
        needed_by: the entry, as the error names it when the image file is missing (e.g. "line 7 of train.jsonl").
    """

    image: str | Path
    record: VQARecord
    needed_by: str


class FileSource(VQASource):
    """A dataset read from files (`ImageFiles`: images stay on disk until a batch asks for them).

    `read` reads a split's files once and keeps the result, numbers each distinct image once (in order of first
    use), and checks that every image file exists. Subclasses set `title`, pass their files per split to
    `__init__`, and implement `image_folder` and `entries`: only what is specific to their format. A subclass may
    also implement `read_table`, a fast path for large files; its results are kept in the parse cache under
    `cache_dir` (see `vqa.data.parse_cache`), keyed by the split's files (paths, sizes, times).

    Args:
        files: each split's files, in the form the subclass reads them (a path, or a tuple of paths and None);
            None leaves that split empty.
        image_size: (height, width) every image is resized to when decoded.
        check_images: check that every image file exists when a split is read (one clear error if not; also
            after a cache hit, since images can go missing while the annotation files stay the same).
        cache_dir: folder of the parse cache; None: no cache.
    """

    title: ClassVar[str] = "files"  # names the dataset in messages, e.g. "VQA v2" -> "VQA v2 train"
    parse_version: ClassVar[int] = 1  # raise when `read_table` changes what it makes of the same files

    def __init__(
        self, files: dict[str, Any], image_size: tuple[int, int], check_images: bool, cache_dir: str | None = None
    ) -> None:
        self.files = files
        self.image_size = image_size
        self.check_images = check_images
        self.cache_dir = cache_dir
        self._splits: dict[str, VQASplit] = {}  # each split read once

    # ---- what a reader implements --------------------------------------------------------------------------

    def image_folder(self, split: str) -> Path:  # pragma: no cover
        """The folder the `FileEntry.image` paths of `split` are relative to."""
        raise NotImplementedError

    def entries(self, split: str, bad: BadSamples) -> Iterator[FileEntry]:  # pragma: no cover
        """Parse and check the files of `split` (whose files are not None): one entry per good question.

        A malformed entry goes to `bad.handle(error)`, which raises the error or, when skipping bad samples,
        counts it; the entry is then left out.
        """
        raise NotImplementedError

    def read_table(self, split: str) -> ParsedSplit | None:
        """Optional fast path: the split exactly as `entries` gives it, as columns, or None when the files hold
        anything `entries` would reject or skip (then `entries` reads them). Default: None (no fast path)."""
        return None

    # ---- shared --------------------------------------------------------------------------------------------

    def split_title(self, split: str) -> str:
        """The split as messages name it, e.g. "VQA v2 train"."""
        return f"{self.title} {split}"

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        if split not in SPLITS:
            raise ValueError(f"{self.title} has splits train, val, test; got {split!r}")
        if split not in self._splits:
            self._splits[split] = self.read_files(split, bad)
        return self._splits[split]

    def read_files(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        """Read `split` from its files, every time it is called (`read` keeps the result).

        Returns the records in file order and their distinct images; with `check_images`, a missing image file
        raises one error naming it and the first entry that needs it, or, when `bad` skips bad samples, its
        questions are left out and counted.
        """
        bad = bad if bad is not None else BadSamples()
        if self.files[split] is None:
            return VQASplit(ImageFiles([], self.image_size), [])
        parsed = self._parsed(split)
        if parsed is not None:
            read = VQASplit(ImageFiles(parsed.images, self.image_size), parsed.records)
            needed_by = parsed.needed_by
        else:
            read, needed_by = self._read_entries(split, bad)
        if not self.check_images:
            return read
        return drop_missing_images(read, self.split_title(split), needed_by.__getitem__, bad)

    def _parsed(self, split: str) -> ParsedSplit | None:
        """The split through `read_table`, from the parse cache when it holds these files' version."""
        cache = ParseCache(self.cache_dir) if self.cache_dir is not None else None
        if cache is not None:
            files = self.files[split]
            paths = list(files) if isinstance(files, (tuple, list)) else [files]
            name = cache.entry_name(type(self).__name__, split, paths, self.parse_version)
            cached = cache.load(name)
            if cached is not None:
                return cached
        parsed = self.read_table(split)
        if parsed is not None and cache is not None:
            cache.save(name, parsed)
        return parsed

    def _read_entries(self, split: str, bad: BadSamples) -> tuple[VQASplit, list[str]]:
        """The split through `entries`, one record object per question; and the first entry needing each image."""
        folder = self.image_folder(split)
        position: dict[str | Path, int] = {}  # image -> its index in `paths`
        paths: list[Path] = []
        needed_by: list[str] = []  # the first entry that needs each image
        records: list[VQARecord] = []
        for entry in self.entries(split, bad):
            if entry.image not in position:
                position[entry.image] = len(paths)
                paths.append(folder / entry.image)  # a Path is built once per image, not once per question
                needed_by.append(entry.needed_by)
            entry.record.image = position[entry.image]
            records.append(entry.record)
        return VQASplit(ImageFiles(paths, self.image_size), records), needed_by
