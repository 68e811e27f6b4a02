"""The JSON bodies of the HTTP API, as pydantic models (they also make the OpenAPI schema at /openapi.json)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AnswerItem(BaseModel):
    answer: str = Field(description="an answer from the model's vocabulary")
    probability: float = Field(description="the model's probability for it (sigmoid or softmax, as trained)")


class AnswerResponse(BaseModel):
    model: str = Field(description="the model that answered")
    question: str = Field(description="the question, without surrounding whitespace")
    answers: list[AnswerItem] = Field(description="the top_k most probable answers, best first")


class BenchmarkRecord(BaseModel):
    dataset: str | None = Field(description="the benchmark dataset the model was trained and tested on")
    seed: int | None = Field(description="the training seed")
    test: dict[str, float] = Field(description="test accuracies in percent: 'acc' overall, then per question type")


class ModelInfo(BaseModel):
    name: str = Field(description="the value of the `model` form field that selects it")
    fusion: str = Field(description="the registered fusion name, e.g. 'cross_attention'")
    fusion_family: str = Field(description="early, late or interactive")
    image_encoder: str
    text_encoder: str
    num_answers: int = Field(description="answers in its vocabulary (the largest top_k)")
    image_size: list[int] = Field(description="(height, width) every image is resized to")
    parameters: int
    explains: bool = Field(description="whether /v1/explain can draw its attention over the image")
    benchmark: BenchmarkRecord | None = Field(description="accuracies, for bundles written by `vqa benchmark`")


class ModelsResponse(BaseModel):
    models: list[ModelInfo] = Field(description="the loaded models; the first answers when no model is named")


class QueueHealth(BaseModel):
    waiting: int = Field(description="questions queued, not yet in a batch")
    questions: int = Field(description="questions answered (or refused) since the server started")
    batches: int = Field(description="answer_batch calls made for them")
    mean_batch: float = Field(description="questions per batch")
    largest_batch: int


class Health(BaseModel):
    status: str = Field(description="'ok' while the server answers")
    models: dict[str, QueueHealth] = Field(description="per model, its batching queue")


class ErrorBody(BaseModel):
    error: str = Field(description="what is wrong with the request, naming the field or limit")
    status: int = Field(description="the HTTP status, repeated")
