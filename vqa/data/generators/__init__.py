"""Generated datasets: seeded, deterministic, written once to a cache under `data/` (never downloaded)."""

from vqa.data.generators.clevr_like import ClevrLike
from vqa.data.generators.sort_of_clevr import SortOfClevr
from vqa.data.generators.synthetic import SyntheticVQA

__all__ = ["ClevrLike", "SortOfClevr", "SyntheticVQA"]
