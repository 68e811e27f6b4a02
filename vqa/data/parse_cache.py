"""A disk cache of parsed dataset splits: the second read of unchanged files takes a fraction of a second.

Parsing VQA v2's training files (400 MB of JSON) takes seconds even when done well; the result (a `RecordTable`,
the image files and who needs each) is a few arrays. They are saved once, as .npy files memory-mapped when read,
in one folder per split and key. The key holds the reader, its format version, the split and, for every input
file, its absolute path, size, modification and status-change times (as `ImageFiles.fingerprint` does: copy tools
can set an mtime back, nothing sets a ctime back), so a changed file gets a new key and is parsed again; the entry
of the old version is deleted then. Never silently stale, never half written: a folder is filled under a temporary
name and renamed into place. A damaged entry (unreadable, inconsistent) is reported in a warning, deleted and
rebuilt from the files, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqa.data.columns import Strings
from vqa.data.record_table import RecordTable
from vqa.io import staging_dir

FORMAT_VERSION = 1


@dataclass
class ParsedSplit:
    """What a reader makes of a split's files, and what the cache stores.

    Attributes:
        records: the records, in file order; `records.image` indexes `images`.
        images: the image file of each image index (as `ImageFiles` takes it).
        needed_by: the first entry that needs each image, as the missing-file error names it.
    """

    records: RecordTable
    images: list[str]
    needed_by: Sequence[str]


def file_identity(path: str | os.PathLike) -> list:
    """[absolute path, size, mtime_ns, ctime_ns] of a file; [absolute path] alone for a folder or a missing file."""
    absolute = os.path.abspath(path)
    if not os.path.isfile(absolute):
        return [absolute]
    stat = os.stat(absolute)
    return [absolute, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


class ParseCache:
    """Parsed splits under one folder, one sub-folder per entry.

    Args:
        folder: where the entries live (created when the first one is saved).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def entry_name(self, reader: str, split: str, paths: Sequence[str | os.PathLike | None], version: int) -> str:
        """The entry's folder name: `<reader>-<split>-<which files>-<their identity>`; the third part stays the
        same when the same files change, which is how an old version is found and deleted."""
        identities = [None if p is None else file_identity(p) for p in paths]
        which = json.dumps([reader, split, [None if i is None else i[0] for i in identities]])
        what = json.dumps([FORMAT_VERSION, version, identities])
        return f"{reader}-{split}-{_digest(which)[:10]}-{_digest(what)[:16]}"

    def load(self, name: str) -> ParsedSplit | None:
        """The entry `name`, or None when there is none. A damaged one is deleted, with a warning."""
        entry = self.folder / name
        if not (entry / "complete.json").is_file():
            return None
        try:
            complete = json.loads((entry / "complete.json").read_text())
            if complete != {"name": name, "version": FORMAT_VERSION}:
                raise ValueError(f"written for {complete}")
            records = RecordTable.load(entry / "records")
            images = Strings.load(entry, "images").to_list()
            needed_by = Strings.load(entry, "needed_by")
            if len(needed_by) != len(images) or (len(records) and int(np.max(records.image)) >= len(images)):
                raise ValueError("records point to images the entry does not have")
            if len(records) and int(np.min(records.image)) < 0:
                raise ValueError("negative image index")
        except Exception as error:  # noqa: BLE001 (any damage: unreadable, truncated, inconsistent, old format)
            warnings.warn(
                f"parse cache entry {entry} is damaged ({type(error).__name__}: {error}); reading the dataset files "
                "again and rewriting it",
                stacklevel=2,
            )
            shutil.rmtree(entry, ignore_errors=True)
            return None
        records.origin = entry
        return ParsedSplit(records, images, needed_by)

    def save(self, name: str, parsed: ParsedSplit) -> None:
        """Store `parsed` as entry `name` (atomically) and delete the entries of older versions of the same files.
        A cache that cannot be written (read-only disk, full disk) is reported in a warning; the read goes on."""
        target = self.folder / name
        try:
            staging = staging_dir(target)
            try:
                (staging / "records").mkdir()
                parsed.records.save(staging / "records")
                Strings.from_list(parsed.images).save(staging, "images")
                needed_by = parsed.needed_by
                (needed_by if isinstance(needed_by, Strings) else Strings.from_list(needed_by)).save(
                    staging, "needed_by"
                )
                (staging / "complete.json").write_text(json.dumps({"name": name, "version": FORMAT_VERSION}))
                shutil.rmtree(target, ignore_errors=True)  # a damaged entry of the same name
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError as error:
            warnings.warn(
                f"could not write the parse cache entry {target} ({error}); continuing without it", stacklevel=2
            )
            return
        parsed.records.origin = target
        same_files = name.rsplit("-", 1)[0] + "-"
        for old in self.folder.glob(same_files + "*"):
            if old.name != name and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()
