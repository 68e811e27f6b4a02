"""Checkpoints and model bundles: identical logits after a round trip, no unpickling, clear rejections."""

from __future__ import annotations

import json
import pickle
import shutil
from collections import OrderedDict

import pytest
import torch

import vqa
from fusion import LateFusion
from vqa.data.vocab import AnswerVocab, Vocabulary
from vqa.inference.bundle import (
    BUNDLE_FILES,
    BundleError,
    TrainedModel,
    export_checkpoint,
    read_bundle,
    read_checkpoint,
    read_model,
    write_bundle,
)
from vqa.models.encoders import ConvGridEncoder, GRUTextEncoder
from vqa.models.model import VQAModel
from vqa.training.checkpoint_file import CheckpointError


def test_checkpoint_holds_plain_data_and_the_training_image_size(trained):
    checkpoint = torch.load(trained.checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["vqa_vocab"]["image_size"] == [75, 75]  # Sort-of-CLEVR images are 75x75
    assert read_checkpoint(trained.checkpoint).vocab.image_size == (75, 75)


def test_round_trip_gives_identical_logits(trained, bundle_dir):
    questions = trained.questions[:3] + ["is there a circle?"]
    images = trained.image_files[:2] * 2
    ids, mask = trained.datamodule.vocab.tokenizer.encode(questions)
    pixels = torch.stack([trained.datamodule.split("test").images.get(torch.tensor([i]))[0] for i in (0, 1, 0, 1)])
    with torch.no_grad():
        expected = trained.module.model(pixels, ids, mask)  # the model as it left training
    from_checkpoint = vqa.load(trained.checkpoint, device="cpu").logits(images, questions)
    from_bundle = vqa.load(bundle_dir, device="cpu").logits(images, questions)
    assert torch.equal(from_checkpoint, from_bundle)
    torch.testing.assert_close(from_checkpoint, expected, rtol=0, atol=1e-5)  # per-batch padding trim only
    assert sorted(p.name for p in bundle_dir.iterdir()) == sorted(BUNDLE_FILES)


def test_compiled_model_checkpoint_keys_are_understood(trained, tmp_path):
    checkpoint = torch.load(trained.checkpoint, map_location="cpu", weights_only=True)
    checkpoint["state_dict"] = OrderedDict(
        (key.replace("model.", "model._orig_mod.", 1), value) for key, value in checkpoint["state_dict"].items()
    )
    compiled = tmp_path / "compiled.ckpt"
    torch.save(checkpoint, compiled)
    images, questions = trained.image_files[:1], trained.questions[:1]
    assert torch.equal(
        vqa.load(compiled, device="cpu").logits(images, questions),
        vqa.load(trained.checkpoint, device="cpu").logits(images, questions),
    )


def test_reading_a_bundle_never_unpickles(bundle_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a bundle must load without pickle")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    assert read_bundle(bundle_dir).vocab.image_size == (75, 75)


def test_export_is_atomic_and_never_clobbers(trained, tmp_path, monkeypatch):
    out = tmp_path / "model"
    export_checkpoint(trained.checkpoint, out)
    with pytest.raises(BundleError, match="already exists"):
        export_checkpoint(trained.checkpoint, out)
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "todo.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a model bundle"):
        export_checkpoint(trained.checkpoint, stranger, overwrite=True)
    assert (stranger / "todo.txt").read_text() == "keep me"

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("vqa.inference.bundle.save_file", disk_full)
    with pytest.raises(OSError):
        export_checkpoint(trained.checkpoint, tmp_path / "fresh")
    with pytest.raises(OSError):
        export_checkpoint(trained.checkpoint, out, overwrite=True)
    assert not (tmp_path / "fresh").exists()  # absent, not half written
    assert read_bundle(out).vocab.image_size == (75, 75)  # the old bundle survived intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "notes"]  # no staging leftovers
    monkeypatch.undo()
    export_checkpoint(trained.checkpoint, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(BUNDLE_FILES)


def _other_model_bundle(trained, tmp_path, *, answers=None, head_dropout=0.2, fusion=None):
    """A bundle of a differently built or differently trained model, for mixing files."""
    vocab = trained.datamodule.vocab
    other_vocab = Vocabulary(
        vocab.tokenizer, AnswerVocab(answers or vocab.answers.answers), vocab.groups, vocab.image_size
    )
    image, text = (
        ConvGridEncoder(out_dim=32, channels=(8, 16, 32)),
        GRUTextEncoder(vocab.tokenizer.vocab_size, embed_dim=16, hidden_dim=32),
    )
    fusion = fusion or trained.module.model.fusion
    model = VQAModel(image, text, fusion, len(other_vocab.answers), head_hidden=32, head_dropout=head_dropout)
    return write_bundle(TrainedModel(model, other_vocab), tmp_path / "other")


@pytest.mark.parametrize(
    "variant, swapped, message",
    [
        ("reordered answers", "vocab.json", "vocab.json does not belong to"),
        ("more answers", "vocab.json", "vocab.json does not belong to"),
        ("other head dropout", "config.json", "config.json does not belong to"),
        ("late fusion", "config.json", "config.json does not belong to"),
    ],
)
def test_files_mixed_from_another_model_are_rejected(trained, bundle_dir, tmp_path, variant, swapped, message):
    answers = trained.datamodule.vocab.answers.answers
    kwargs = {
        "reordered answers": dict(answers=answers[::-1]),  # same shapes: only the fingerprint can tell
        "more answers": dict(answers=answers + ["purple"]),
        "other head dropout": dict(head_dropout=0.5),  # same shapes again
        "late fusion": dict(fusion=LateFusion(32, 32, out_dim=32)),
    }[variant]
    other = _other_model_bundle(trained, tmp_path, **kwargs)
    mixed = tmp_path / "mixed"
    shutil.copytree(bundle_dir, mixed)
    shutil.copy(other / swapped, mixed / swapped)
    with pytest.raises(BundleError, match=message):
        read_bundle(mixed)


def test_structural_mismatch_is_named_even_without_fingerprints(trained, bundle_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    mixed = tmp_path / "mixed"
    shutil.copytree(bundle_dir, mixed)
    config = json.loads((mixed / "config.json").read_text())
    config["model"]["head_hidden"] = 64
    (mixed / "config.json").write_text(json.dumps(config))
    save_file(load_file(mixed / "model.safetensors"), mixed / "model.safetensors")  # no metadata
    with pytest.raises(BundleError, match=r"do not fit the architecture.*wrong shape.*head\.0\.weight"):
        read_bundle(mixed)
    vocab = json.loads((mixed / "vocab.json").read_text())
    vocab["answers"].append("purple")
    (mixed / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(BundleError, match="has 11 answers but the model was built for 10"):
        read_bundle(mixed)


class Payload:
    """Not plain data: `torch.load(weights_only=True)` must refuse it."""


def test_unreadable_or_foreign_model_files_give_clear_errors(trained, bundle_dir, tmp_path):
    with pytest.raises(BundleError, match="model not found"):
        read_model(tmp_path / "missing.ckpt")
    image = trained.image_files[0]
    with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint"):
        read_model(image)
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(BundleError, match="lacks the model recipe"):
        read_model(plain)
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"vqa_model_config": Payload(), "vqa_vocab": {}, "state_dict": {}}, unsafe)
    with pytest.raises(CheckpointError, match=r"safely with torch.load\(weights_only=True\)"):
        read_model(unsafe)
    incomplete = tmp_path / "incomplete"
    shutil.copytree(bundle_dir, incomplete)
    (incomplete / "vocab.json").unlink()
    with pytest.raises(BundleError, match="missing vocab.json"):
        read_model(incomplete)
    (incomplete / "vocab.json").write_text("{not json")
    with pytest.raises(BundleError, match="cannot read .*vocab.json"):
        read_model(incomplete)
    config = json.loads((bundle_dir / "config.json").read_text())
    config["format_version"] = 99
    (incomplete / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="format version 99 is not supported"):
        read_model(incomplete)
