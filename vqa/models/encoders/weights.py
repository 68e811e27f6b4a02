"""Reading a state_dict file (safetensors, or a PyTorch file read without unpickling code) into a module."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn

from vqa.errors import VQAError
from vqa.models.encoders.paths import PretrainedNotFoundError, resolve_pretrained


class WeightsMismatchError(VQAError, ValueError):
    """A weights file does not fit the module it is loaded into; the message lists the differing keys."""


def read_state_dict(location: str) -> dict[str, Tensor]:
    """Tensors of a `.safetensors` file, or of a `torch.save`d state_dict (loaded with `weights_only=True`).

    A checkpoint dict that keeps its weights under "state_dict" is unwrapped.

    Raises:
        PretrainedNotFoundError: the file does not exist.
        WeightsMismatchError: the file holds no state_dict.
    """
    path = Path(resolve_pretrained(location))
    if not path.is_file():
        raise PretrainedNotFoundError(f"weights file not found: {location!r}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling refused or a corrupt file: say which file
        raise WeightsMismatchError(f"cannot read {path} as a state_dict: {error}") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsMismatchError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    return state


def load_weights(module: nn.Module, state: dict[str, Tensor], source: str, ignore: Iterable[str] = ()) -> None:
    """Load `state` into `module` strictly (after dropping keys starting with any of `ignore`).

    Raises:
        WeightsMismatchError: keys or shapes differ (the first few of each are named).
    """
    prefixes = tuple(ignore)
    state = {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        parts = [
            f"{label} ({len(keys)}): {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape))
            if keys
        ]
        raise WeightsMismatchError(f"weights {source!r} do not fit {type(module).__name__}: " + "; ".join(parts))
    module.load_state_dict(state)
