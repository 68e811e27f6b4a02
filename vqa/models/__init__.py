"""The model: image and text encoders (`encoders/`), a fusion (the `fusion` package) and an answer head, composed
by `VQAModel`."""

from vqa.models.model import AnswerHead, VQAModel

__all__ = ["AnswerHead", "VQAModel"]
