"""Every refused request gets the same JSON body, `{"error": "<what is wrong>", "status": <code>}`.

FastAPI's own refusals (a missing form field, a wrong type, an unknown path) and a body over the size limit are
rewritten into that body with a message naming the field or the limit; the toolkit's errors map to 4xx.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from vqa.errors import VQAError
from vqa.inference.serve.batcher import ServerBusyError
from vqa.inference.serve.inputs import RequestError

log = logging.getLogger(__name__)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error body every refusal uses."""
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def too_large_message(max_bytes: int) -> str:
    """The error for a request body over the upload limit."""
    return f"the request body is larger than the upload limit of {max_bytes:,} bytes"


def validation_message(error: RequestValidationError) -> str:
    """FastAPI's list of validation problems as one sentence naming each field."""
    parts = []
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "header")]
        field = ".".join(location) or "request body"
        if problem.get("type") == "missing":
            parts.append(f"missing form field {field!r}")
        else:
            parts.append(f"form field {field!r}: {problem.get('msg', 'invalid value')}")
    return "; ".join(parts) or "the request is malformed"


def install_error_handlers(app: FastAPI, max_upload_bytes: int) -> None:
    """Register the handlers that turn every refusal into the JSON error body."""

    @app.exception_handler(RequestError)
    async def request_error(_: Request, error: RequestError) -> JSONResponse:
        return error_response(error.status, str(error))

    @app.exception_handler(ServerBusyError)
    async def busy(_: Request, error: ServerBusyError) -> JSONResponse:
        return error_response(503, str(error), headers={"Retry-After": "1"})

    @app.exception_handler(VQAError)
    async def model_refused(_: Request, error: VQAError) -> JSONResponse:
        return error_response(422, str(error))  # the model's own checks: an image or question it cannot take

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_message(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 413:
            message = too_large_message(max_upload_bytes)
        elif error.status_code == 404:
            message = f"no such page or endpoint: {request.url.path} (see /docs)"
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path} (see /docs)"
        else:
            message = str(error.detail)
        return error_response(error.status_code, message, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> JSONResponse:
        log.exception("error answering %s %s", request.method, request.url.path)
        return error_response(500, f"internal server error ({type(error).__name__}); see the server log")
