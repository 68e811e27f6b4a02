"""The FastAPI application of `vqa serve`: the HTTP API, the web page and the OpenAPI docs.

    POST /v1/answer    multipart image + question (+ top_k, + model) -> the top answers with probabilities (JSON)
    POST /v1/explain   the same fields -> the attention overlay (PNG), for models whose fusion exposes attention
    GET  /v1/models    each loaded model: fusion, encoders, number of answers, benchmark accuracies where known
    GET  /healthz      "ok" and each model's batching queue
    GET  /             the page: drop an image, ask, compare every model's answers and attention side by side
    GET  /docs         the OpenAPI docs (assets served locally), /openapi.json the schema

Work that takes CPU time never runs on the event loop: images are decoded in worker threads, and each model
answers in its own thread, in batches (see `vqa.inference.serve.batcher`).
"""

from __future__ import annotations

import asyncio
import hmac
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, File, Form, Security, UploadFile
from fastapi.responses import HTMLResponse, Response
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline
from PIL import Image
from torch import Tensor

from vqa import __version__
from vqa.inference.predictor import Predictor
from vqa.inference.serve.body_limit import BodyLimit
from vqa.inference.serve.errors import install_error_handlers
from vqa.inference.serve.inputs import Limits, RequestError, check_question, check_top_k, decode_image
from vqa.inference.serve.models import ServedModel
from vqa.inference.serve.schemas import AnswerItem, AnswerResponse, ErrorBody, Health, ModelsResponse, QueueHealth

API_KEY_HEADER = "X-API-Key"
# What the OpenAPI docs list for every /v1 endpoint besides its success.
ERRORS = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        401: "missing or wrong API key (servers started with --api-key)",
        404: "unknown model name",
        413: "upload larger than the byte limit, or an image with more pixels than the pixel limit",
        422: "a missing or invalid field: not an image, a truncated image, an empty or too long question, top_k",
        503: "the model's queue is full; retry after the Retry-After seconds",
    }.items()
}

ImageField = Annotated[UploadFile, File(description="the image file (PNG, JPEG, ... any format Pillow reads)")]
QuestionField = Annotated[str, Form(description="the question about the image")]
ModelField = Annotated[str | None, Form(description="the model to ask (GET /v1/models); default: the first")]
# Module level: FastAPI resolves these annotations in the module's namespace.
KeyField = Annotated[
    str | None, Security(APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="the server's --api-key"))
]


def create_app(models: Sequence[ServedModel], limits: Limits | None = None, api_key: str | None = None) -> FastAPI:
    """The application serving `models`.

    Args:
        models: the loaded models; the first answers requests that name none. Their batchers are started when
            the application starts (lifespan) and stopped when it stops.
        limits: what one request may send (default `Limits()`).
        api_key: when given, every /v1 request must send it in the X-API-Key header (the page, /healthz and
            the docs stay open).
    """
    if not models:
        raise ValueError("create_app needs at least one model")
    limits = limits or Limits()
    by_name = {model.name: model for model in models}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for model in models:
            model.batcher.start()
        try:
            yield
        finally:
            for model in models:
                await model.batcher.stop()

    app = FastAPIOffline(
        title="VQA fusion toolkit",
        version=__version__,
        summary="Ask questions about images with trained VQA models; compare fusions side by side.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes)
    install_error_handlers(app, limits.max_upload_bytes)

    async def require_key(key: KeyField) -> None:
        if api_key is None:
            return
        if not key:
            raise RequestError(401, f"missing API key: send it in the {API_KEY_HEADER} header")
        if not hmac.compare_digest(key.encode(), api_key.encode()):
            raise RequestError(401, f"wrong API key in the {API_KEY_HEADER} header")

    def choose(name: str | None) -> ServedModel:
        if name is None or name == "":
            return models[0]
        if name not in by_name:
            raise RequestError(404, f"unknown model {name!r}; loaded models: {', '.join(by_name)}")
        return by_name[name]

    api = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], responses=ERRORS)

    @api.post("/answer", summary="Answer a question about an image")
    async def answer(
        image: ImageField,
        question: QuestionField,
        top_k: Annotated[int, Form(description="how many answers, best first")] = 1,
        model: ModelField = None,
    ) -> AnswerResponse:
        served = choose(model)
        question = check_question(question, limits)
        check_top_k(top_k, len(served.predictor.answers), served.name)
        data = await image.read()
        pixels = await asyncio.to_thread(_model_input, served.predictor, data, image.filename or "", limits)
        answers = await served.batcher.answer(pixels, question, top_k)
        return AnswerResponse(model=served.name, question=question, answers=[AnswerItem(**asdict(a)) for a in answers])

    @api.post(
        "/explain",
        summary="Draw where the model looked: the attention overlay as PNG",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "the image with the attention heatmap"}},
    )
    async def explain(
        image: ImageField,
        question: QuestionField,
        top_k: Annotated[int, Form(description="answers shown in the title (at most all of them)")] = 3,
        model: ModelField = None,
    ) -> Response:
        served = choose(model)
        question = check_question(question, limits)
        answers = len(served.predictor.answers)
        top_k = check_top_k(min(top_k, answers), answers, served.name)  # at most all answers, as Predictor.explain
        if not served.explains:
            raise RequestError(
                422,
                f"model {served.name!r} (fusion {served.predictor.model.fusion.name!r}) has no question-to-image "
                "attention to draw; /v1/models lists which models explain",
            )
        data = await image.read()
        rgb = await asyncio.to_thread(decode_image, data, image.filename or "", limits)
        png = await served.batcher.run(lambda: _explanation_png(served.predictor, rgb, question, top_k))
        return Response(png, media_type="image/png")

    @api.get("/models", summary="The loaded models")
    async def list_models() -> ModelsResponse:
        return ModelsResponse.model_validate({"models": [model.describe() for model in models]})

    app.include_router(api)

    @app.get("/healthz", summary="Liveness and the batching queues")
    async def health() -> Health:
        queues = {
            model.name: QueueHealth(
                waiting=model.batcher.waiting,
                questions=model.batcher.stats.questions,
                batches=model.batcher.stats.batches,
                mean_batch=model.batcher.stats.mean_batch,
                largest_batch=model.batcher.stats.largest,
            )
            for model in models
        }
        return Health(status="ok", models=queues)

    page = files("vqa.inference.serve").joinpath("page.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    return app


def _model_input(predictor: Predictor, data: bytes, filename: str, limits: Limits) -> Tensor:
    """Uploaded bytes -> the model's input [3, H, W] uint8 (decoded and resized as in training)."""
    return predictor.preprocess(decode_image(data, filename, limits))


def _explanation_png(predictor: Predictor, rgb: Image.Image, question: str, top_k: int) -> bytes:
    """`Predictor.explain`'s PNG as bytes (it writes a file; this one lives in a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="vqa-explain-") as folder:
        return predictor.explain(rgb, question, Path(folder) / "attention.png", top_k).path.read_bytes()
