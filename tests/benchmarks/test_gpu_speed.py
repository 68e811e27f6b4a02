"""The fast path on a CUDA GPU (run with `pytest -m gpu`; skipped without a GPU)."""

import pytest
import torch

from tests.conftest import TINY_CONFIG
from tests.training.test_fast_path import DtypeProbe, tiny_module, trainer
from vqa.benchmarks.speed import main

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


class NoDeviceSyncs(DtypeProbe):
    """From the second step to the end of the epoch, CUDA reports every synchronizing call as an error."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 1:
            torch.cuda.set_sync_debug_mode("error")

    def on_train_epoch_end(self, trainer, pl_module):
        torch.cuda.set_sync_debug_mode("default")


def test_lightning_training_steps_do_not_synchronize_the_gpu(tiny_datamodule, tmp_path):
    probe = NoDeviceSyncs()
    try:
        trainer(
            tmp_path,
            [probe],
            accelerator="gpu",
            devices=1,
            max_epochs=1,
            precision="bf16-mixed",
            enable_progress_bar=True,
            gradient_clip_val=1.0,
        ).fit(tiny_module(tiny_datamodule), datamodule=tiny_datamodule)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert set(probe.logits_dtypes) == {torch.bfloat16}
    assert torch.isfinite(torch.stack(probe.losses)).all()


def test_speed_benchmark_runs_compiled_in_bf16_on_the_gpu(tmp_path):
    report = main(
        [
            "-c",
            str(TINY_CONFIG),
            f"--data.source.init_args.cache_dir={tmp_path}",
            "--device",
            "cuda",
            "--precision",
            "bf16",
            "--compile",
            "--batch-sizes",
            "16",
            "64",
            "--steps",
            "5",
            "--warmup",
            "3",
        ]
    )
    assert all(row["loss_finite"] and row["train_samples_per_s"] > 0 for row in report["rows"])
    assert report["rows"][0]["train_peak_gib"] > 0
