"""Reading JSON and JSON-lines files (datasets, predictions) and checking their fields, with errors that name the
file, the entry and what was expected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vqa.data.bad_samples import BadSamples
from vqa.data.sources.base import DatasetError

_KIND_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    list: "a list",
    dict: "an object",
    bool: "true/false",
}


def kind_name(kind: type | tuple[type, ...]) -> str:
    """'a string', 'an integer or a string', ... for messages."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)


def is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    """isinstance, except that true/false never passes as an integer or a number."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_json(path: Path, what: str) -> Any:
    """Parse a whole JSON file; `what` names it in errors ("VQA v2 questions file"). A UTF-8 byte-order mark
    (written by some Windows editors) is accepted."""
    if not path.is_file():
        raise DatasetError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"{path} is not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}"
        ) from error
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path} is not UTF-8 text (byte {error.start}): {error.reason}") from error


def read_jsonl(path: Path, what: str, bad: BadSamples | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for every non-blank line of a JSON-lines file.

    A line that is not UTF-8 or not JSON raises a DatasetError naming the file and the line, or, when `bad`
    skips bad samples, is counted there and left out.
    """
    if not path.is_file():
        raise DatasetError(f"{what} not found: {path}")
    bad = bad if bad is not None else BadSamples()
    with open(path, "rb") as handle:  # bytes: a decoding error then names its line
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                bad.handle(DatasetError(f"{path}, line {number}: not UTF-8 text (byte {error.start}): {error.reason}"))
                continue
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                bad.handle(DatasetError(f"{path}, line {number}: invalid JSON (column {error.colno}): {error.msg}"))
                continue
            yield number, entry


def expect(value: Any, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """`value` if it is of `kind`, else a DatasetError naming `path` and `where` (e.g. "questions[3]")."""
    if not is_kind(value, kind):
        raise DatasetError(f"{path}: {where}: expected {kind_name(kind)}, got {_shown(value)}")
    return value


def field(entry: Any, key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """`entry[key]`, checked to exist and to be of `kind`; errors name the file, the entry and the key."""
    expect(entry, dict, path, where)
    if key not in entry:
        raise DatasetError(f"{path}: {where}: missing key {key!r}")
    return expect(entry[key], kind, path, f"{where}.{key}")


def optional_field(
    entry: dict, key: str, kind: type | tuple[type, ...], path: Path, where: str, default: Any = None
) -> Any:
    """`entry[key]` checked like `field`, or `default` when the key is absent or null."""
    if entry.get(key) is None:
        return default
    return expect(entry[key], kind, path, f"{where}.{key}")


def string_list(value: Any, path: Path, where: str) -> list[str]:
    """A list of strings, checked item by item."""
    expect(value, list, path, where)
    for i, item in enumerate(value):
        expect(item, str, path, f"{where}[{i}]")
    return list(value)


def question_text(entry: Any, key: str, path: Path, where: str) -> str:
    """`entry[key]` checked to be a string with at least one visible character."""
    question = field(entry, key, str, path, where)
    if not question.strip():
        raise DatasetError(f"{path}: {where}.{key}: the question is empty ({question!r}); every question needs words")
    return question
