"""Run by tests/reliability/test_ddp.py: train, validate, test and predict a tiny model with Lightning DDP on
2 CPU processes (gloo), recording which questions each process saw; then the two failures the processes must
meet together: a NaN loss on one process only, and a split with fewer questions than processes.

    python tests/reliability/ddp_run.py OUT_DIR DATA_DIR

Lightning's "ddp" strategy starts the second process by running this script again. Every process writes
OUT_DIR/rank<r>.json (question indices per stage, a digest of its trained weights, what each failure raised
there); process 0 also writes OUT_DIR/metrics.json and the trained weights OUT_DIR/model.ckpt.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import lightning.pytorch as pl
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.reliability.test_nonfinite import poisoned_module  # noqa: E402
from tests.training.test_training import tiny_module  # noqa: E402
from vqa.data import JSONLSource, VQADataModule  # noqa: E402
from vqa.data.dataset import ImageGroupedBatchSampler  # noqa: E402
from vqa.data.sources.base import DatasetError  # noqa: E402
from vqa.training.callbacks import PredictionWriter  # noqa: E402
from vqa.training.nonfinite import NonFiniteLossError  # noqa: E402

BATCH_SIZE = 10  # 96 training questions -> 10 batches, 5 per process
EVAL_BATCH_SIZE = 4
SPLITS = {"train": (24, 4), "val": (13, 1), "test": (11, 1)}  # images, questions per image: odd evaluation splits
COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
SHAPES = ("square", "disc")


def make_dataset(folder: Path) -> None:
    """A small JSONL dataset of coloured squares and discs (deterministic)."""
    from PIL import Image, ImageDraw

    (folder / "images").mkdir(parents=True, exist_ok=True)
    image = 0
    for split, (images, per_image) in SPLITS.items():
        lines = []
        for _ in range(images):
            color, shape = list(COLORS)[image % 3], SHAPES[(image // 3) % 2]
            picture = Image.new("RGB", (32, 32), (255, 255, 255))
            draw = ImageDraw.Draw(picture)
            (draw.rectangle if shape == "square" else draw.ellipse)((6, 6, 26, 26), fill=COLORS[color])
            picture.save(folder / "images" / f"{image}.png")
            questions = [
                ("What color is it?", color),
                ("What shape is it?", shape),
                ("Is it red?", "yes" if color == "red" else "no"),
                ("Is it a disc?", "yes" if shape == "disc" else "no"),
            ]
            for k, (question, answer) in enumerate(questions[:per_image]):
                lines.append(
                    json.dumps(
                        {
                            "image": f"images/{image}.png",
                            "question": question,
                            "answers": [answer],
                            "id": f"{split}-{image}-{k}",
                        }
                    )
                )
            image += 1
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
        if split == "val":  # a validation split with one question: fewer than the 2 processes
            (folder / "val_one.jsonl").write_text(lines[0] + "\n")


def datamodule(data_dir: str, val: str = "val") -> VQADataModule:
    folder = Path(data_dir)
    files = {split: str(folder / f"{split}.jsonl") for split in SPLITS}
    files["val"] = str(folder / f"{val}.jsonl")
    return VQADataModule(
        JSONLSource(**files, image_size=(32, 32)), batch_size=BATCH_SIZE, eval_batch_size=EVAL_BATCH_SIZE
    )


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer, by name: equal digests mean bit-identical weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Seen(pl.Callback):
    """The question indices of every batch, per stage."""

    def __init__(self) -> None:
        self.seen: dict[str, list[list[int]]] = {
            "train": [],
            "fit/val": [],
            "validate/val": [],
            "test": [],
            "predict": [],
        }

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen["train"].append(batch["index"].tolist())

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self.seen[f"{trainer.state.fn.value}/val"].append(batch["index"].tolist())

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self.seen["test"].append(batch["index"].tolist())

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self.seen["predict"].append(batch["index"].tolist())


def ddp_trainer(**kwargs) -> pl.Trainer:
    options = dict(
        strategy="ddp",
        accelerator="cpu",
        devices=2,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    return pl.Trainer(**{**options, **kwargs})


def nan_on_process_1(data_dir: str) -> dict:
    """Train with NaN logits on the second batch of process 1 only; returns what this process raised and where."""
    data = datamodule(data_dir)
    data.setup("fit")
    batches = list(
        ImageGroupedBatchSampler(data.dataset("train").image_index, BATCH_SIZE, seed=data.seed, num_replicas=2, rank=1)
    )
    module = poisoned_module(data, poison=batches[1][0])
    trainer = ddp_trainer(limit_val_batches=0)
    try:
        trainer.fit(module, datamodule=data)
    except NonFiniteLossError as error:
        return {"error": str(error), "global_step": trainer.global_step}
    return {"error": None, "global_step": trainer.global_step}


def too_few_questions(data_dir: str, module: pl.LightningModule) -> str | None:
    """Validate on a one-question split with 2 processes; returns the message this process raised, if any."""
    try:
        ddp_trainer().validate(module, datamodule=datamodule(data_dir, val="val_one"), verbose=False)
    except DatasetError as error:
        return str(error)
    return None


def main(out: Path, data_dir: str) -> None:
    torch.set_num_threads(1)
    pl.seed_everything(0)
    if not (Path(data_dir) / "test.jsonl").exists():  # the first process writes it before the second starts
        make_dataset(Path(data_dir))
    data = datamodule(data_dir)
    module = tiny_module(data)
    seen = Seen()
    trainer = ddp_trainer(callbacks=[seen, PredictionWriter(str(out / "predictions.jsonl"))])
    trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(out / "model.ckpt")
    record: dict = {"weights": weights_digest(module)}
    metrics = {"fit": {k: float(v) for k, v in trainer.callback_metrics.items()}}
    metrics["validate"] = trainer.validate(module, datamodule=data, verbose=False)[0]
    metrics["test"] = trainer.test(module, datamodule=data, verbose=False)[0]
    trainer.predict(module, datamodule=data, return_predictions=False)
    record["nonfinite"] = nan_on_process_1(data_dir)
    record["too_few_questions"] = too_few_questions(data_dir, module)
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps({**seen.seen, **record}))
    if trainer.global_rank == 0:
        (out / "metrics.json").write_text(json.dumps({"world_size": trainer.world_size, **metrics}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
