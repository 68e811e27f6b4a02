"""A split's records as columns: what the readers of large files produce and the parse cache stores.

`RecordTable` is a sequence of `VQARecord`s like the list other sources give (`table[i]`, `for record in table`,
`len(table)`), each record built when asked for. Code that handles a whole split (the vocabulary, the encoded
dataset, the statistics) reads the columns instead through the helpers below, which accept either form: a
list of records is turned into columns once, a table hands over its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from vqa.data.columns import Coded, Ragged, Strings, load_values, save_values
from vqa.data.records import VQARecord

# A meta column: integers (ids), one string per row, or a list of strings per row.
MetaColumn = np.ndarray | Coded | Ragged
FORMAT_VERSION = 1


class RecordTable(Sequence[VQARecord]):
    """Records as columns; record i is `VQARecord(image[i], questions[i], answers[i], {k: types[k][i]},
    {k: meta[k][i]})`, the keys of `types` and `meta` in the order given.

    Args:
        image: int64 [N], the image index of each record.
        questions: the question of each record (a list, or `Strings` when loaded from a cache).
        answers: the answers of each record (rows may be empty: unlabeled).
        types: breakdown columns, e.g. {"answer_type": ..., "question_type": ...}; every record has every key.
        meta: the other columns; every record has every key.
    """

    def __init__(
        self,
        image: np.ndarray,
        questions: Sequence[str],
        answers: Ragged,
        types: dict[str, Coded],
        meta: dict[str, MetaColumn],
    ) -> None:
        self.image = image
        self.questions = questions
        self.answers = answers
        self.types = types
        self.meta = meta
        # The parse cache entry holding exactly these records (its folder), set by `ParseCache`; data derived from
        # them (vocabulary, encoded tensors) is then cached inside it. None: not cached (or a subset of a table).
        self.origin: Path | None = None

    def __len__(self) -> int:
        return len(self.image)

    def record(self, i: int) -> VQARecord:
        meta = {}
        for key, column in self.meta.items():
            meta[key] = int(column[i]) if isinstance(column, np.ndarray) else column[i]
        return VQARecord(
            int(self.image[i]),
            self.questions[i],
            self.answers[i],
            {key: column[i] for key, column in self.types.items()},
            meta,
        )

    def __getitem__(self, index: int | slice) -> VQARecord | list[VQARecord]:  # type: ignore[override]
        if isinstance(index, slice):
            return [self.record(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"record {index} of a table of {len(self)}")
        return self.record(index)

    def __iter__(self) -> Iterator[VQARecord]:
        return (self.record(i) for i in range(len(self)))

    def question_list(self) -> list[str]:
        return self.questions.to_list() if isinstance(self.questions, Strings) else list(self.questions)

    def take(self, rows: np.ndarray, image: np.ndarray | None = None) -> RecordTable:
        """The records at `rows` (int64 positions), in that order; with new image indices if `image` is given."""
        questions = self.questions
        taken = questions.take(rows) if isinstance(questions, Strings) else [questions[i] for i in rows.tolist()]
        return RecordTable(
            self.image[rows] if image is None else image,
            taken,
            self.answers.take(rows),
            {key: column.take(rows) for key, column in self.types.items()},
            {
                key: column[rows] if isinstance(column, np.ndarray) else column.take(rows)
                for key, column in self.meta.items()
            },
        )

    # ---- saving (see vqa.data.parse_cache) -----------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the columns into `folder` (existing) as .npy arrays and one JSON file of string tables."""
        np.save(folder / "image.npy", self.image)
        questions = self.questions if isinstance(self.questions, Strings) else Strings.from_list(self.questions)
        questions.save(folder, "questions")
        np.save(folder / "answers.offsets.npy", self.answers.offsets)
        np.save(folder / "answers.codes.npy", self.answers.codes)
        values = {"answers": self.answers.values}
        layout = {"version": FORMAT_VERSION, "types": list(self.types), "meta": {}}
        for key, column in self.types.items():
            np.save(folder / f"types.{key}.npy", column.codes)
            values[f"types.{key}"] = column.values
        for key, column in self.meta.items():
            if isinstance(column, np.ndarray):
                layout["meta"][key] = "int"
                np.save(folder / f"meta.{key}.npy", column)
            elif isinstance(column, Coded):
                layout["meta"][key] = "coded"
                np.save(folder / f"meta.{key}.npy", column.codes)
                values[f"meta.{key}"] = column.values
            else:
                layout["meta"][key] = "ragged"
                np.save(folder / f"meta.{key}.offsets.npy", column.offsets)
                np.save(folder / f"meta.{key}.codes.npy", column.codes)
                values[f"meta.{key}"] = column.values
        save_values(folder / "values.json", values)
        (folder / "layout.json").write_text(json.dumps(layout))

    @classmethod
    def load(cls, folder: Path) -> RecordTable:
        """Read a table written by `save`: arrays memory-mapped, questions decoded only when asked for.

        Raises:
            ValueError: the folder was written in another format version, or its columns disagree in length.
            OSError, KeyError: a file is missing or unreadable.
        """
        layout = json.loads((folder / "layout.json").read_text())
        if layout.get("version") != FORMAT_VERSION:
            raise ValueError(f"record table format {layout.get('version')}, expected {FORMAT_VERSION}")
        values = load_values(folder / "values.json")

        def array(name: str) -> np.ndarray:
            return np.load(folder / f"{name}.npy", mmap_mode="r")

        answers = Ragged(array("answers.offsets"), array("answers.codes"), values["answers"])
        types = {key: Coded(array(f"types.{key}"), values[f"types.{key}"]) for key in layout["types"]}
        meta: dict[str, MetaColumn] = {}
        for key, kind in layout["meta"].items():
            if kind == "int":
                meta[key] = array(f"meta.{key}")
            elif kind == "coded":
                meta[key] = Coded(array(f"meta.{key}"), values[f"meta.{key}"])
            else:
                meta[key] = Ragged(array(f"meta.{key}.offsets"), array(f"meta.{key}.codes"), values[f"meta.{key}"])
        table = cls(array("image"), Strings.load(folder, "questions"), answers, types, meta)
        table.check()
        return table

    def check(self) -> None:
        """Raise ValueError if the columns disagree in length or a code points outside its table (a damaged
        cache): cheap checks on the arrays, no record is built."""
        n = len(self.image)
        lengths = [len(self.questions), len(self.answers)] + [len(c) for c in self.types.values()]
        lengths += [len(c) for c in self.meta.values()]
        if any(length != n for length in lengths):
            raise ValueError(f"columns of different lengths: {n} records, columns of {sorted(set(lengths))}")
        for name, ragged in [("answers", self.answers)] + [
            (k, c) for k, c in self.meta.items() if isinstance(c, Ragged)
        ]:
            if ragged.offsets[0] != 0 or ragged.offsets[-1] != len(ragged.codes) or np.any(np.diff(ragged.offsets) < 0):
                raise ValueError(f"{name}: offsets do not cover the codes")
        coded = [self.answers, *self.types.values()] + [c for c in self.meta.values() if not isinstance(c, np.ndarray)]
        for column in coded:
            if len(column.codes) and (column.codes.min() < 0 or column.codes.max() >= len(column.values)):
                raise ValueError("a code points outside its table of values")
        if isinstance(self.questions, Strings):
            offsets = self.questions.offsets
            if offsets[0] != 0 or offsets[-1] != len(self.questions.data) or np.any(np.diff(offsets) < 0):
                raise ValueError("questions: offsets do not cover the text")


# ---- the columns of any records: a table's own, or built once from a list --------------------------------------


def image_column(records: Sequence[VQARecord]) -> np.ndarray:
    """int64 [N], the image index of each record."""
    if isinstance(records, RecordTable):
        return np.array(records.image, dtype=np.int64)  # a copy: the table's may be a read-only memory map
    return np.fromiter((r.image for r in records), dtype=np.int64, count=len(records))


def question_list(records: Sequence[VQARecord]) -> list[str]:
    """The questions, as a list of strings."""
    if isinstance(records, RecordTable):
        return records.question_list()
    return [r.question for r in records]


def answer_column(records: Sequence[VQARecord]) -> Ragged:
    """The answers of each record."""
    if isinstance(records, RecordTable):
        return records.answers
    return Ragged.from_lists(r.answers for r in records)


def group_column(records: Sequence[VQARecord]) -> Ragged:
    """The breakdown groups of each record ("key/value" for each of its types), in the order of its types."""
    if not isinstance(records, RecordTable):
        return Ragged.from_lists([f"{k}/{v}" for k, v in r.types.items()] for r in records)
    values: list[str] = []
    columns = []
    for key, column in records.types.items():  # code of (key, value) = code of value + start of key's block
        columns.append(np.asarray(column.codes, dtype=np.int32) + len(values))
        values.extend(f"{key}/{value}" for value in column.values)
    n = len(records)
    codes = np.stack(columns, axis=1).reshape(-1) if columns else np.zeros(0, dtype=np.int32)
    return Ragged(np.arange(n + 1, dtype=np.int64) * len(columns), codes, values)


def used_values(column: Ragged) -> list[str]:
    """The values that occur in some row (a table of values may hold more, e.g. after `take`)."""
    return [column.values[i] for i in np.flatnonzero(column.counts())]
