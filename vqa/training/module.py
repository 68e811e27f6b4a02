"""The LightningModule: builds the model from its parts, trains it with soft-target BCE, reports accuracy."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric

from fusion.base import Fused, Fusion
from vqa.data.vocab import Vocabulary
from vqa.evaluation.metrics import (
    GroupAccuracy,
    VQAAccuracy,
    class_scores,
    generated_classes,
    predicted_scores,
    score_outside_vocabulary,
)
from vqa.models.answer_decoder import AnswerDecoder
from vqa.models.answer_tokens import AnswerTokens
from vqa.models.decoding import BOS_ID, PAD_ID
from vqa.models.encoders.base import ImageEncoder, TextEncoder
from vqa.models.encoders.image import ConvGridEncoder
from vqa.models.encoders.text import GRUTextEncoder
from vqa.models.model import VQAModel
from vqa.training.checkpoint_file import MODEL_CONFIG_KEY, RNG_KEY, VOCAB_KEY
from vqa.training.nonfinite import NonFiniteGuard, NonFiniteLossError, failure_message
from vqa.training.rng import rng_state, set_rng_state

# Learned tokens that, like biases and embeddings, get no weight decay.
NO_DECAY_LEAVES = ("cls", "modality", "cls_token", "class_embedding", "register_tokens", "memory_type")


def soft_targets(answer_ids: Tensor, answer_scores: Tensor, num_answers: int) -> Tensor:
    """Dense soft targets [B, A] from the sparse form ([B, K] ids and scores); built on the device."""
    dense = answer_scores.new_zeros(answer_ids.shape[0], num_answers)
    return dense.scatter_add_(1, answer_ids, answer_scores)  # padding adds 0


def _world_size() -> int:
    """Processes of the initialized process group (1 without one)."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_world_size() if distributed else 1


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to `min_ratio` at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class VQALitModule(pl.LightningModule):
    """Trains a `VQAModel`.

    The vocabulary (tokenizer, answers, breakdown groups) comes from the datamodule; the CLI links it in as
    `vocab`, and it is stored in every checkpoint, so a checkpoint alone rebuilds a working model.

    Args:
        fusion: fusion factory, called with (image width, text width); e.g. `fusion.CrossAttentionFusion`.
        image_encoder: the image encoder (default: `ConvGridEncoder()`).
        text_encoder: text encoder factory, called with the tokenizer's vocabulary size (default: BiGRU).
        vocab: the vocabulary as a dict (`Vocabulary.to_dict()`), linked from the datamodule.
        head_hidden: hidden width of the classifier head (0 = a single linear layer, for decision-level fusion).
        head_dropout: dropout in the classifier head.
        head: `classifier` (scores the training answers) or `generator` (an `AnswerDecoder` writes the answer word
            by word, cross-attending to the fusion's joint vector and streams; trained with teacher forcing, each
            human answer weighted by its VQA score).
        decoder_dim: generator: decoder width.
        decoder_layers: generator: decoder layers.
        decoder_heads: generator: attention heads.
        decoder_dropout: generator: dropout in the decoder.
        answer_max_length: generator: most words per answer (a longer training answer is an error, not cut).
        decoding: generator: how validation and test answers are produced: `greedy`, `beam` or `rank` (choose
            among the training answers by likelihood).
        num_beams: generator: beams of `decoding: beam`.
        loss: `bce` (binary cross-entropy on VQA soft scores, the standard) or `ce` (softmax cross-entropy
            on the soft scores normalized to sum to 1).
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay (not applied to biases, norms, embeddings).
        betas: AdamW betas.
        image_encoder_lr_multiplier: the image encoder learns at `lr` times this (0 freezes it in effect).
        text_encoder_lr_multiplier: the text encoder learns at `lr` times this.
        layer_lr_decay: layer-wise learning-rate decay inside pretrained encoders: each layer below the top
            learns at this factor times the layer above it (embeddings lowest); 1.0 = the same rate for all.
        warmup_steps: linear warm-up steps (at most a tenth of training); then a cosine decay.
        min_lr_ratio: final learning rate as a fraction of `lr`.
        compile: wrap the model in `torch.compile`.
        cache_image_features: when the image encoder is frozen, compute its tokens once per image into the
            datamodule's feature cache and train on those (see `vqa.data.feature_cache`).
        nonfinite_check_interval: on an accelerator, steps between checks that the training loss is finite
            (one host-device sync each; see `vqa.training.nonfinite.NonFiniteGuard`); on the CPU every step is checked.
            Training stops at the first NaN or infinite loss, naming the batch's questions.
    """

    def __init__(
        self,
        fusion: Callable[[int, int], Fusion],
        image_encoder: ImageEncoder | None = None,
        text_encoder: Callable[[int], TextEncoder] = GRUTextEncoder,
        vocab: dict[str, Any] | None = None,
        head_hidden: int = 1024,
        head_dropout: float = 0.2,
        head: Literal["classifier", "generator"] = "classifier",
        decoder_dim: int = 256,
        decoder_layers: int = 2,
        decoder_heads: int = 4,
        decoder_dropout: float = 0.1,
        answer_max_length: int = 10,
        decoding: Literal["greedy", "beam", "rank"] = "greedy",
        num_beams: int = 3,
        loss: Literal["bce", "ce"] = "bce",
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.98),
        image_encoder_lr_multiplier: float = 1.0,
        text_encoder_lr_multiplier: float = 1.0,
        layer_lr_decay: float = 1.0,
        warmup_steps: int = 200,
        min_lr_ratio: float = 0.01,
        compile: bool = False,
        cache_image_features: bool = True,
        nonfinite_check_interval: int = 16,
    ) -> None:
        super().__init__()
        if vocab is None:
            raise ValueError(
                "VQALitModule needs the vocabulary of its data: the `vqa` CLI links it from the datamodule; "
                "in Python pass vocab=datamodule.vocab_dict"
            )
        self.save_hyperparameters(ignore=["fusion", "image_encoder", "text_encoder", "vocab"])
        self.vocab = Vocabulary.from_dict(vocab)
        image_encoder = image_encoder if image_encoder is not None else ConvGridEncoder()
        text = text_encoder(self.vocab.tokenizer.vocab_size)
        fusion_module = fusion(image_encoder.out_dim, text.out_dim)
        decoder, answer_table = None, None
        if head == "generator":
            tokens = AnswerTokens.for_vocabulary(self.vocab)
            answer_table = tokens.table(self.vocab.answers.answers, answer_max_length)
            decoder = AnswerDecoder(
                len(tokens),
                fusion_module.out_dim,
                fusion_module.stream_dim,
                dim=decoder_dim,
                num_layers=decoder_layers,
                num_heads=decoder_heads,
                dropout=decoder_dropout,
                max_length=answer_max_length,
            )
        self.model = VQAModel(
            image_encoder,
            text,
            fusion_module,
            len(self.vocab.answers),
            head_hidden,
            head_dropout,
            decoder,
            answer_table,
        )
        self.decoding = decoding
        self.num_beams = num_beams
        self.answer_tokens = AnswerTokens.for_vocabulary(self.vocab) if head == "generator" else None
        self.loss_name = loss
        self.groups = list(self.vocab.groups)
        self.metrics = nn.ModuleDict()  # keys "<stage>_acc", "<stage>_groups" ("train" alone would clash)
        for stage in ("train", "val", "test"):
            self.metrics[f"{stage}_acc"] = VQAAccuracy()
            self.metrics[f"{stage}_groups"] = GroupAccuracy(len(self.groups))
        for stage in ("val", "test"):
            # Evaluation losses are summed with their weights across processes by torchmetrics. (Lightning's
            # `self.log(..., sync_dist=True)` averages the per-process question counts as integers: with uneven
            # shares, e.g. 6 and 7 questions, the count 6.5 becomes 6 and the mean loss comes out too high.)
            self.metrics[f"{stage}_loss"] = MeanMetric()
        self._scored: dict[str, Any] = {}  # the last evaluation batch's per-question results (see `test_step`)
        self._finite_guard: NonFiniteGuard | None = None  # made at the first training step (device known)
        self._rng_to_restore: list[dict[str, Any]] | None = None

    # ---- steps -------------------------------------------------------------------------------------------

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Answer logits [B, A] for a batch dict (pixels, or cached image tokens)."""
        if "image_tokens" in batch:
            return self.model.answer(
                batch["image_tokens"],
                batch["image_mask"],
                batch["token_ids"],
                batch["token_mask"],
                batch["image_index"],
            )
        return self.model(
            batch["images"], batch["token_ids"], batch["token_mask"], batch["image_index"], batch.get("image_mask")
        )

    def compute_loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Loss of logits [B, A] against dense soft targets [B, A]."""
        if self.loss_name == "bce":
            # Summed over answers (not averaged) so the gradient does not shrink with the vocabulary size.
            return F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="sum") / logits.shape[0]
        mass = targets.sum(-1, keepdim=True)
        distribution = targets / mass.clamp_min(1e-8)  # questions with no in-vocabulary answer contribute 0
        return -(distribution * F.log_softmax(logits.float(), dim=-1)).sum(-1).mean()

    def fuse(self, batch: dict[str, Tensor]) -> Fused:
        """The fusion's output for a batch dict (pixels, or cached image tokens)."""
        if "image_tokens" in batch:
            img, img_mask = batch["image_tokens"], batch["image_mask"]
        else:
            img, img_mask = self.model.encode_images(batch["images"], batch.get("image_mask"))
        return self.model.fuse(img, img_mask, batch["token_ids"], batch["token_mask"], batch["image_index"])

    def step_loss(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        """Forward pass, loss and accuracy update of one batch, without logging; the loss stays on the device.

        Nothing here reads a value back to the host, so the CPU can queue the next steps while the GPU works.
        """
        if self.model.decoder is not None:
            return self.generator_step(batch, stage)
        logits = self(batch)
        targets = soft_targets(batch["answer_ids"], batch["answer_scores"], logits.shape[-1])
        loss = self.compute_loss(logits, targets)
        scores = predicted_scores(logits.detach(), batch["answer_ids"], batch["answer_scores"])
        if stage != "train":  # what `test_step` hands to callbacks (per-question results)
            self._scored = {"index": batch["index"], "answer_ids": logits.detach().argmax(dim=-1), "scores": scores}
        self.metrics[f"{stage}_acc"].update(scores)
        self.metrics[f"{stage}_groups"].update(scores, batch["groups"])
        return loss

    def generator_step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        """`step_loss` for the generator head.

        Loss: teacher forcing on every in-vocabulary human answer of each question, its summed token
        cross-entropy weighted by the answer's VQA score (weights normalized per question), averaged over
        questions. Accuracy: in training, the answer the decoder writes under teacher forcing (every word of the
        question's best answer the arg-max, a lower bound with no decoding cost); in validation and test, the
        answer it writes with `decoding`, scored by the official VQA accuracy.
        """
        fused = self.fuse(batch)
        answer_ids, answer_scores = batch["answer_ids"], batch["answer_scores"]  # (B, K)
        b, k = answer_ids.shape
        decoder = self.model.decoder
        memory, memory_mask = decoder.memory(fused)
        question = torch.arange(b, device=answer_ids.device).repeat_interleave(k)  # (B*K,) every slot, no sync
        targets = self.model.answer_table[answer_ids.reshape(-1)]  # (B*K, T)
        inputs = torch.cat([torch.full_like(targets[:, :1], BOS_ID), targets[:, :-1]], dim=1)
        logits = decoder(memory[question], memory_mask[question], inputs).float()  # (B*K, T, V)
        token_loss = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD_ID, reduction="none")
        weights = answer_scores / answer_scores.sum(1, keepdim=True).clamp_min(1e-8)  # (B, K); empty slots 0
        loss = (token_loss.sum(1) * weights.reshape(-1)).sum() / b
        if stage == "train":
            best = answer_scores.argmax(1)  # (B,)
            slot = torch.arange(b, device=best.device) * k + best
            written = logits[slot].argmax(-1)  # (B, T)
            wanted = targets[slot]
            exact = ((written == wanted) | (wanted == PAD_ID)).all(1)
            scores = answer_scores.gather(1, best[:, None])[:, 0] * exact
        else:
            decoded = self.model.generate(fused, self.decoding, self.num_beams)
            classes = generated_classes(decoded.ids, self.model.answer_table)  # (B,), -1 outside the vocabulary
            written = [self.answer_tokens.decode(row) for row in decoded.ids.tolist()]
            scores = class_scores(classes, answer_ids, answer_scores)
            records = self._split_records(stage)
            if records is not None:  # outside a Trainer, answers outside the vocabulary keep score 0
                scores = score_outside_vocabulary(scores, classes, written, batch["index"], records)
            self._scored = {"index": batch["index"], "answer_ids": classes, "scores": scores, "written": written}
        self.metrics[f"{stage}_acc"].update(scores)
        self.metrics[f"{stage}_groups"].update(scores, batch["groups"])
        return loss

    def _split_records(self, stage: str) -> Sequence[Any] | None:
        """The records of split `stage` from the Trainer's data module, or None outside a Trainer."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        return None if datamodule is None else datamodule.split(stage).records

    def _shared_step(self, batch: dict[str, Tensor], stage: str) -> Tensor | None:
        if batch["index"].numel() == 0:  # every question of the batch was left out (skip_bad_samples)
            return None
        loss = self.step_loss(batch, stage)
        batch_size = batch["token_ids"].shape[0]
        if stage == "train":
            # Per process (no step waits for the others just to log), and to the logger only: Lightning turns
            # progress-bar values into Python numbers after every batch, a host-device sync that stalls the GPU
            # queue; the bar shows epoch values.
            self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=False, batch_size=batch_size)
        else:  # over every process's questions, weighted by batch size
            mean_loss = self.metrics[f"{stage}_loss"]
            mean_loss.update(loss.detach(), weight=batch_size)
            self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=batch_size)
        self.log(
            f"{stage}/acc",
            self.metrics[f"{stage}_acc"],
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch_size,
        )
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        loss = self._shared_step(batch, "train")
        if loss is not None and self._guard().update(loss, batch["index"], self.current_epoch, self.global_step):
            self._check_finite()
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        return self._shared_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Any] | None:
        """The loss and, for callbacks (`on_test_batch_end`'s outputs), each question's result: `index` [B],
        `answer_ids` [B] (the answer's id in the vocabulary; -1 for a generated answer outside it), `scores` [B]
        (VQA score) and, for a generator head, `written` (the answers as strings)."""
        loss = self._shared_step(batch, "test")
        return None if loss is None else {"loss": loss, **self._scored}

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Top-5 answer ids and probabilities per question, with the question's position in its split (a generator
        head ranks the answer vocabulary by likelihood: its probabilities are those of the whole answers)."""
        scores = self(batch).float()
        if self.model.decoder is not None:
            probabilities = scores.exp()  # log-likelihoods
        elif self.loss_name == "bce":
            probabilities = torch.sigmoid(scores)
        else:
            probabilities = scores.softmax(-1)
        top = probabilities.topk(min(5, probabilities.shape[-1]), dim=-1)
        return {"index": batch["index"], "answer_ids": top.indices, "probabilities": top.values}

    def _log_groups(self, stage: str) -> None:
        groups = self.metrics[f"{stage}_groups"]
        values = groups.compute().reshape(-1)  # torchmetrics squeezes a single group to 0-d
        for name, value in zip(self.groups, values):
            if not torch.isnan(value):
                self.log(f"{stage}/acc/{name}", value)
        groups.reset()

    def on_train_epoch_end(self) -> None:
        self._check_finite()
        self._log_groups("train")
        bad = getattr(getattr(self.trainer, "datamodule", None), "bad_samples", None)
        if bad is not None and bad.skip:
            self.log("data/skipped_samples", float(bad.count))

    def on_validation_epoch_end(self) -> None:
        self._log_groups("val")

    def on_test_epoch_end(self) -> None:
        self._log_groups("test")

    # ---- feature cache -----------------------------------------------------------------------------------

    def _attach_feature_cache(self) -> None:
        """Serve cached image tokens instead of pixels when the image encoder is frozen (idempotent)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        encoder = getattr(self.model, "_orig_mod", self.model).image_encoder
        cacheable = encoder.is_frozen and not encoder.takes_features  # features are already what a cache would hold
        if self.hparams.cache_image_features and cacheable and hasattr(datamodule, "attach_feature_cache"):
            datamodule.attach_feature_cache(encoder, self.device)

    def on_fit_start(self) -> None:
        self._attach_feature_cache()

    # ---- non-finite losses ---------------------------------------------------------------------------------

    def _guard(self) -> NonFiniteGuard:
        if self._finite_guard is None:
            self._finite_guard = NonFiniteGuard(self.hparams.nonfinite_check_interval, self.device.type == "cpu")
        return self._finite_guard

    def _check_finite(self) -> None:
        """Raise `NonFiniteLossError` (on every process) if a pending training step had a non-finite loss."""
        found = self._guard().first_bad_step()
        report = None if found is None else failure_message(found[0], self._describe_questions(found[1]))
        world = _world_size()
        if world > 1:  # all processes check at the same steps; all stop together, with the same report
            flag = torch.tensor(float(report is not None), device=self.device)
            torch.distributed.all_reduce(flag)
            if flag.item() > 0:
                reports: list[str | None] = [None] * world
                torch.distributed.all_gather_object(reports, report)
                report = next(f"process {rank}: {r}" for rank, r in enumerate(reports) if r is not None)
        if report is not None:
            raise NonFiniteLossError(report)

    def _describe_questions(self, index: Tensor, shown: int = 8) -> str:
        """'#3 (question_id 903), #17 (...)' for training questions at `index` [B] (ids when the data has them)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        records = datamodule.dataset("train").records if hasattr(datamodule, "dataset") else None
        items = []
        for i in index[:shown].tolist():
            question_id = records[i].meta.get("question_id") if records is not None else None
            items.append(f"#{i}" + (f" (question_id {question_id})" if question_id is not None else ""))
        more = f" and {len(index) - shown} more" if len(index) > shown else ""
        return ", ".join(items) + more + " of the train split"

    # ---- exact resumption: the random state travels with the checkpoint ------------------------------------

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._rng_to_restore = checkpoint.get(RNG_KEY)

    def on_train_start(self) -> None:
        """Continue the random stream of the interrupted run (after everything set up at start has drawn from it)."""
        states, self._rng_to_restore = self._rng_to_restore, None
        if states:
            rank = self.global_rank
            set_rng_state(states[rank] if rank < len(states) else states[0])

    def on_validation_start(self) -> None:
        self._attach_feature_cache()

    def on_test_start(self) -> None:
        self._attach_feature_cache()

    def on_predict_start(self) -> None:
        self._attach_feature_cache()

    # ---- optimization ------------------------------------------------------------------------------------

    def configure_model(self) -> None:
        # In-place `Module.compile` keeps the parameter names (a `torch.compile` wrapper would prefix them with
        # `_orig_mod.`, and checkpoints would no longer load into an uncompiled model).
        if self.hparams.compile and not getattr(self, "_model_compiled", False):
            self.model.compile()
            self._model_compiled = True

    def parameter_groups(self) -> list[dict[str, Any]]:
        """AdamW groups per part (image encoder, text encoder, the rest), each split into weights that decay
        (matrices) and those that do not (biases, norms, embeddings, position codes). Every group carries its
        learning-rate factor in `lr_scale`: the part's multiplier, times `layer_lr_decay ** (max_depth - depth)`
        for encoder layers (see `Encoder.parameter_depths`). Frozen parameters are left out."""
        model = getattr(self.model, "_orig_mod", self.model)
        decay_rate = self.hparams.layer_lr_decay
        scales: dict[int, tuple[str, float]] = {}  # id(parameter) -> (part, lr factor)
        for part, encoder, multiplier in (
            ("image_encoder", model.image_encoder, self.hparams.image_encoder_lr_multiplier),
            ("text_encoder", model.text_encoder, self.hparams.text_encoder_lr_multiplier),
        ):
            depths, max_depth = encoder.parameter_depths() if decay_rate != 1.0 else ({}, 0)
            for name, parameter in encoder.named_parameters():
                scales[id(parameter)] = (part, multiplier * decay_rate ** (max_depth - depths.get(name, max_depth)))
        grouped: dict[tuple[str, float, bool], list[nn.Parameter]] = {}
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            part, scale = scales.get(id(parameter), ("fusion_and_head", 1.0))
            leaf = name.rsplit(".", 1)[-1]
            no_decay = parameter.ndim < 2 or "embed" in name or "position" in name or leaf in NO_DECAY_LEAVES
            grouped.setdefault((part, scale, not no_decay), []).append(parameter)
        return [
            {
                "params": params,
                "weight_decay": self.hparams.weight_decay if decays else 0.0,
                "lr_scale": scale,
                "part": part,
                "lr": self.hparams.lr * scale,
            }
            for (part, scale, decays), params in grouped.items()
        ]

    def build_optimizer(self) -> torch.optim.AdamW:
        """AdamW over `parameter_groups()`; fused (one kernel for all parameters, no per-step host syncs) on
        CUDA and CPU, the devices that have the fused kernel."""
        return torch.optim.AdamW(
            self.parameter_groups(),
            lr=self.hparams.lr,
            betas=tuple(self.hparams.betas),
            fused=self.device.type in ("cuda", "cpu"),
        )

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip the gradients here, so that the fused AdamW also works under mixed precision.

        Lightning's mixed-precision plugin refuses to clip for an optimizer that unscales inside `step()` (the
        fused AdamW), because under float16 loss scaling it would clip scaled gradients. bf16 and fp32 have no
        loss scale, so clipping the gradients as they are is exact; under float16 the scaler unscales them first
        (`GradScaler.step` then tells the fused AdamW that they are already unscaled).
        """
        if not gradient_clip_val:
            return
        parameters = [p for p in self.parameters() if p.grad is not None]
        if not parameters:  # the step was skipped (an empty batch): nothing to clip, nothing to unscale
            return
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        if scaler is not None:
            scaler.unscale_(optimizer)
        if gradient_clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(parameters, gradient_clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(parameters, gradient_clip_val)

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.build_optimizer()
        total = int(self.trainer.estimated_stepping_batches)
        warmup = min(self.hparams.warmup_steps, max(1, total // 10))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, warmup, total, self.hparams.min_lr_ratio)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._check_finite()  # never write a checkpoint after a non-finite step
        model = getattr(self.model, "_orig_mod", self.model)
        checkpoint[MODEL_CONFIG_KEY] = model.config()
        checkpoint[VOCAB_KEY] = self.vocab.to_dict()
        states = [rng_state()]
        if _world_size() > 1:
            states = [None] * _world_size()
            torch.distributed.all_gather_object(states, rng_state())
        checkpoint[RNG_KEY] = states
