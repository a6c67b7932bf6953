"""`automm serve`: a fitted model behind HTTP (FastAPI on uvicorn; `pip install 'automm[serve]'`).

    POST /predict, /predict_proba   a JSON array of records (pandas' to_json(orient="records")) or CSV
                                    (Content-Type: text/csv); {"predictions": [...]}, for predict_proba
                                    one object per row keyed by class
    GET  /health, /info             liveness; digest, schema, classes, versions, measured rows/s

The model is loaded and checked once per worker process at start-up (digest, versions, packages),
then warmed on a row of missing values so the first request does not load the backbones. The
embedding cache is in memory while serving (a server never writes under the user's cache). Each
worker gets its share of the cores. A bad request is a 4xx whose message names the column or the
limit, and the worker goes on serving; SIGTERM stops accepting, lets the requests in flight finish,
and exits (uvicorn's graceful shutdown).
"""

import io
import json
import os
import threading
from dataclasses import dataclass

# how the worker processes learn their settings: uvicorn starts them by import string, so the app is
# built from the environment
SETTINGS_ENV = "AUTOMM_SERVE_SETTINGS"


class BadRequest(ValueError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ServeSettings:
    model: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_body_mb: float = 16.0
    max_rows: int = 100_000
    threads: int | None = None     # per worker; default: the cores shared out among the workers
    access_log: bool = False

    def threads_per_worker(self) -> int:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return self.threads or max(1, cores // max(1, self.workers))


# ---- the request's table -----------------------------------------------------------------------
def parse_body(body: bytes, content_type: str, settings: ServeSettings):
    """The request's rows as a DataFrame, or BadRequest naming what is wrong with the body."""
    import pandas as pd
    if len(body) > settings.max_body_mb * 1e6:
        raise BadRequest(413, f"the body is {len(body) / 1e6:.1f} MB; this server takes at most "
                              f"{settings.max_body_mb:g} MB a request (automm serve --max-body-mb); send fewer rows")
    if not body.strip():
        raise BadRequest(400, "the body is empty; send a JSON array of records or CSV")
    if "csv" in content_type:
        try:
            df = pd.read_csv(io.BytesIO(body))
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise BadRequest(400, f"the body is not readable CSV: {exc}") from None
    else:
        try:
            rows = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(400, f"the body is not valid JSON ({exc}); send a JSON array of records, as "
                                  "pandas' to_json(orient='records') writes, or CSV with Content-Type: text/csv") from None
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadRequest(400, "the JSON body must be an array of records (objects of column: value), as pandas' "
                                  "to_json(orient='records') writes")
        df = pd.DataFrame.from_records(rows)
    if len(df) > settings.max_rows:
        raise BadRequest(413, f"the body has {len(df)} rows; this server takes at most {settings.max_rows} a request "
                              "(automm serve --max-rows)")
    return df


def check_rows(df, schema) -> None:
    """Before predicting: every column the model uses is there, and numeric columns hold numbers (a fit
    treats a stray string as missing with a warning; a client is better told)."""
    import pandas as pd

    from .validation import check_predict_input
    try:
        check_predict_input(df, schema)
    except (KeyError, ValueError) as exc:
        raise BadRequest(422, exc.args[0] if exc.args else str(exc)) from None
    for col in schema.columns:
        if str(col.kind) != "numeric" or col.name not in df.columns or pd.api.types.is_numeric_dtype(df[col.name]):
            continue
        values = df[col.name]
        bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise BadRequest(422, f"column {col.name!r} is numeric, but row {row} holds {values.iloc[row]!r} "
                                  f"({int(bad.sum())} such row(s)); send numbers or null")


def _plain(values) -> list:
    """Predictions as JSON holds them: numpy scalars as Python ones, missing as null."""
    import numpy as np
    return [None if (isinstance(v, float) and np.isnan(v)) else (v.item() if isinstance(v, np.generic) else v)
            for v in values]


# ---- the app ---------------------------------------------------------------------------------
class ModelService:
    """One loaded predictor and what a request does with it; the lock keeps one predict at a time per
    worker (its threads are the worker's cores already)."""

    def __init__(self, settings: ServeSettings):
        os.environ["AUTOMM_EMBEDDING_CACHE"] = "memory"
        from . import MultimodalPredictor
        self.settings = settings
        self.predictor = MultimodalPredictor.load(settings.model, num_threads=settings.threads_per_worker())
        self.lock = threading.Lock()
        self.warm_up()

    def warm_up(self) -> None:
        import pandas as pd
        schema = self.predictor.schema_
        row = pd.DataFrame({c: [None] for c in schema.used_columns})
        for c in schema.columns:
            if c.name in row and str(c.kind) == "numeric":
                row[c.name] = row[c.name].astype(float)
        with self.lock:
            self.predictor.predict(row)

    def predict(self, body: bytes, content_type: str, proba: bool) -> dict:
        df = parse_body(body, content_type, self.settings)
        check_rows(df, self.predictor.schema_)
        with self.lock:
            if proba:
                if self.predictor.task_.is_regression:
                    raise BadRequest(400, "predict_proba is for classification; this model is a regression: "
                                          "use /predict")
                table = self.predictor.predict_proba(df)
                return {"predictions": [dict(zip(_plain(table.columns), _plain(r))) for r in table.to_numpy()]}
            return {"predictions": _plain(self.predictor.predict(df).to_numpy())}

    def info(self) -> dict:
        from .compat import installed_versions
        p, info = self.predictor, self.predictor.info()
        return {"digest": info["digest"], "label": info["label"], "problem_type": info["problem_type"],
                "eval_metric": info["eval_metric"], "classes": _plain(info["classes"]), "schema": info["schema"],
                "inference": info["inference"], "predict_rows_per_s": info["predict_rows_per_s"],
                "models": [n for n, m in info["models"].items() if m["weight"] > 0],
                "versions": {"automm": info["automm_version"], **installed_versions()},
                "threads": p.task_.num_threads, "pid": os.getpid()}


def create_app(settings: ServeSettings):
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse
    except ImportError:
        raise ImportError("automm serve needs FastAPI and uvicorn: pip install 'automm[serve]'") from None
    service = ModelService(settings)
    app = FastAPI(title="automm", description=f"predictions of the model in {settings.model}")
    limit = int(settings.max_body_mb * 1e6)

    async def body_of(request: Request) -> bytes:
        """The body, at most `limit` bytes kept. A larger one is read on and dropped (up to ten times the
        limit) before the 413 goes out, so that the client, still sending, reads the answer instead of
        a reset connection."""
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif size > 10 * limit:
                break
        if size > limit:
            raise BadRequest(413, f"the body is {'over ' if size > 10 * limit else ''}{size / 1e6:.1f} MB; this server "
                                  f"takes at most {settings.max_body_mb:g} MB a request (automm serve --max-body-mb); "
                                  "send fewer rows a request")
        return b"".join(chunks)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception):  # logged by uvicorn; the worker goes on serving
        return JSONResponse({"error": f"predicting failed: {type(exc).__name__}: {exc}"}, status_code=500)

    async def answer(request: Request, proba: bool):
        from starlette.concurrency import run_in_threadpool
        body = await body_of(request)
        result = await run_in_threadpool(service.predict, body, request.headers.get("content-type", ""), proba)
        return JSONResponse(result)

    @app.post("/predict")
    async def predict(request: Request):
        return await answer(request, proba=False)

    @app.post("/predict_proba")
    async def predict_proba(request: Request):
        return await answer(request, proba=True)

    @app.get("/health")
    def health():
        return {"status": "ok", "digest": service.predictor.digest_}

    @app.get("/info")
    def info():
        return service.info()

    return app


def app_from_env():
    """The app of a uvicorn worker process, from the settings `serve` put in the environment."""
    return create_app(ServeSettings(**json.loads(os.environ[SETTINGS_ENV])))


def serve(settings: ServeSettings) -> None:
    """Run the server until SIGTERM or Ctrl-C. The model is checked here first, so a model that cannot be
    served fails with its own message before any worker starts."""
    try:
        import uvicorn
    except ImportError:
        raise ImportError("automm serve needs FastAPI and uvicorn: pip install 'automm[serve]'") from None
    check_model(settings.model)
    threads = str(settings.threads_per_worker())
    os.environ.update({SETTINGS_ENV: json.dumps(settings.__dict__), "OMP_NUM_THREADS": threads,
                       "AUTOMM_EMBEDDING_CACHE": "memory"})
    # uvicorn drains on SIGTERM, then raises the signal again under the handler it found: a handler that
    # ignores it makes a drained server exit with status 0 rather than die by the signal
    import signal
    previous = signal.signal(signal.SIGTERM, _drained)
    try:
        uvicorn.run("automm.serving:app_from_env", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, access_log=settings.access_log, log_level="info",
                    timeout_graceful_shutdown=60)
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_model(path: str) -> None:
    """What load checks (every file's digest, the versions, the packages), without building the predictor:
    a model that cannot be served fails here with its own message before any worker starts, and this
    process, which only supervises the workers, stays small."""
    import shutil
    from pathlib import Path

    from . import __version__
    from .archive import is_archive, unpack
    from .compat import check_requirements, check_versions
    from .persistence import read_model_dir
    folder = unpack(path) if is_archive(path) else Path(path)
    try:
        manifest, _ = read_model_dir(folder)
    finally:
        if folder != Path(path):
            shutil.rmtree(folder, ignore_errors=True)
    check_versions(manifest, str(path), __version__)
    check_requirements(manifest)


def _drained(signum, frame) -> None:
    """SIGTERM after uvicorn has finished the requests in flight: nothing is left to do."""
