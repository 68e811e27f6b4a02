"""Random data of a chosen shape, for benchmarks."""

import pytest
import torch

from vqa.data import DatasetError, SyntheticVQA, VQADataModule


def test_synthetic_images_questions_and_every_answer():
    source = SyntheticVQA(
        num_answers=30,
        num_words=50,
        question_length=7,
        image_size=(16, 24),
        train_images=4,
        eval_images=2,
        questions_per_image=10,
    )
    datamodule = VQADataModule(source, batch_size=8)
    assert len(datamodule.vocab.answers) == 30
    train = datamodule.dataset("train")
    assert len(train) == 40 and train.token_ids.shape[1] == 7 and train.token_mask.all()
    batch = train.__getitems__(list(range(12)))
    assert batch["images"].dtype == torch.uint8 and batch["images"].shape[1:] == (3, 16, 24)
    assert len(datamodule.dataset("val")) == len(datamodule.dataset("test")) == 20


def test_synthetic_features_and_determinism():
    source = SyntheticVQA(num_answers=5, feature_shape=(6, 10), train_images=3, eval_images=1, questions_per_image=2)
    split = source.read("train")
    features = split.images.get(torch.tensor([0, 2]))
    assert features.shape == (2, 6, 10) and features.dtype == torch.float32
    again = SyntheticVQA(**source.init_args).read("train")
    assert torch.equal(again.images.get(torch.tensor([0, 2])), features)
    assert [r.question for r in again.records] == [r.question for r in split.records]
    assert not torch.equal(source.read("val").images.get(torch.tensor([0])), features[:1])


def test_synthetic_refuses_too_few_questions_for_the_answers():
    with pytest.raises(DatasetError, match="cannot cover num_answers=3129"):
        SyntheticVQA(num_answers=3129, train_images=10, questions_per_image=10)
