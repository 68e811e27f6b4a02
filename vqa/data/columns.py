"""Columns of many strings held as a few numpy arrays instead of millions of Python objects.

A VQA v2 split has 443,757 questions with ten answers each; as Python lists of strings that is 4.4 million
references and half a million list objects, slow to build, to copy into worker processes and to save. The same
data as integer codes into a table of the distinct strings takes a few arrays, counts with `np.bincount`, and
saves and memory-maps as `.npy` files (see `vqa.data.parse_cache`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


class Strings(Sequence[str]):
    """Many distinct strings (questions) in one UTF-8 buffer, string i being `data[offsets[i]:offsets[i + 1]]`.

    Args:
        data: uint8 [total bytes], the strings one after the other.
        offsets: int64 [N + 1], where each string starts (and the last ends).
    """

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        self.data = data
        self.offsets = offsets

    @classmethod
    def from_list(cls, strings: Iterable[str]) -> Strings:
        encoded = [s.encode("utf-8") for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        if index < 0:
            index += len(self)
        return bytes(self.data[self.offsets[index] : self.offsets[index + 1]]).decode("utf-8")

    def to_list(self) -> list[str]:
        """Every string, decoded at once (one pass over the buffer)."""
        raw = self.data.tobytes()
        bounds = self.offsets.tolist()
        return [raw[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:])]

    def take(self, rows: np.ndarray) -> Strings:
        """The strings at `rows`, in that order."""
        return _taken(self, rows)

    def save(self, folder: Path, name: str) -> None:
        np.save(folder / f"{name}.data.npy", self.data)
        np.save(folder / f"{name}.offsets.npy", self.offsets)

    @classmethod
    def load(cls, folder: Path, name: str) -> Strings:
        """Memory-mapped: nothing is read until a string is asked for."""
        return cls(
            np.load(folder / f"{name}.data.npy", mmap_mode="r"), np.load(folder / f"{name}.offsets.npy", mmap_mode="r")
        )


def _taken(strings: Strings, rows: np.ndarray) -> Strings:
    """Many rows of `strings` at once: the byte ranges gathered with numpy."""
    starts, ends = strings.offsets[:-1][rows], strings.offsets[1:][rows]
    lengths = ends - starts
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # Byte j of the result is byte starts[row] + (j - offsets[row]) of the source.
    source = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return Strings(np.asarray(strings.data)[source], offsets)


class Coded:
    """One string per row out of a small set (answer types, question types): `values[codes[i]]`.

    Args:
        codes: int32 [N], indices into `values`.
        values: the distinct strings.
    """

    def __init__(self, codes: np.ndarray, values: list[str]) -> None:
        self.codes = codes
        self.values = values

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index: int) -> str:
        return self.values[self.codes[index]]

    def take(self, rows: np.ndarray) -> Coded:
        return Coded(np.asarray(self.codes)[rows], self.values)


class Ragged:
    """A list of strings per row (the human answers of each question), as codes into one table of values:
    row i is `[values[c] for c in codes[offsets[i]:offsets[i + 1]]]`.

    Args:
        offsets: int64 [N + 1], where each row's codes start (and the last row's end).
        codes: int32 [M], indices into `values`.
        values: the distinct strings.
    """

    def __init__(self, offsets: np.ndarray, codes: np.ndarray, values: list[str]) -> None:
        self.offsets = offsets
        self.codes = codes
        self.values = values

    @classmethod
    def from_lists(cls, rows: Iterable[Sequence[str]]) -> Ragged:
        """Code lists of strings (equal strings share one code, numbered in order of first use)."""
        index: dict[str, int] = {}
        codes: list[int] = []
        lengths: list[int] = []
        for row in rows:
            lengths.append(len(row))
            codes.extend(index.setdefault(value, len(index)) for value in row)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(offsets, np.asarray(codes, dtype=np.int32), list(index))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> list[str]:
        if index < 0:
            index += len(self)
        values = self.values
        return [values[c] for c in self.codes[self.offsets[index] : self.offsets[index + 1]].tolist()]

    @property
    def lengths(self) -> np.ndarray:
        """int64 [N], the number of strings in each row."""
        return np.diff(self.offsets)

    @property
    def rows(self) -> np.ndarray:
        """int64 [M], the row of each code."""
        return np.repeat(np.arange(len(self)), self.lengths)

    def counts(self) -> np.ndarray:
        """int64 [len(values)], how often each value occurs in all rows."""
        return np.bincount(self.codes, minlength=len(self.values))

    def take(self, rows: np.ndarray) -> Ragged:
        """The rows at `rows`, in that order."""
        starts, lengths = self.offsets[:-1][rows], self.lengths[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        source = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Ragged(offsets, np.asarray(self.codes)[source], self.values)


def save_values(path: Path, values: dict[str, list[str]]) -> None:
    """The string tables of some columns, as one JSON file."""
    path.write_text(json.dumps(values, ensure_ascii=False), encoding="utf-8")


def load_values(path: Path) -> dict[str, list[str]]:
    return json.loads(path.read_text(encoding="utf-8"))
