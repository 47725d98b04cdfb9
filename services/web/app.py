"""The FastAPI application: JSON under /v1/ in the proto3 JSON mapping, the live WebSocket,
the dashboard's static files, health and Prometheus metrics.

Every /v1/ route is a thin translation: JSON → protobuf (json_format.ParseDict) → one gateway
call → protobuf → JSON (json_format.MessageToDict). gRPC errors become HTTP statuses with the
offending field named (gridtwin.web.errors).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import grpc
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.exceptions import HTTPException

from gridtwin.core.errors import FieldViolation
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2, gateway_pb2, reading_pb2, services_pb2
from gridtwin.web.errors import ErrorBody, error_body, from_rpc_error, invalid
from gridtwin.web.protomodels import Timestamp, model_for, to_json_dict
from services.web import metrics
from services.web.gateway import BadAuthorization, GatewayClient, auth_metadata
from services.web.live import live_endpoint
from services.web.reports import file_response, rename_fields, report_request

STATIC = Path(__file__).resolve().parent / "static"

ReadingJson = model_for(reading_pb2.Reading.DESCRIPTOR)
ReadingBatchJson = model_for(reading_pb2.ReadingBatch.DESCRIPTOR)
AssessmentJson = model_for(assessment_pb2.Assessment.DESCRIPTOR)
AssessmentBatchJson = model_for(assessment_pb2.AssessmentBatch.DESCRIPTOR)
HistoryPageJson = model_for(gateway_pb2.HistoryPage.DESCRIPTOR)
MeterListJson = model_for(gateway_pb2.MeterList.DESCRIPTOR)
ModelCatalogJson = model_for(services_pb2.ModelCatalog.DESCRIPTOR)
ModelName = Literal[tuple(MODEL_MODULE)]  # type: ignore[valid-type]
Authorization = Annotated[str | None, Header(description="`Bearer <jwt>`, forwarded to the gateway")]

MAX_PAGE_SIZE = 5000
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "invalid input; `fieldViolations` names the field",
        401: "no or invalid token",
        403: "the token's role may not do this",
        429: "rate limited",
        503: "the gateway or a service behind it is unavailable",
        504: "the gateway did not answer in time",
    }.items()
}


def to_json(message: Message) -> dict[str, Any]:
    """A message in the proto3 JSON mapping, scalar defaults included (easier for clients)."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def error_response(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status)


_UNION_TAGS = {"float", "int", "str", "bool", "none", "dict", "list"}


def _violation_field(loc: tuple[Any, ...]) -> str:
    """A Pydantic error location as a field path (`readings[2].voltage.a`), without the
    request part (body, query) and the tags Pydantic adds for union members."""
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item not in _UNION_TAGS and not any(ch in item for ch in "[]-'( "):
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "body"


class GatewayError(Exception):
    """A failed call, already translated to an HTTP status and an error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


_HTTP_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
}
_NOT_YET = {"model": ErrorBody, "description": "this gateway does not implement the call"}


def _parse(body: dict[str, Any], message: Message) -> Message:
    try:
        return json_format.ParseDict(body, message)
    except json_format.ParseError as exc:
        raise GatewayError(*invalid("body", str(exc))) from None


def create_app(gateway_addr: str | None = None) -> FastAPI:
    gateway = GatewayClient(gateway_addr)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway.open()
        yield
        await gateway.close()

    app = FastAPI(
        title="gridtwin",
        version="1.0.0",
        summary="Smart-grid digital twin: REST in front of the gridtwin.v1.GridTwin gRPC API",
        description=(
            "Bodies follow the proto3 JSON mapping of `protos/gridtwin/v1/` (lowerCamelCase names, "
            "enums by name, RFC 3339 timestamps, int64 as strings). Errors carry the gRPC code, a "
            "message and the offending fields. Live assessments: WebSocket `/v1/live`."
        ),
        lifespan=lifespan,
    )
    app.state.gateway = gateway

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # one violation per field: a union (number or "NaN") fails once per member
        by_field: dict[str, list[str]] = {}
        for e in exc.errors():
            by_field.setdefault(_violation_field(tuple(e.get("loc", ()))), []).append(e.get("msg", "invalid"))
        violations = [{"field": f, "description": " or ".join(dict.fromkeys(d))} for f, d in by_field.items()]
        message = "; ".join(f"{v['field']}: {v['description']}" for v in violations)
        return JSONResponse(
            {"code": "INVALID_ARGUMENT", "message": message, "fieldViolations": violations}, 400
        )

    metrics.install(app)

    async def call(method: Any, request: Message, authorization: str | None, timeout: float) -> Any:
        try:
            return await method(request, timeout=timeout, metadata=auth_metadata(authorization))
        except grpc.aio.AioRpcError as exc:
            raise GatewayError(*from_rpc_error(exc)) from None

    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
        return error_response(exc.status, exc.body)

    @app.exception_handler(BadAuthorization)
    async def bad_authorization(_: Request, exc: BadAuthorization) -> JSONResponse:
        return error_response(401, error_body(grpc.StatusCode.UNAUTHENTICATED, str(exc)))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's own errors (unparseable body, unknown path, wrong method) in the same shape
        code = _HTTP_CODES.get(exc.status_code, grpc.StatusCode.UNKNOWN)
        violations = [FieldViolation("body", str(exc.detail))] if exc.status_code == 400 else []
        return JSONResponse(
            error_body(code, str(exc.detail), violations), exc.status_code, headers=exc.headers
        )

    @app.post(
        "/v1/assess",
        response_model=AssessmentJson,
        responses=ERRORS,
        summary="Assess one reading through the whole mesh",
        tags=["assess"],
    )
    async def assess(reading: ReadingJson, authorization: Authorization = None) -> Response:  # type: ignore[valid-type]
        message = _parse(to_json_dict(reading), reading_pb2.Reading())
        result = await call(gateway.stub.Assess, message, authorization, gateway.timeout_s)
        return JSONResponse(to_json(result))

    @app.post(
        "/v1/assess/batch",
        response_model=AssessmentBatchJson,
        responses=ERRORS,
        summary="Assess a batch; each item carries its own status (bad items never sink the batch)",
        tags=["assess"],
    )
    async def assess_batch(batch: ReadingBatchJson, authorization: Authorization = None) -> Response:  # type: ignore[valid-type]
        message = _parse(to_json_dict(batch), reading_pb2.ReadingBatch())
        result = await call(gateway.stub.AssessBatch, message, authorization, gateway.batch_timeout_s)
        return JSONResponse(to_json(result))

    @app.get(
        "/v1/history/{meter_id}",
        response_model=HistoryPageJson,
        responses={**ERRORS, 404: {"model": ErrorBody, "description": "unknown meter"}, 501: _NOT_YET},
        summary="Stored readings and assessments of one meter, oldest first, paged",
        tags=["history"],
    )
    async def history(
        meter_id: str,
        start: Annotated[Timestamp | None, Query(alias="from", description="inclusive, RFC 3339")] = None,
        end: Annotated[Timestamp | None, Query(alias="to", description="exclusive, RFC 3339")] = None,
        models: Annotated[list[ModelName] | None, Query(description="Assessment fields; default all")] = None,  # type: ignore[valid-type]
        page_size: Annotated[int, Query(ge=0, le=MAX_PAGE_SIZE, description="0 = server default")] = 0,
        page_token: str = "",
        authorization: Authorization = None,
    ) -> Response:
        request = gateway_pb2.HistoryRequest(
            meter_id=meter_id, models=models or [], page_size=page_size, page_token=page_token
        )
        if start is not None:
            request.start.FromJsonString(start)
        if end is not None:
            request.end.FromJsonString(end)
        page = await call(gateway.stub.History, request, authorization, gateway.timeout_s)
        return JSONResponse(to_json(page))

    @app.get(
        "/v1/meters",
        response_model=MeterListJson,
        responses={**ERRORS, 501: _NOT_YET},
        summary="Meters with stored history, their latest reading and severity",
        tags=["history"],
    )
    async def meters(
        prefix: str = "",
        page_size: Annotated[int, Query(ge=0, le=MAX_PAGE_SIZE, description="0 = server default")] = 0,
        page_token: str = "",
        authorization: Authorization = None,
    ) -> Response:
        request = gateway_pb2.ListMetersRequest(prefix=prefix, page_size=page_size, page_token=page_token)
        result = await call(gateway.stub.ListMeters, request, authorization, gateway.timeout_s)
        return JSONResponse(to_json(result))

    @app.get(
        "/v1/models",
        response_model=ModelCatalogJson,
        responses=ERRORS,
        summary="The sixteen models: registered versions and statuses",
        tags=["models"],
    )
    async def models_(authorization: Authorization = None) -> Response:
        result = await call(
            gateway.stub.ListModels, services_pb2.ListModelsRequest(), authorization, gateway.timeout_s
        )
        return JSONResponse(to_json(result))

    @app.get(
        "/v1/models/health",
        response_model=ModelCatalogJson,
        responses=ERRORS,
        summary="Champion and challenger versions, drift (PSI/KS per input) and per-version counts",
        tags=["models"],
    )
    async def models_health(
        models: str = Query("", description="comma-separated model names; empty = all sixteen"),
        authorization: Authorization = None,
    ) -> Response:
        wanted = [m for m in models.split(",") if m]
        result = await call(
            gateway.stub.ModelHealth,
            services_pb2.ModelHealthRequest(models=wanted),
            authorization,
            gateway.timeout_s,
        )
        return JSONResponse(to_json(result))

    report_responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "the report, as an attachment",
            "content": {"application/pdf": {}, "text/csv": {}},
        },
        **ERRORS,
        404: {"model": ErrorBody, "description": "no stored assessments of the meter in the range"},
    }

    async def report(
        kind: str, meter: str, start: str, end: str, fmt: str, islanded: bool, authorization: str | None
    ) -> Response:
        request = report_request(kind, meter, start, end, fmt, islanded)
        try:
            result = await call(gateway.stub.Report, request, authorization, gateway.report_timeout_s)
        except GatewayError as exc:
            return error_response(exc.status, rename_fields(exc.body))
        return file_response(result)

    @app.get(
        "/v1/reports/en50160",
        responses=report_responses,
        response_class=Response,
        summary="EN 50160 compliance report of one meter over a time range (PDF, or CSV statistics)",
        description=(
            "Supply voltage (4.2.2), frequency (4.2.1), unbalance (4.2.4), THD (4.2.5) and the "
            "dip/swell tables (4.3) from the stored history; at most 366 days per report."
        ),
        tags=["reports"],
    )
    async def report_en50160(
        meter: Annotated[str, Query(min_length=1)],
        start: Annotated[Timestamp, Query(alias="from", description="inclusive, RFC 3339")],
        end: Annotated[Timestamp, Query(alias="to", description="exclusive, RFC 3339")],
        format: Literal["pdf", "csv"] = "pdf",
        islanded: Annotated[bool, Query(description="judge frequency on the islanded-system bands")] = False,
        authorization: Authorization = None,
    ) -> Response:
        return await report("en50160", meter, start, end, format, islanded, authorization)

    @app.get(
        "/v1/reports/models",
        responses=report_responses,
        response_class=Response,
        summary="Per-model report of one meter: answers by status and severity, latency per stage",
        description="At most 366 days per report.",
        tags=["reports"],
    )
    async def report_models(
        meter: Annotated[str, Query(min_length=1)],
        start: Annotated[Timestamp, Query(alias="from", description="inclusive, RFC 3339")],
        end: Annotated[Timestamp, Query(alias="to", description="exclusive, RFC 3339")],
        format: Literal["pdf", "csv"] = "pdf",
        authorization: Authorization = None,
    ) -> Response:
        return await report("models", meter, start, end, format, False, authorization)

    app.add_api_websocket_route("/v1/live", live_endpoint(gateway))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ok = await gateway.ready()
        return JSONResponse({"status": "ready" if ok else "gateway not serving"}, 200 if ok else 503)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document without its 422 answers: validation errors are 400 here."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema
