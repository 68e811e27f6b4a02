"""The generator head end to end: its loss weights answers by VQA score, it learns a batch, it is scored by what it
writes, and checkpoints, bundles, the Predictor and `vqa ask` give it back unchanged."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import vqa
from tests.inference.tiny_model import TINY_CROSS_ATTENTION, save_test_images, train_tiny
from vqa.evaluation.metrics import generated_classes, generated_scores, score_outside_vocabulary
from vqa.inference import ask
from vqa.inference.bundle import BundleError, export_checkpoint, read_model
from vqa.inference.predictor import PredictionError
from vqa.models.decoding import BOS_ID

GENERATOR = ("--model.head=generator", "--model.decoder_dim=32", "--model.decoder_heads=2", "--model.decoder_layers=1")


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    root = tmp_path_factory.mktemp("generator")
    cli, checkpoint = train_tiny(root, "generator.ckpt", *TINY_CROSS_ATTENTION, *GENERATOR)
    images = save_test_images(cli, root, 3)
    questions = [r.question for r in cli.datamodule.split("test").records[:3]]
    return cli, checkpoint, images, questions


def batch_of(cli):
    return next(iter(cli.datamodule.train_dataloader()))


def test_generated_classes_and_scores_by_hand():
    table = torch.tensor([[4, 2, 0], [5, 6, 2]])
    ids = torch.tensor([[5, 6, 2], [4, 2, 0], [7, 2, 0]])
    assert generated_classes(ids, table).tolist() == [1, 0, -1]
    assert generated_classes(torch.tensor([[4, 2]]), table).tolist() == [0]  # shorter rows are padded
    answer_ids = torch.tensor([[1, 0], [1, 0], [0, 0]])
    answer_scores = torch.tensor([[1.0, 0.3], [1.0, 0.3], [1.0, 0.0]])
    assert generated_scores(ids, table, answer_ids, answer_scores).tolist() == pytest.approx([1.0, 0.3, 0.0])


def test_loss_weights_each_answer_by_its_vqa_score(generator):
    cli = generator[0]
    module = cli.model.train()
    torch.manual_seed(0)
    batch = batch_of(cli)
    b = batch["answer_ids"].shape[0]
    # Two answers per question with scores 1.0 and 0.3 (the second: another answer of the vocabulary).
    num_answers = module.model.num_answers
    second = (batch["answer_ids"][:, :1] + 1) % num_answers
    batch = {**batch, "answer_ids": torch.cat([batch["answer_ids"][:, :1], second], 1)}
    batch["answer_scores"] = torch.tensor([[1.0, 0.3]]).expand(b, 2).clone()
    module.eval()  # no dropout: the two computations must see the same network
    loss = module.generator_step(batch, "train")
    fused = module.fuse(batch)
    memory, memory_mask = module.model.decoder.memory(fused)
    expected = 0.0
    for k, weight in enumerate([1.0 / 1.3, 0.3 / 1.3]):
        targets = module.model.answer_table[batch["answer_ids"][:, k]]
        inputs = torch.cat([torch.full_like(targets[:, :1], BOS_ID), targets[:, :-1]], 1)
        log_probs = F.log_softmax(module.model.decoder(memory, memory_mask, inputs).float(), -1)
        picked = log_probs.gather(2, targets[..., None])[..., 0]
        expected = expected - weight * torch.where(targets != 0, picked, 0.0).sum(1)
    torch.testing.assert_close(loss, expected.mean(), atol=1e-5, rtol=1e-5)


def test_generator_learns_a_batch_and_writes_its_answers(generator):
    cli = generator[0]
    module = cli.model
    batch = batch_of(cli)
    optimizer = torch.optim.AdamW(module.parameters(), lr=3e-3)
    module.train()
    losses = []
    for _ in range(60):
        loss = module.generator_step(batch, "train")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    module.eval()
    best = batch["answer_ids"].gather(1, batch["answer_scores"].argmax(1, keepdim=True))[:, 0]
    majority = best.bincount().max().item() / len(best)  # the best any answer-prior can do on this batch
    with torch.no_grad():
        fused = module.fuse(batch)
        for mode in ["greedy", "beam", "rank"]:
            decoded = module.model.generate(fused, mode, num_beams=3)
            scores = generated_scores(
                decoded.ids, module.model.answer_table, batch["answer_ids"], batch["answer_scores"]
            )
            # Eval mode (BatchNorm running statistics, no dropout) after 60 steps: most, not all, of the batch.
            assert scores.mean() > max(0.8, majority + 0.2), f"{mode}: {scores.mean():.2f} (majority {majority:.2f})"
        # Scoring the vocabulary by likelihood agrees with what greedy decoding writes on a learned batch.
        likelihoods = module.model.answer(
            batch["image_tokens"] if "image_tokens" in batch else module.model.encode_images(batch["images"])[0],
            module.model.encode_images(batch["images"])[1] if "images" in batch else batch["image_mask"],
            batch["token_ids"],
            batch["token_mask"],
            batch["image_index"],
        )
        written = generated_classes(module.model.generate(fused, "greedy").ids, module.model.answer_table)
        assert (likelihoods.argmax(1) == written).float().mean() > 0.8
        assert (likelihoods.exp().sum(1) <= 1 + 1e-4).all()  # probabilities of distinct answers


def test_checkpoint_bundle_and_predictor_give_identical_generations(generator, tmp_path):
    _, checkpoint, images, questions = generator
    from_checkpoint = vqa.load(checkpoint, device="cpu")
    bundle = export_checkpoint(checkpoint, tmp_path / "bundle")
    from_bundle = vqa.load(bundle, device="cpu")
    assert read_model(bundle).scores == "likelihood"
    for mode, beams in [("generate", 1), ("generate", 3), ("rank", 3)]:
        a = from_checkpoint.answer_batch(images, questions, mode=mode, num_beams=beams)
        b = from_bundle.answer_batch(images, questions, mode=mode, num_beams=beams)
        assert a == b
        assert all(len(row) == 1 and 0 <= row[0].probability <= 1 for row in a)
    classify = from_bundle.answer(images[0], questions[0], top_k=2)
    assert len(classify) == 2 and classify[0].probability >= classify[1].probability
    ranked = from_bundle.answer(images[0], questions[0], mode="rank", candidates=list(from_bundle.answers[:2]))
    assert ranked[0].answer in from_bundle.answers[:2]


def test_generation_requests_that_cannot_be_served_say_why(generator, trained):
    _, checkpoint, images, questions = generator
    predictor = vqa.load(checkpoint, device="cpu")
    with pytest.raises(PredictionError, match="one answer per question"):
        predictor.answer(images[0], questions[0], top_k=2, mode="generate")
    with pytest.raises(PredictionError, match="never saw in training .*zebra"):
        predictor.answer(images[0], questions[0], mode="rank", candidates=["zebra"])
    with pytest.raises(PredictionError, match="mode must be"):
        predictor.answer(images[0], questions[0], mode="sing")
    classifier = vqa.load(trained.checkpoint, device="cpu")
    with pytest.raises(PredictionError, match="needs a model with a generator head"):
        classifier.answer(trained.image_files[0], trained.questions[0], mode="generate")


def test_a_decoder_built_for_another_vocabulary_is_refused(generator):
    """Counts of answers and question words can agree while the answer tokens differ; the recipe check names it."""
    from vqa.inference.bundle import _build_model

    trained = read_model(generator[1])
    config = trained.model.config()
    config["decoder"]["vocab_size"] += 1
    with pytest.raises(BundleError, match="answer decoder was built for"):
        _build_model(config, trained.vocab, "checkpoint x")


def test_ask_generates_from_the_command_line(generator, capsys):
    _, checkpoint, images, questions = generator
    ask.main(
        ["--model", str(checkpoint), "--image", str(images[0]), "--question", questions[0], "--generate", "--json"]
    )
    line = json.loads(capsys.readouterr().out.strip())
    expected = vqa.load(checkpoint, device="cpu").answer(images[0], questions[0], mode="generate", num_beams=3)[0]
    assert line["answers"] == [{"answer": expected.answer, "probability": expected.probability}]


def test_answers_outside_the_vocabulary_are_scored_against_the_human_answers(generator, monkeypatch):
    """A composition the model never saw as an answer is scored from the split's records, not as a miss."""
    from types import SimpleNamespace

    module = generator[0].model
    tokens = module.answer_tokens
    words = [w for w in tokens.words[4:] if w not in module.vocab.answers.answers][:2]
    novel = " ".join(words)  # two known words, not a training answer
    records = [
        SimpleNamespace(answers=[novel]),  # one annotator: exact match
        SimpleNamespace(answers=[novel, novel, "yes"]),  # official VQA accuracy over 3 annotators: 2/3 * 2/3 + ...
        SimpleNamespace(answers=["yes"]),
        SimpleNamespace(answers=[]),  # unlabeled: keeps 0
    ]
    datamodule = SimpleNamespace(split=lambda stage: SimpleNamespace(records=records))
    monkeypatch.setattr(module, "_trainer", SimpleNamespace(datamodule=datamodule))
    ids = torch.tensor([tokens.encode(novel) + [2]] * 4)
    classes = generated_classes(ids, module.model.answer_table)
    assert classes.tolist() == [-1] * 4
    written = [tokens.decode(row) for row in ids.tolist()]
    records_of_split = module._split_records("val")
    scores = score_outside_vocabulary(torch.zeros(4), classes, written, torch.tensor([0, 1, 2, 3]), records_of_split)
    # 3 annotators, 2 agree: each of the two left out sees 1 match (1/3), the third sees 2 (2/3): (1/3+1/3+2/3)/3.
    assert scores.tolist() == pytest.approx([1.0, 4 / 9, 0.0, 0.0])


def test_predict_step_gives_whole_answer_probabilities(generator):
    module = generator[0].model.eval()
    batch = next(iter(generator[0].datamodule.val_dataloader()))
    with torch.no_grad():
        out = module.predict_step(batch, 0)
        expected = module(batch).float().exp().topk(out["probabilities"].shape[-1], dim=-1)
    torch.testing.assert_close(out["probabilities"], expected.values)
    assert (out["probabilities"].sum(-1) <= 1 + 1e-4).all()  # probabilities of distinct answers
