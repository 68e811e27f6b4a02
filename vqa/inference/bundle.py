"""Trained models on disk: reading Lightning checkpoints, and model bundles that load without unpickling.

A model bundle is a directory of three files:

    config.json        how to rebuild the network (registered part names + constructor arguments) and how its
                       logits become probabilities
    vocab.json         tokenizer, answer list, breakdown groups and training image size (`Vocabulary.to_dict()`)
    model.safetensors  the weights, with fingerprints of the two JSON files in its metadata

Reading a bundle parses JSON and safetensors only, so a bundle shared by someone else cannot run code.
Checkpoints are read with `vqa.training.checkpoint_file.safe_load_checkpoint` (`torch.load(weights_only=True)`),
which refuses anything but tensors and plain data. Nothing here imports Lightning or torchmetrics.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from vqa import __version__
from vqa.data.vocab import Vocabulary
from vqa.errors import VQAError
from vqa.models.answer_tokens import AnswerTokens
from vqa.models.model import VQAModel
from vqa.training.checkpoint_file import MODEL_CONFIG_KEY, VOCAB_KEY, CheckpointError, safe_load_checkpoint

BUNDLE_FORMAT = "vqa-fusion-bundle"
BUNDLE_VERSION = 1
CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE = "config.json", "vocab.json", "model.safetensors"
BUNDLE_FILES = (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE)

Scores = Literal["sigmoid", "softmax", "likelihood"]
# How the training loss turns logits into answer probabilities (see `VQALitModule.compute_loss`); a generator
# head's scores are log-likelihoods whatever the loss setting ("likelihood").
SCORES_OF_LOSS: dict[str, Scores] = {"bce": "sigmoid", "ce": "softmax"}
SCORE_KINDS = ("sigmoid", "softmax", "likelihood")


class BundleError(CheckpointError):
    """A model bundle is missing, unreadable, incomplete or inconsistent, or a checkpoint lacks what a model needs;
    the message names the file. (A checkpoint file that cannot be read safely raises the base `CheckpointError`.)"""


@dataclass
class TrainedModel:
    """A trained network with what it needs to answer questions.

    Attributes:
        model: the network, in eval mode, on the CPU.
        vocab: its vocabulary (tokenizer, answers, training image size).
        scores: "sigmoid" (trained with binary cross-entropy: each answer scored on its own), "softmax", or
            "likelihood" (a generator head: each answer's log-likelihood).
    """

    model: VQAModel
    vocab: Vocabulary
    scores: Scores = "sigmoid"


def read_model(path: str | os.PathLike) -> TrainedModel:
    """Read a Lightning checkpoint file or a model bundle directory."""
    path = Path(path)
    if path.is_dir():
        return read_bundle(path)
    if path.is_file():
        return read_checkpoint(path)
    raise BundleError(f"model not found: {path} (expected a checkpoint file or a model bundle directory)")


# ---- checkpoints ---------------------------------------------------------------------------------------------


def model_state_from_checkpoint(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """The `VQAModel` weights inside a `VQALitModule` state dict: keys under `model.`, with the `_orig_mod.`
    level that `torch.compile` inserts removed."""
    state = {}
    for key, value in state_dict.items():
        if key.startswith("model."):
            state[key.removeprefix("model.").removeprefix("_orig_mod.")] = value
    return state


def read_checkpoint(path: str | os.PathLike) -> TrainedModel:
    """Rebuild the trained model from a checkpoint written by `vqa fit` (or `Trainer.save_checkpoint`).

    The file is read with `safe_load_checkpoint` (`torch.load(weights_only=True)`): only tensors and plain Python
    data are accepted.

    Raises:
        CheckpointError: the file is missing, not a PyTorch checkpoint, or holds objects other than plain data.
        BundleError: the checkpoint lacks the model recipe and vocabulary the toolkit's training stores, or they
            do not fit its weights.
    """
    checkpoint = safe_load_checkpoint(path)
    if not {MODEL_CONFIG_KEY, VOCAB_KEY, "state_dict"} <= checkpoint.keys():
        raise BundleError(
            f"{path} is not a checkpoint of this toolkit's training: it lacks the model recipe "
            f"({MODEL_CONFIG_KEY!r}) and vocabulary ({VOCAB_KEY!r}) that `vqa fit` saves"
        )
    loss = checkpoint.get("hyper_parameters", {}).get("loss", "bce")
    if loss not in SCORES_OF_LOSS:
        raise BundleError(f"{path}: unknown training loss {loss!r}; expected one of {sorted(SCORES_OF_LOSS)}")
    where = f"checkpoint {path}"
    vocab = _vocab_from_dict(checkpoint[VOCAB_KEY], where)
    model = _build_model(checkpoint[MODEL_CONFIG_KEY], vocab, where)
    _load_weights(model, model_state_from_checkpoint(checkpoint["state_dict"]), where)
    return TrainedModel(model, vocab, "likelihood" if model.decoder is not None else SCORES_OF_LOSS[loss])


# ---- bundles -------------------------------------------------------------------------------------------------


def fingerprint(data: Any) -> str:
    """SHA-256 of the canonical JSON form of `data`."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _as_json(data: Any, what: str) -> Any:
    """`data` after a JSON round trip (tuples become lists), so fingerprints match what a reader sees."""
    try:
        return json.loads(json.dumps(data, ensure_ascii=False))
    except (TypeError, ValueError) as error:
        raise BundleError(f"the {what} holds a value JSON cannot store: {error}") from error


def write_bundle(trained: TrainedModel, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `trained` as a model bundle directory, atomically.

    The files are written into a temporary sibling directory which is then renamed to `out_dir`, so `out_dir`
    is either a complete bundle or absent, never half written.

    Args:
        trained: the model, vocabulary and score function to save.
        out_dir: the bundle directory to create.
        overwrite: replace an existing bundle at `out_dir` (anything else there is never deleted).

    Returns:
        the bundle directory.
    """
    out = Path(out_dir)
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise BundleError(f"{out} already exists; choose another directory or pass overwrite (--overwrite)")
        if not out.is_dir() or not (out / CONFIG_FILE).is_file() and any(out.iterdir()):
            raise BundleError(f"refusing to replace {out}: it exists and is not a model bundle")
    model_config = _as_json(trained.model.config(), "model config")
    vocab = _as_json(trained.vocab.to_dict(), "vocabulary")
    config = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "toolkit_version": __version__,
        "scores": trained.scores,
        "model": model_config,
    }
    metadata = {
        "format": BUNDLE_FORMAT,
        "format_version": str(BUNDLE_VERSION),
        "config_sha256": fingerprint(model_config),
        "vocab_sha256": fingerprint(vocab),
    }
    weights = {key: value.detach().cpu().contiguous() for key, value in trained.model.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / VOCAB_FILE).write_text(json.dumps(vocab, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        save_file(weights, str(staging / WEIGHTS_FILE), metadata=metadata)
        for name in BUNDLE_FILES:
            with open(staging / name, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(staging / name, 0o644)
        os.chmod(staging, 0o755)  # mkdtemp (and the safetensors writer) create them private; bundles are shared
        _move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename the finished `staging` directory to `out`; an old bundle there is moved aside first, then removed."""
    if not out.exists():
        os.replace(staging, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    try:
        os.replace(staging, out)
    except OSError:
        os.replace(old / out.name, out)  # put the previous bundle back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def export_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Turn a training checkpoint into a model bundle directory (see `write_bundle`)."""
    return write_bundle(read_checkpoint(checkpoint), out_dir, overwrite)


def read_bundle(path: str | os.PathLike) -> TrainedModel:
    """Rebuild a trained model from a bundle directory; reads JSON and safetensors only (nothing is unpickled).

    Raises:
        BundleError: a file is missing or malformed, or the files do not belong together (a vocabulary or
            architecture other than the one the weights were saved with).
    """
    path = Path(path)
    missing = [name for name in BUNDLE_FILES if not (path / name).is_file()]
    if missing:
        raise BundleError(
            f"{path} is not a complete model bundle: missing {', '.join(missing)} (a bundle holds "
            f"{', '.join(BUNDLE_FILES)}; write one with `vqa export CHECKPOINT {path}`)"
        )
    config = _read_json(path / CONFIG_FILE)
    if not isinstance(config, dict) or config.get("format") != BUNDLE_FORMAT or "model" not in config:
        raise BundleError(f"{path / CONFIG_FILE} is not a model bundle config (expected format {BUNDLE_FORMAT!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or version > BUNDLE_VERSION:
        raise BundleError(
            f"{path / CONFIG_FILE}: bundle format version {version!r} is not supported by this toolkit "
            f"(it reads versions up to {BUNDLE_VERSION}); upgrade the toolkit"
        )
    scores = config.get("scores", "sigmoid")
    if scores not in SCORE_KINDS:
        raise BundleError(f"{path / CONFIG_FILE}: 'scores' must be one of {list(SCORE_KINDS)}, got {scores!r}")
    vocab_data = _read_json(path / VOCAB_FILE)
    weights_path = path / WEIGHTS_FILE
    try:
        with safe_open(str(weights_path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        weights = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise BundleError(f"cannot read weights {weights_path}: {error}") from error
    # The fingerprints catch files mixed from different bundles even when every shape happens to agree.
    if metadata.get("config_sha256") not in (None, fingerprint(config["model"])):
        raise BundleError(
            f"{path / CONFIG_FILE} does not belong to {weights_path}: the weights were saved with a different "
            "architecture; re-export the bundle from its checkpoint"
        )
    if metadata.get("vocab_sha256") not in (None, fingerprint(vocab_data)):
        raise BundleError(
            f"{path / VOCAB_FILE} does not belong to {weights_path}: the weights were trained with a different "
            "vocabulary (other words, answers or image size); re-export the bundle from its checkpoint"
        )
    where = f"bundle {path}"
    vocab = _vocab_from_dict(vocab_data, where)
    model = _build_model(config["model"], vocab, where)
    _load_weights(model, weights, where)
    return TrainedModel(model, vocab, scores)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"cannot read {path}: {error}") from error


# ---- shared checks -------------------------------------------------------------------------------------------


def _vocab_from_dict(data: Any, where: str) -> Vocabulary:
    try:
        return Vocabulary.from_dict(data)
    except (ValueError, VQAError) as error:
        raise BundleError(f"{where}: invalid vocabulary: {error}") from error


def _build_model(config: Any, vocab: Vocabulary, where: str) -> VQAModel:
    """Rebuild the network from its recipe, after checking the vocabulary fits it."""
    if not isinstance(config, dict):
        raise BundleError(f"{where}: the model config must be a JSON object")
    num_answers = config.get("num_answers")
    if num_answers != len(vocab.answers):
        raise BundleError(
            f"{where}: the vocabulary has {len(vocab.answers)} answers but the model was built for {num_answers}; "
            "the vocabulary belongs to a different model"
        )
    text_vocab_size = config.get("text_encoder", {}).get("init_args", {}).get("vocab_size")
    if text_vocab_size is not None and text_vocab_size != vocab.tokenizer.vocab_size:
        raise BundleError(
            f"{where}: the tokenizer has {vocab.tokenizer.vocab_size} tokens but the text encoder was built for "
            f"{text_vocab_size}; the vocabulary belongs to a different model"
        )
    decoder_vocab_size = (config.get("decoder") or {}).get("vocab_size")
    answer_tokens = None if decoder_vocab_size is None else len(AnswerTokens.for_vocabulary(vocab))
    if decoder_vocab_size is not None and decoder_vocab_size != answer_tokens:
        raise BundleError(
            f"{where}: the vocabulary gives {answer_tokens} answer tokens but the answer decoder was built for "
            f"{decoder_vocab_size}; the vocabulary belongs to a different model"
        )
    try:
        return VQAModel.from_config(config).eval()
    except (ValueError, VQAError) as error:
        raise BundleError(f"{where}: cannot rebuild the model: {error}") from error


def _load_weights(model: VQAModel, state: dict[str, Tensor], where: str) -> None:
    """Load `state` into `model` strictly, naming what does not fit."""
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    wrong = [
        f"{key} {list(state[key].shape)} vs {list(own[key].shape)}"
        for key in own
        if key in state and state[key].shape != own[key].shape
    ]
    problems = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape (saved vs built)", wrong)):
        if names:
            problems.append(f"{len(names)} {label}, e.g. {', '.join(names[:3])}")
    if problems:
        raise BundleError(
            f"{where}: the weights do not fit the architecture in its config (a different architecture?): "
            + "; ".join(problems)
        )
    model.load_state_dict(state)
