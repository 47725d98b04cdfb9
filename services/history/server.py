"""The history service: the assessment stream's consumer group `history` → the database
(`DATABASE_URL`, else var/history.sqlite3), and the internal `gridtwin.v1.History` API the
gateway calls for `History`, `ListMeters` and `Report` (reports are rendered here, where the
database is, by `gridtwin.reports` in a worker thread).

Health is SERVING only while both the database and Redis answer.
"""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from gridtwin.core.config import settings
from gridtwin.core.errors import FieldViolation, abort_with_status, bad_request
from gridtwin.core.redis_client import connect, is_up
from gridtwin.core.server import ServiceSpec
from gridtwin.history import queries
from gridtwin.history.ack_request import ack_violations
from gridtwin.history.acks import NotAnAlarm, acknowledge
from gridtwin.history.config import database_url, retention_days, safe_url, stream_maxlen
from gridtwin.history.consumer import StreamConsumer
from gridtwin.history.model_metrics import online_metrics
from gridtwin.history.repository import Repository
from gridtwin.registry import MODEL_MODULE
from gridtwin.reports.request import invalid_message, parse_report
from gridtwin.v1 import gateway_pb2, history_pb2_grpc, services_pb2

DAY_S = 86_400

log = logging.getLogger(__name__)


class HistoryServicer(history_pb2_grpc.HistoryServicer):
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    async def Query(
        self, request: gateway_pb2.HistoryRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.HistoryPage:
        query, violations = queries.parse_history(request)
        if violations:
            await abort_with_status(context, bad_request(violations, "invalid history request"))
        return await asyncio.to_thread(queries.history_page, self.repo, request, query)

    async def ListMeters(
        self, request: gateway_pb2.ListMetersRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.MeterList:
        query, violations = queries.parse_list_meters(request)
        if violations:
            await abort_with_status(context, bad_request(violations, "invalid list-meters request"))
        return await asyncio.to_thread(queries.meter_list, self.repo, query)

    async def Report(
        self, request: gateway_pb2.ReportRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ReportFile:
        from gridtwin.reports.files import build_report_file  # matplotlib + reportlab: on first report

        query, violations = parse_report(request)
        if query is None:
            await abort_with_status(context, bad_request(violations, invalid_message(violations)))
        report = await asyncio.to_thread(build_report_file, self.repo, query)
        if report is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no stored assessments of meter {query.meter_id!r} in "
                f"[{query.start.isoformat()}, {query.end.isoformat()})",
            )
        return report

    async def Acknowledge(
        self, request: services_pb2.AlarmAcknowledgement, context: grpc.aio.ServicerContext
    ) -> services_pb2.AlarmAcknowledgement:
        """Stores the verdict; `acknowledged_by` comes from the gateway (the token's subject)."""
        violations = ack_violations(request)
        if not request.acknowledged_by:
            violations.append(FieldViolation("acknowledged_by", "required (set by the gateway)"))
        if violations:
            await abort_with_status(context, bad_request(violations, "invalid acknowledgement"))
        try:
            return await asyncio.to_thread(
                acknowledge, self.repo, request, request.acknowledged_by, int(time.time() * 1e6)
            )
        except NotAnAlarm as exc:
            code = grpc.StatusCode.FAILED_PRECONDITION if exc.stored else grpc.StatusCode.NOT_FOUND
            await context.abort(code, exc.reason)
            raise  # unreachable: abort raises

    async def OnlineMetrics(
        self, request: services_pb2.OnlineMetricsRequest, context: grpc.aio.ServicerContext
    ) -> services_pb2.OnlineMetricsReply:
        violations = []
        unknown = sorted(set(request.models) - set(MODEL_MODULE))
        if unknown:
            violations.append(FieldViolation("models", f"unknown {unknown}"))
        if request.window_s < 0:
            violations.append(FieldViolation("window_s", f"must be ≥ 0, got {request.window_s}"))
        if violations:
            await abort_with_status(context, bad_request(violations, "invalid online-metrics request"))
        models = list(request.models) or list(MODEL_MODULE)
        rows = await asyncio.to_thread(
            online_metrics, self.repo, models, request.window_s or DAY_S, int(time.time() * 1e6)
        )
        return services_pb2.OnlineMetricsReply(metrics=rows)


def spec() -> ServiceSpec:
    cfg = settings()
    url = database_url()
    repo = Repository(url)
    client = connect(cfg.redis_url)
    consumer = StreamConsumer(client, cfg.redis_prefix, repo)
    servicer = HistoryServicer(repo)
    tasks: list[asyncio.Task[None]] = []

    def register(server: grpc.aio.Server) -> list[str]:
        history_pb2_grpc.add_HistoryServicer_to_server(servicer, server)
        return ["gridtwin.v1.History"]

    async def start() -> None:
        # The database may come up after us: keep trying (health stays NOT_SERVING meanwhile).
        while True:
            try:
                await asyncio.to_thread(repo.create_schema)
                break
            except Exception as exc:
                log.warning("database not ready", extra={"url": safe_url(url), "error": str(exc)[:300]})
                await asyncio.sleep(2.0)
        log.info(
            "history database ready",
            extra={
                "url": safe_url(url),
                "dialect": repo.dialect,
                "retention_days": retention_days(),
                "stream": consumer.key,
                "stream_maxlen": stream_maxlen(),
                "consumer": consumer.name,
            },
        )
        tasks.append(asyncio.create_task(consumer.run()))

    async def ready() -> bool:
        db = await asyncio.to_thread(repo.ping)
        return db and await is_up(client)

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await client.aclose()
        repo.dispose()

    return ServiceSpec(name="history", register=register, start=start, ready=ready, stop=stop)
