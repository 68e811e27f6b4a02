"""Fusion modules: every strategy behind one contract (`fusion.base.Fusion`), selectable by name.

>>> from fusion import create_fusion, list_fusions
>>> f = create_fusion("cross_attention", img_dim=128, txt_dim=256, out_dim=512)
"""

from __future__ import annotations

from typing import Any

from fusion.base import Fusion
from vqa.registry import Registry

FUSIONS: Registry[Fusion] = Registry("fusion", Fusion)
register_fusion = FUSIONS.register


def create_fusion(name: str, img_dim: int, txt_dim: int, **kwargs: Any) -> Fusion:
    """Build the fusion registered as `name` for the given input widths."""
    return FUSIONS.create(name, img_dim, txt_dim, **kwargs)


def list_fusions() -> list[str]:
    """Names of all registered fusions."""
    return FUSIONS.names()


# Importing the family modules registers them.
from fusion.early import EarlyFusion  # noqa: E402
from fusion.late import LateFusion  # noqa: E402
from fusion.cross_attention import CrossAttentionFusion  # noqa: E402
from fusion.early import EarlyConcatFusion  # noqa: E402
from fusion.late import LateConcatFusion, LateProductFusion, LateScoreFusion, LateSumFusion  # noqa: E402
from fusion.bilinear import BlockFusion, MFBFusion, MFHFusion, MLBFusion, MutanFusion  # noqa: E402
from fusion.guided_attention import GuidedAttentionFusion  # noqa: E402
from fusion.film import FiLMFusion  # noqa: E402

__all__ = [
    "FUSIONS",
    "Fusion",
    "EarlyFusion",
    "LateFusion",
    "CrossAttentionFusion",
    "EarlyConcatFusion",
    "LateConcatFusion",
    "LateProductFusion",
    "LateScoreFusion",
    "LateSumFusion",
    "MLBFusion",
    "MFBFusion",
    "MFHFusion",
    "MutanFusion",
    "BlockFusion",
    "GuidedAttentionFusion",
    "FiLMFusion",
    "create_fusion",
    "list_fusions",
    "register_fusion",
]
