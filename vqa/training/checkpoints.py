"""Which checkpoint `vqa fit/validate/test/predict --ckpt_path` means, checked to fit the configured model.

Lightning looks for `--ckpt_path last` only in the checkpoint folder of the *new* run (a new logger version each
time), so a plain `vqa fit ... --ckpt_path last` after a kill would find nothing and start over; and a
checkpoint of another model fails deep inside `load_state_dict` with a list of tensor names. Here:

* `last` is the newest checkpoint under the run's folders (trainer root, logger folders, checkpoint folders)
  written by the same configuration. To resume (`fit`) that means the same model recipe, vocabulary and
  hyper-parameters: a run with another learning rate or schedule in the same folder is another run, not the one
  to continue. A resumed fit keeps writing its checkpoints into that checkpoint's folder, so "best" tracking
  continues.
* `best` (outside the fit that made it) is the best checkpoint recorded in the newest matching one. To
  validate, test or predict only the network and its vocabulary have to match: a training setting such as
  `--model.warmup_steps` does not change what the checkpoint computes.
* any checkpoint is read with `safe_load_checkpoint` (`torch.load(weights_only=True)`: nothing is unpickled)
  and rejected with a clear message when it belongs to another architecture or vocabulary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from vqa.training.checkpoint_file import MODEL_CONFIG_KEY, VOCAB_KEY, CheckpointError, safe_load_checkpoint
from vqa.training.module import VQALitModule

SPECIAL = ("last", "best")


def _plain(data: Any) -> Any:
    """`data` as JSON would give it back (tuples become lists), for comparisons."""
    return json.loads(json.dumps(data, sort_keys=True, default=str))


def _first_difference(saved: Any, current: Any, where: str = "") -> str:
    """'fusion.name: "late" (checkpoint) vs "early" (configured)': a part's name first, then its arguments."""
    if isinstance(saved, dict) and isinstance(current, dict):
        differing = [key for key in saved.keys() | current.keys() if saved.get(key) != current.get(key)]
        for key in sorted(differing, key=lambda k: (k not in ("name", "class_path"), str(k))):
            return _first_difference(saved.get(key), current.get(key), f"{where}.{key}" if where else str(key))
    text = lambda value: json.dumps(value)[:80]  # noqa: E731
    return f"{where or 'value'}: {text(saved)} (checkpoint) vs {text(current)} (configured)"


def mismatch(checkpoint: dict[str, Any], module: VQALitModule, hyper_parameters: bool = True) -> str | None:
    """Why `checkpoint` cannot continue or evaluate `module` (None when it fits).

    Args:
        checkpoint: the checkpoint's contents (`safe_load_checkpoint`).
        module: the configured module.
        hyper_parameters: also compare the module's hyper-parameters (learning rate, schedule, loss, ...): wanted
            to pick the run to resume, not to evaluate a network, which the recipe and vocabulary determine.
    """
    if MODEL_CONFIG_KEY not in checkpoint or VOCAB_KEY not in checkpoint:
        return "it is not a checkpoint of this toolkit's training (no model recipe and vocabulary)"
    model = getattr(module.model, "_orig_mod", module.model)
    pairs = [
        ("architecture differs", checkpoint[MODEL_CONFIG_KEY], model.config()),
        ("vocabulary differs", checkpoint[VOCAB_KEY], module.vocab.to_dict()),
    ]
    if hyper_parameters:
        pairs.append(("hyper-parameters differ", checkpoint.get("hyper_parameters", {}), dict(module.hparams)))
    for what, saved, current in pairs:
        saved, current = _plain(saved), _plain(current)
        if saved != current:
            return f"its {what}: {_first_difference(saved, current)}"
    return None


def search_folders(trainer: pl.Trainer) -> list[Path]:
    """Where this run's checkpoints may lie: checkpoint callbacks' folders, logger folders, the trainer root."""
    folders = [cb.dirpath for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint) and cb.dirpath]
    folders += [logger.save_dir for logger in trainer.loggers if logger.save_dir]
    folders.append(trainer.default_root_dir)
    unique: dict[str, Path] = {}
    for folder in folders:
        unique.setdefault(os.path.realpath(folder), Path(folder))
    return list(unique.values())


def newest_matching(
    trainer: pl.Trainer, module: VQALitModule, hyper_parameters: bool = True
) -> tuple[Path | None, dict[str, Any] | None, list[str]]:
    """The newest checkpoint of this configuration (path and contents), and notes on those that do not match.
    `hyper_parameters` as in `mismatch`."""
    found = {os.path.realpath(p): p for folder in search_folders(trainer) for p in Path(folder).rglob("*.ckpt")}
    notes = []
    for path in sorted(found.values(), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            checkpoint = safe_load_checkpoint(path)
        except CheckpointError as error:
            notes.append(str(error))
            continue
        reason = mismatch(checkpoint, module, hyper_parameters)
        if reason is None:
            return path, checkpoint, notes
        notes.append(f"{path}: {reason}")
    return None, None, notes


def resolve(ckpt_path: str | None, trainer: pl.Trainer, module: VQALitModule, stage: str) -> str | None:
    """The checkpoint file `--ckpt_path` names for `stage` ("fit", "validate", "test", "predict"), checked.

    Raises:
        CheckpointError: the file is unreadable or belongs to another model; no `best` checkpoint exists.
    """
    if ckpt_path is None or ckpt_path == "hpc":
        return ckpt_path
    if ckpt_path == "best" and stage != "fit" and getattr(trainer.checkpoint_callback, "best_model_path", ""):
        return ckpt_path  # the best checkpoint of a fit run in this process: Lightning knows it
    if ckpt_path in SPECIAL:
        return _resolve_special(ckpt_path, trainer, module, stage)
    checkpoint = safe_load_checkpoint(ckpt_path)
    reason = mismatch(checkpoint, module, hyper_parameters=False)
    if reason is not None:
        raise CheckpointError(f"checkpoint {ckpt_path} does not fit the configured model: {reason}")
    if stage == "fit" and (reason := mismatch(checkpoint, module)) is not None:
        rank_zero_warn(f"resuming from {ckpt_path}, whose {reason.removeprefix('its ')}")
    return ckpt_path


def _resolve_special(ckpt_path: str, trainer: pl.Trainer, module: VQALitModule, stage: str) -> str | None:
    # Resuming continues one run: its settings must match too. Evaluating needs only the same network.
    path, checkpoint, notes = newest_matching(trainer, module, hyper_parameters=stage == "fit")
    folders = ", ".join(str(f) for f in search_folders(trainer))
    other = f"; checkpoints of other configurations: {'; '.join(notes[:3])}" if notes else ""
    if path is None:
        if ckpt_path == "last" and stage == "fit":
            rank_zero_warn(
                f"--ckpt_path last: no checkpoint of this configuration under {folders}; "
                f"training starts from scratch{other}"
            )
            return None
        raise CheckpointError(f"--ckpt_path {ckpt_path}: no checkpoint of this configuration under {folders}{other}")
    if ckpt_path == "best":
        best = _best_recorded(checkpoint)
        if best is None or not Path(best).is_file():
            raise CheckpointError(
                f"--ckpt_path best: the newest checkpoint of this configuration, {path}, records no "
                f"existing best checkpoint ({best!r}); pass a checkpoint file instead"
            )
        path = Path(best)
    if stage == "fit":
        _continue_in(trainer, path.parent, checkpoint)
    step = checkpoint.get("global_step") if checkpoint is not None else None
    rank_zero_info(f"--ckpt_path {ckpt_path}: using {path} (epoch {checkpoint.get('epoch')}, global step {step})")
    return str(path)


def _best_recorded(checkpoint: dict[str, Any]) -> str | None:
    """The best checkpoint path recorded by a monitoring ModelCheckpoint in `checkpoint`."""
    for key, state in checkpoint.get("callbacks", {}).items():
        if str(key).startswith("ModelCheckpoint") and isinstance(state, dict) and state.get("monitor"):
            if state.get("best_model_path"):
                return str(state["best_model_path"])
    return None


def _continue_in(trainer: pl.Trainer, folder: Path, checkpoint: dict[str, Any]) -> None:
    """Checkpoint callbacks without a folder of their own keep writing next to the resumed checkpoint.

    Each gets the folder exactly as its saved state spells it (ModelCheckpoint restores its best-model tracking
    only when the folder is the same string), unless that spelling no longer leads there (a relative path
    resumed from another working directory).
    """
    states = checkpoint.get("callbacks", {})
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
            saved = (states.get(callback.state_key) or {}).get("dirpath")
            same = saved is not None and os.path.realpath(saved) == os.path.realpath(folder)
            callback.dirpath = saved if same else os.path.realpath(folder)
