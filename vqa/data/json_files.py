"""Reading dataset JSON files with errors that name the file, the entry and what was expected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from vqa.data.sources import DatasetError

_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "an object", bool: "true/false"}


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
    """Parse a whole JSON file; `what` names it in errors ("VQA v2 questions file")."""
    if not path.is_file():
        raise DatasetError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path} is not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}") from error
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path} is not UTF-8 text: {error}") from error


def read_jsonl(path: Path, what: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for every non-blank line of a JSON-lines file."""
    if not path.is_file():
        raise DatasetError(f"{what} not found: {path}")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{path}, line {number}: invalid JSON (column {error.colno}): {error.msg}") from error


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


def optional_field(entry: dict, key: str, kind: type | tuple[type, ...], path: Path, where: str, default: Any = None) -> Any:
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
