"""Checking what a request sends (an uploaded image, a question, top_k) against the server's limits.

Every refusal is a `RequestError` carrying the HTTP status and a message that names the problem and the limit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from vqa.data.images import MAX_IMAGE_PIXELS, PixelLimitError, decode_rgb
from vqa.errors import VQAError

MB = 1_000_000


class RequestError(VQAError):
    """A request the server refuses.

    Args:
        status: the HTTP status to answer with (4xx).
        message: what is wrong, in words a client can act on.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one request may send.

    Attributes:
        max_upload_bytes: the whole request body (image, form fields and multipart framing), in bytes.
        max_image_pixels: width x height of the uploaded image, checked from its header before decoding
            (the toolkit's decompression-bomb guard, `vqa.data.images.MAX_IMAGE_PIXELS`, by default).
        max_question_chars: characters in a question.
    """

    max_upload_bytes: int = 20 * MB
    max_image_pixels: int = MAX_IMAGE_PIXELS
    max_question_chars: int = 500

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_image_pixels", "max_question_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def check_question(question: str, limits: Limits) -> str:
    """The question without surrounding whitespace.

    Raises:
        RequestError: 422 when it is empty or longer than `limits.max_question_chars`.
    """
    question = question.strip()
    if not question:
        raise RequestError(422, "the question is empty; ask something about the image")
    if len(question) > limits.max_question_chars:
        raise RequestError(
            422,
            f"the question is {len(question):,} characters long, more than the limit of {limits.max_question_chars:,}",
        )
    return question


def check_top_k(top_k: int, num_answers: int, model: str) -> int:
    """`top_k` itself, if the model has that many answers.

    Raises:
        RequestError: 422 when it is below 1 or above the model's number of answers.
    """
    if not 1 <= top_k <= num_answers:
        raise RequestError(422, f"top_k must be between 1 and {num_answers} (model {model!r}'s answers), got {top_k}")
    return top_k


def decode_image(data: bytes, filename: str, limits: Limits) -> Image.Image:
    """Decode an uploaded image file into an 8-bit RGB PIL image (any mode converted as in training).

    Args:
        data: the file's bytes.
        filename: its name as the client sent it (for messages only).
        limits: `max_image_pixels` is checked from the header, before any pixel is decoded.

    Raises:
        RequestError: 422 for an empty, truncated or non-image file; 413 for an image with too many pixels.
    """
    name = repr(filename or "image")
    if not data:
        raise RequestError(422, f"the uploaded file {name} is empty")
    try:
        return decode_rgb(io.BytesIO(data), limits.max_image_pixels)
    except PixelLimitError as error:
        raise RequestError(
            413,
            f"the uploaded image {name} is {error.width:,} x {error.height:,} = {error.width * error.height:,} "
            f"pixels, more than the limit of {error.limit:,} pixels",
        ) from None
    except Image.DecompressionBombError as error:  # Pillow's own guard, above twice its limit
        raise RequestError(413, f"the uploaded image {name} has too many pixels to decode: {error}") from error
    except UnidentifiedImageError as error:
        raise RequestError(
            422, f"the uploaded file {name} is not an image this server can read (PNG, JPEG, ... as Pillow reads)"
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise RequestError(422, f"the uploaded image {name} cannot be decoded: {error}") from error
