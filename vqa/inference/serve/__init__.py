"""`vqa serve`: trained models behind an HTTP API and one web page, answering concurrent questions in batches.

    command.py   the `vqa serve` command line (uvicorn)
    app.py       the FastAPI application: endpoints, page, docs
    models.py    the loaded models and what /v1/models says of them
    batcher.py   grouping concurrent questions into `Predictor.answer_batch` calls off the event loop
    inputs.py    limits on uploads, images and questions
    errors.py    every refusal as one JSON body naming the problem
    schemas.py   the JSON bodies (and so the OpenAPI schema)
    page.html    the page: no build step, nothing fetched from elsewhere

Nothing here is imported by `vqa.inference` or `vqa.load`: FastAPI is needed only to serve.
"""
