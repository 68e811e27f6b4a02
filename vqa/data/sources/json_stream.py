"""Reading the one large array of a JSON file item by item, in bounded memory.

Dataset files such as VQA v2's are one object holding a few small fields and one huge array
({"info": ..., "annotations": [... 443,757 entries ...]}). `json.load` builds the whole tree first: several times
the file's size in Python objects. `stream_array` hands over one item at a time, parsed by the standard library's
own decoder, so a reader can keep what it needs in compact form and let the rest go.

It accepts exactly what `json.load` accepts for such a file and parses it the same way. Anything else (not UTF-8,
invalid JSON, no such array, trailing data, the key given twice) raises `NotStreamable` and the caller reads the
file the usual way, which reports the problem with the usual message (`vqa.data.sources.json_reading.read_json`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

CHUNK_CHARS = 1 << 23  # text read at a time (8 Mi characters): the memory the parse needs beyond one item
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, as the standard decoder defines it
_DECODER = json.JSONDecoder()
_NUMBER_CHARACTERS = frozenset("0123456789+-.eE")


class NotStreamable(Exception):
    """The file is not one object holding the wanted array as valid UTF-8 JSON: read it whole instead."""


class _Text:
    """A window onto a text file: `buffer[position:]` is what has been read and not consumed yet."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.buffer = ""
        self.position = 0

    def read_more(self) -> bool:
        """Append the next chunk (dropping what was consumed); False at the end of the file."""
        chunk = self.handle.read(CHUNK_CHARS)
        if not chunk:
            return False
        self.buffer = self.buffer[self.position :] + chunk
        self.position = 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end of the file), not consumed."""
        while True:
            self.position = _WHITESPACE.match(self.buffer, self.position).end()
            if self.position < len(self.buffer):
                return self.buffer[self.position]
            if not self.read_more():
                return ""

    def take(self, expected: str) -> None:
        """Consume the next non-whitespace character, which must be `expected`."""
        if self.peek() != expected:
            raise NotStreamable
        self.position += 1

    def value(self) -> Any:
        """Parse the next JSON value with the standard decoder."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError:
                if self.read_more():  # most likely the value goes on in the next chunk
                    continue
                raise NotStreamable from None
            # Only a number can look complete when cut ("12" of "1234", "-0" of "-0.5"): unless a character that
            # cannot go on a number follows it in the buffer, read on and parse it again.
            cut = end == len(self.buffer) or self.buffer[end] in _NUMBER_CHARACTERS
            if cut and type(value) in (int, float) and self.read_more():
                continue
            self.position = end
            return value

    def items(self) -> Iterator[Any]:
        """The values of the array that starts here, one at a time."""
        self.take("[")
        if self.peek() == "]":
            self.position += 1
            return
        while True:
            yield self.value()
            separator = self.peek()
            self.position += 1
            if separator == "]":
                return
            if separator != ",":
                raise NotStreamable


def stream_array(path: Path, key: str, fields: dict[str, Any]) -> Iterator[Any]:
    """Each item of the array under the top-level `key` of the JSON file at `path`, in order.

    The other top-level values are stored in `fields` as they are met (all of them once the iteration ended; they
    may come before or after the array). A UTF-8 byte-order mark is skipped, as `read_json` does.

    Raises:
        NotStreamable: the file is missing, unreadable, not UTF-8 or not valid JSON, its top level is not an
            object, `key` is absent, given twice or not an array. Raised when met, possibly after some items.
    """
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = _Text(handle)
            text.take("{")
            found = False
            while text.peek() != "}":
                if text.peek() != '"':
                    raise NotStreamable
                name = text.value()
                text.take(":")
                if name != key:
                    fields[name] = text.value()
                elif found:
                    raise NotStreamable
                else:
                    found = True
                    yield from text.items()
                if text.peek() == ",":
                    text.position += 1
                    if text.peek() != '"':  # a trailing comma is not JSON
                        raise NotStreamable
                elif text.peek() != "}":
                    raise NotStreamable
            text.position += 1
            if text.peek() != "" or not found:  # data after the object, or no such array
                raise NotStreamable
    except (OSError, UnicodeDecodeError, RecursionError) as error:
        raise NotStreamable from error
