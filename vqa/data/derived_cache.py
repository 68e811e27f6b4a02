"""What a data module derives from cached parsed splits (the fitted vocabulary, the encoded splits), cached beside
them, so that a second run on unchanged files neither fits the tokenizer nor tokenizes a question.

Only records loaded from or saved to the parse cache have an identity (`RecordTable.origin`, the entry's folder,
whose name changes whenever a file changes); everything derived is keyed by those names plus every setting that
changes the result (the tokenizer's recipe, the answer-vocabulary settings, the vocabulary itself), and lives in
`<parse cache entry>/derived/<key>/`, written atomically: when a file changes, the parse cache deletes the old
entry and with it all that was derived from it. A damaged entry is reported in a warning and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vqa.data.encoding import EncodedSplit
from vqa.io import staging_dir

FORMAT_VERSION = 1


def derived_key(kind: str, parts: Any) -> str:
    """A short hash of `kind` and the JSON form of `parts` (the names and settings the result depends on)."""
    text = json.dumps([FORMAT_VERSION, kind, parts], sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha1(text.encode()).hexdigest()[:20]}"


class DerivedCache:
    """Data derived from one parse cache entry, under `<entry>/derived/`.

    Args:
        entry: the parse cache entry's folder (`RecordTable.origin`).
    """

    def __init__(self, entry: str | os.PathLike) -> None:
        self.folder = Path(entry) / "derived"

    def get_json(self, key: str) -> dict[str, Any] | None:
        """The JSON document stored under `key`, or None."""
        return self._read(key, lambda entry: json.loads((entry / "data.json").read_text(encoding="utf-8")))

    def put_json(self, key: str, data: dict[str, Any]) -> None:
        self._write(key, lambda entry: (entry / "data.json").write_text(json.dumps(data), encoding="utf-8"))

    def get_encoded(self, key: str) -> tuple[EncodedSplit, list[tuple[str, str]]] | None:
        """The encoded split under `key` and the warnings its encoding gave (category name, message), or None."""

        def read(entry: Path) -> tuple[EncodedSplit, list[tuple[str, str]]]:
            caught = json.loads((entry / "warnings.json").read_text(encoding="utf-8"))
            return EncodedSplit.load(entry), [(str(c), str(m)) for c, m in caught]

        return self._read(key, read)

    def put_encoded(self, key: str, encoded: EncodedSplit, caught: list[tuple[str, str]]) -> None:
        def write(entry: Path) -> None:
            encoded.save(entry)
            (entry / "warnings.json").write_text(json.dumps(caught), encoding="utf-8")

        self._write(key, write)

    def _read(self, key: str, read: Callable[[Path], Any]) -> Any:
        entry = self.folder / key
        if not entry.is_dir():
            return None
        try:
            return read(entry)
        except Exception as error:  # noqa: BLE001 (any damage: unreadable, truncated, inconsistent)
            warnings.warn(
                f"derived cache entry {entry} is damaged ({type(error).__name__}: {error}); computing it again",
                stacklevel=3,
            )
            shutil.rmtree(entry, ignore_errors=True)
            return None

    def _write(self, key: str, write: Callable[[Path], None]) -> None:
        target = self.folder / key
        try:
            staging = staging_dir(target)
            try:
                write(staging)
                shutil.rmtree(target, ignore_errors=True)
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError as error:
            warnings.warn(f"could not write the derived cache entry {target} ({error}); continuing", stacklevel=3)
