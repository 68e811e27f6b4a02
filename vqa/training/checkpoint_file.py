"""What a checkpoint of `vqa fit` holds beyond Lightning's own keys, and the one way the toolkit reads it.

A checkpoint is Lightning's dict (`state_dict`, `hyper_parameters`, `callbacks`, ...) plus three keys written by
`VQALitModule.on_save_checkpoint`: the model recipe, the vocabulary and the random states. With the first two a
checkpoint alone rebuilds a working model.

This module imports torch only (no Lightning), so that `vqa.load`, `vqa export` and `vqa ask` read checkpoints
without the training stack.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from vqa.errors import VQAError

MODEL_CONFIG_KEY = "vqa_model_config"  # `VQAModel.config()`: registered part names + constructor arguments
VOCAB_KEY = "vqa_vocab"  # `Vocabulary.to_dict()`: tokenizer, answers, breakdown groups, training image size
RNG_KEY = "vqa_rng_states"  # one random state per process, so a resumed run draws the same dropout masks


class CheckpointError(VQAError, ValueError):
    """A checkpoint is missing, unreadable, unsafe, or does not fit what it is used for; the message names it."""


def safe_load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint file with `torch.load(weights_only=True)`: only tensors and plain Python data are
    accepted, so a checkpoint carrying code is refused before that code can run.

    The tensors are memory-mapped (`mmap=True`): they are read from disk only when touched, so finding out what a
    checkpoint holds (its recipe, hyper-parameters, callback states) costs little even for a large model.

    Raises:
        CheckpointError: the file is missing, not written by `torch.save`, holds anything but tensors and plain
            data, or is not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (expected a file written by torch.save)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # UnpicklingError, RuntimeError or others, depending on the damage
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path} safely with torch.load(weights_only=True): {reason}"
        ) from error
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} is not a training checkpoint (it holds a {type(checkpoint).__name__})")
    return checkpoint
