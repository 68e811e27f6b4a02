"""The contract of a dataset source (one per on-disk format or generator) and their registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from vqa.data.records import VQASplit
from vqa.errors import VQAError
from vqa.registry import Registry

if TYPE_CHECKING:
    from vqa.data.bad_samples import BadSamples

SPLITS = ("train", "val", "test")


class VQASource:
    """Produces the train / val / test splits of one dataset as `VQASplit`s.

    Subclasses implement `read(split, bad)`; records' `types` drive the per-type metric breakdowns.
    """

    name: ClassVar[str] = "source"

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:  # pragma: no cover
        """The records and images of `split` (one of "train", "val", "test").

        Args:
            split: which split.
            bad: what to do with a malformed entry or a missing image: `bad.handle(error)` raises the error or,
                when skipping bad samples, counts it (then leave the entry out). None: raise.
        """
        raise NotImplementedError

    def describe(self) -> str:
        """One line naming the dataset and its settings, for tables and logs."""
        args = ", ".join(f"{k}={v!r}" for k, v in getattr(self, "init_args", {}).items())
        return f"{self.name}({args})"


DATASETS: Registry[VQASource] = Registry("dataset", VQASource)


class DatasetError(VQAError, ValueError):
    """A dataset file or package is missing or malformed; the message names the file and the entry."""
