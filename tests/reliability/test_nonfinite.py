"""A NaN loss stops training with a clear message naming the batch's questions, and no checkpoint is written
after it (so the newest checkpoint can be resumed)."""

from __future__ import annotations

import functools

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

import fusion
from vqa.models.encoders import ConvGridEncoder, GRUTextEncoder
from vqa.training.module import VQALitModule
from vqa.training.nonfinite import NonFiniteGuard, NonFiniteLossError


class Poisoned(VQALitModule):
    """Gives NaN logits for every batch that holds training question `poison`."""

    poison = -1

    def forward(self, batch):
        logits = super().forward(batch)
        if self.training:
            hit = (batch["index"] == self.poison).any()  # stays on the device: no sync
            logits = torch.where(hit, torch.full_like(logits, float("nan")), logits)
        return logits


def poisoned_module(datamodule, poison: int) -> Poisoned:
    module = Poisoned(
        functools.partial(fusion.LateFusion, out_dim=32),
        image_encoder=ConvGridEncoder(out_dim=32, channels=(8, 16, 32, 32)),
        text_encoder=functools.partial(GRUTextEncoder, embed_dim=16, hidden_dim=32),
        vocab=datamodule.vocab_dict,
        head_hidden=32,
        warmup_steps=1,
    )
    module.poison = poison
    return module


def first_batches(datamodule, count: int) -> list[list[int]]:
    return [batch["index"].tolist() for batch, _ in zip(datamodule.train_dataloader(), range(count))]


def test_guard_reads_the_device_only_every_n_steps():
    guard = NonFiniteGuard(every_n_steps=4, immediate=False)
    losses = [1.0, 2.0, float("nan"), float("inf")]
    due = [
        guard.update(torch.tensor(value), torch.tensor([10 * i, 10 * i + 1]), epoch=0, step=i)
        for i, value in enumerate(losses)
    ]
    assert due == [False, False, False, True]
    with pytest.raises(
        NonFiniteLossError,
        match=r"loss is nan at epoch 0, global step 2; the batch held the "
        r"questions \[20, 21\]",
    ):
        guard.check()
    guard.check()  # the window was consumed
    assert NonFiniteGuard(immediate=True).update(torch.tensor(1.0), torch.tensor([0]), 0, 0)


def _trainer(tmp_path, max_steps: int) -> pl.Trainer:
    return pl.Trainer(
        max_steps=max_steps,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        default_root_dir=tmp_path,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_top_k=-1, filename="{step}")],
    )


def test_nan_loss_stops_at_once_on_cpu_and_names_the_questions(tiny_datamodule, tmp_path):
    batches = first_batches(tiny_datamodule, 4)
    module = poisoned_module(tiny_datamodule, poison=batches[3][0])  # the 4th step (global step 3) goes bad
    trainer = _trainer(tmp_path, max_steps=8)
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit(module, datamodule=tiny_datamodule)
    message = str(info.value)
    assert "training loss is nan at epoch 0, global step 3" in message
    assert f"#{batches[3][0]} (question_id " in message and "of the train split" in message
    assert trainer.global_step == 3  # no optimizer step on the NaN
    saved = sorted(tmp_path.glob("*.ckpt"))
    assert [p.name for p in saved] == ["step=1.ckpt", "step=2.ckpt", "step=3.ckpt"]
    state = torch.load(saved[-1], weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_deferred_checks_still_never_save_a_bad_checkpoint(tiny_datamodule, tmp_path):
    batches = first_batches(tiny_datamodule, 4)
    module = poisoned_module(tiny_datamodule, poison=batches[2][0])
    module._finite_guard = NonFiniteGuard(every_n_steps=100, immediate=False)  # as on a GPU, reading rarely
    trainer = _trainer(tmp_path, max_steps=8)
    with pytest.raises(NonFiniteLossError, match="global step 2; the batch held the questions #"):
        trainer.fit(module, datamodule=tiny_datamodule)
    # Step 2 ran on NaN (not checked yet); saving after it checked first and refused.
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == ["step=1.ckpt", "step=2.ckpt"]
    state = torch.load(tmp_path / "step=2.ckpt", weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
