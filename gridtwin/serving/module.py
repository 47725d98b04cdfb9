"""The servicer behind each model module (monitoring, maintenance, energy, decision).

It loads the module's four models from the registry (a model that is not registered, or
whose manifest does not verify, answers UNAVAILABLE: never an invented number), warms them,
answers `Evaluate` with one partial Assessment per item, reports versions in `ListModels`,
and reloads a model when its registry entry changes (hot swap after `gridtwin train`).
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
from opentelemetry import trace

from gridtwin.core.config import settings
from gridtwin.core.redis_client import connect
from gridtwin.core.telemetry import attributes as attr
from gridtwin.core.telemetry import record_model, trace_id_hex, tracer
from gridtwin.features.matrix import from_message
from gridtwin.registry import MODULE_MODELS, RegistryError, load_entry, registry_dir
from gridtwin.serving.health import health_catalog
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel, output_class
from gridtwin.serving.state import MeterState
from gridtwin.serving.versions import VersionRouter
from gridtwin.v1 import assessment_pb2, reading_pb2, services_pb2

log = logging.getLogger(__name__)

ModelFactory = Callable[..., ServedModel]


def default_factory(name: str) -> ModelFactory | None:
    """`gridtwin.models.<name>.Model`, the serving code of a model, if it exists."""
    try:
        module = importlib.import_module(f"gridtwin.models.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"gridtwin.models.{name}":
            return None
        raise
    return getattr(module, "Model", None)


RELOAD_INTERVAL_S = 5.0


class DeadlinePassed(Exception):
    """The caller's deadline passed (or the call was cancelled) before inference started."""


class ModelSlot:
    """One Assessment field: its loaded model, or why there is none."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.model: ServedModel | None = None
        self.reason = "not registered"
        self.stamp: float | None = None


class ModuleServicer:
    """Implements Evaluate/ListModels for one module; registered under its gRPC service."""

    def __init__(
        self,
        module: str,
        factories: dict[str, ModelFactory],
        feature_names: tuple[str, ...],
        schema_version: str,
    ) -> None:
        self.module = module
        self.factories = factories
        self.feature_names = feature_names
        self.schema_version = schema_version
        unknown = set(factories) - set(MODULE_MODELS[module])
        if unknown:
            raise ValueError(f"{module} does not serve {sorted(unknown)}; it serves {MODULE_MODELS[module]}")
        self.slots = {name: ModelSlot(name) for name in MODULE_MODELS[module]}
        self.loaded = False
        cfg = settings()
        self.redis = connect()
        self.prefix = cfg.redis_prefix
        # What the operator configured for the models, handed to each at construction.
        self.model_config = ModelConfig.from_settings(cfg)
        # Each model's own per-meter state store (its key namespace), given to its `prepare`.
        self.states = {name: MeterState(self.redis, self.prefix, name) for name in self.slots}
        # Inference runs on one worker thread per module, off the event loop: health checks,
        # cancellations and deadline checks stay responsive while models compute, and models
        # (not all thread-safe) still see one batch at a time.
        self._inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{module}-inference")
        # A call with less time left than this is answered DEADLINE_EXCEEDED without inference.
        self.min_remaining_s = cfg.module_min_remaining_s
        # Challengers (shadow/canary) and drift windows beside the champions (docs/lifecycle.md).
        self.versions = VersionRouter(
            list(self.slots),
            factories,
            self.warm_batch,
            self.model_config,
            lambda namespace: MeterState(self.redis, self.prefix, namespace),
        )

    def close(self) -> None:
        self._inference.shutdown(wait=False, cancel_futures=True)

    # ---- loading -------------------------------------------------------------------
    def _manifest_stamp(self, name: str) -> float | None:
        path = registry_dir() / name / "manifest.json"
        return path.stat().st_mtime if path.exists() else None

    def load(self, name: str) -> None:
        slot = self.slots[name]
        slot.stamp = self._manifest_stamp(name)
        factory = self.factories.get(name)
        try:
            entry = load_entry(name)
        except RegistryError as exc:
            slot.model, slot.reason = None, str(exc)
            log.error("registry entry rejected", extra={"model": name, "reason": str(exc)})
            return
        if entry is None:
            slot.model, slot.reason = None, "not registered: run `gridtwin train`"
            return
        if factory is None:
            slot.model, slot.reason = None, f"{self.module} has no serving code for {name}"
            return
        if entry.manifest.get("schema_version") not in (None, "", self.schema_version):
            slot.model = None
            slot.reason = (
                f"trained on feature schema {entry.manifest.get('schema_version')}, "
                f"serving {self.schema_version}: retrain"
            )
            return
        try:
            model = factory(entry, self.model_config)
            model.warm(self.warm_batch())
        except Exception as exc:  # a broken artifact must not take the module down
            # The exception text stays in the log: callers read `reason` in every answer.
            log.exception("model failed to load", extra={"model": name})
            slot.model, slot.reason = (
                None,
                f"failed to load ({type(exc).__name__}); see the {self.module} log",
            )
            return
        slot.model, slot.reason = model, ""
        log.info("model loaded", extra={"model": name, "version": model.version})

    def load_all(self) -> None:
        for name in self.slots:
            self.load(name)
        self.versions.refresh()
        self.loaded = True

    async def watch_registry(self) -> None:
        """Reload a model when its manifest changes on disk."""
        while True:
            await asyncio.sleep(RELOAD_INTERVAL_S)
            for name, slot in self.slots.items():
                if self._manifest_stamp(name) != slot.stamp:
                    log.info("registry changed, reloading", extra={"model": name})
                    await asyncio.to_thread(self.load, name)
            await asyncio.to_thread(self.versions.refresh)

    def warm_batch(self) -> ModuleBatch:
        """A plausible batch of two readings for warming models (all-zero features are
        legal: models must handle them without raising)."""
        n = 2
        readings = [reading_pb2.Reading(meter_id=f"warmup-{i}") for i in range(n)]
        return ModuleBatch(
            readings=readings,
            features=np.zeros((n, len(self.feature_names))),
            feature_names=self.feature_names,
            schema_version=self.schema_version,
            upstream=[assessment_pb2.Assessment() for _ in range(n)],
        )

    # ---- serving -------------------------------------------------------------------
    def _batch(self, request: services_pb2.ModuleRequest) -> ModuleBatch:
        matrix = request.features
        if matrix.schema_version != self.schema_version:
            raise ValueError(f"features.schema_version {matrix.schema_version!r} != {self.schema_version!r}")
        if matrix.cols != len(self.feature_names) or matrix.rows != len(request.readings):
            raise ValueError(
                f"features is {matrix.rows}x{matrix.cols}, expected "
                f"{len(request.readings)}x{len(self.feature_names)}"
            )
        upstream = list(request.upstream)
        if upstream and len(upstream) != len(request.readings):
            raise ValueError(f"upstream has {len(upstream)} items for {len(request.readings)} readings")
        return ModuleBatch(
            readings=request.readings,
            features=from_message(matrix),
            feature_names=self.feature_names,
            schema_version=self.schema_version,
            upstream=upstream or [assessment_pb2.Assessment() for _ in request.readings],
        )

    def evaluate(self, batch: ModuleBatch) -> list[assessment_pb2.Assessment]:
        results = [assessment_pb2.Assessment() for _ in range(len(batch))]
        for name, slot in self.slots.items():
            cls = output_class(name)
            if slot.model is None:
                unavailable = cls(
                    info=assessment_pb2.ModelInfo(
                        status=assessment_pb2.UNAVAILABLE, model_name=name, detail=slot.reason
                    )
                )
                for result in results:
                    getattr(result, name).CopyFrom(unavailable)
                record_model(name, "", None, {("UNAVAILABLE", "SEVERITY_UNSPECIFIED"): len(batch)})
                continue
            with tracer().start_as_current_span(
                f"model {name}",
                attributes={
                    attr.MODEL_NAME: name,
                    attr.MODEL_VERSION: slot.model.version,
                    attr.MODEL_ALGORITHM: slot.model.algorithm,
                    attr.BATCH_SIZE: len(batch),
                },
            ) as span:
                started = time.perf_counter()
                try:
                    outputs = slot.model.predict(batch)
                except Exception as exc:
                    log.exception("model failed", extra={"model": name})
                    span.record_exception(exc)
                    span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
                    # No exception text in the answer (it reaches clients): the trace id finds the log.
                    failed = cls(
                        info=assessment_pb2.ModelInfo(
                            status=assessment_pb2.FAILED,
                            model_name=name,
                            model_version=slot.model.version,
                            detail=f"prediction failed ({type(exc).__name__}); trace_id {trace_id_hex() or 'n/a'}",
                        )
                    )
                    outputs = [failed] * len(batch)
                elapsed_ms = (time.perf_counter() - started) * 1e3
                span.set_attribute(attr.MODEL_DURATION_MS, elapsed_ms)
            outputs = self.versions.route(name, slot.model, batch, outputs)
            for result, output in zip(results, outputs, strict=True):
                getattr(result, name).CopyFrom(output)
            self._record(name, slot.model.version, elapsed_ms, outputs)
        return results

    def _record(self, name: str, version: str, elapsed_ms: float, outputs: list) -> None:
        """Per-model latency, and the mix of statuses and severities (prediction drift)."""
        mix = Counter((o.info.status, o.info.severity) for o in outputs)
        named = {
            (assessment_pb2.ModelStatus.Name(status), assessment_pb2.Severity.Name(severity)): count
            for (status, severity), count in mix.items()
        }
        record_model(name, version, elapsed_ms / 1e3, named)

    async def Evaluate(
        self, request: services_pb2.ModuleRequest, context: grpc.aio.ServicerContext
    ) -> services_pb2.ModuleResponse:
        try:
            batch = self._batch(request)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        deadline = self._deadline(context)
        if deadline is not None and deadline - time.monotonic() < self.min_remaining_s:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline too short for inference")
        await self.prepare(batch)
        await self.versions.prepare(batch)
        gone = threading.Event()  # set when the call ends early (cancelled by the caller)
        context.add_done_callback(lambda _: gone.set())
        try:
            results = await self.infer(batch, deadline, gone.is_set)
        except DeadlinePassed:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before inference")
        finally:
            self.versions.release(batch)
        self.versions.schedule_flush(self.redis)  # drift and shadow counts, off the answer's path
        return services_pb2.ModuleResponse(results=results)

    @staticmethod
    def _deadline(context: grpc.aio.ServicerContext) -> float | None:
        remaining = context.time_remaining()
        return None if remaining is None else time.monotonic() + remaining

    async def infer(
        self,
        batch: ModuleBatch,
        deadline: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[assessment_pb2.Assessment]:
        """`evaluate` on the module's inference thread. A call whose deadline passes (or
        that is cancelled) while it waits for the thread is skipped, not computed."""

        def run() -> list[assessment_pb2.Assessment]:
            late = deadline is not None and deadline - time.monotonic() < self.min_remaining_s
            if late or (cancelled is not None and cancelled()):
                raise DeadlinePassed
            return self.evaluate(batch)

        ctx = contextvars.copy_context()  # keeps the trace context for the model spans
        return await asyncio.get_running_loop().run_in_executor(self._inference, ctx.run, run)

    async def prepare(self, batch: ModuleBatch) -> None:
        """Let models that keep per-meter state in Redis fetch it (concurrently)."""
        # Only models that keep per-meter state override `prepare`; skip the no-op ones.
        models = [
            slot.model
            for slot in self.slots.values()
            if slot.model is not None and type(slot.model).prepare is not ServedModel.prepare
        ]
        if not models:
            return
        await next(iter(self.states.values())).ready()  # before the models' concurrent calls
        results = await asyncio.gather(
            *(m.prepare(batch, self.states[m.name]) for m in models), return_exceptions=True
        )
        for model, result in zip(models, results, strict=True):
            if isinstance(result, BaseException):
                # predict() sees no context for this model and reports its own failure.
                log.warning("prepare failed", extra={"model": model.name, "error": repr(result)})

    async def ListModels(
        self, request: services_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> services_pb2.ModelCatalog:
        return await health_catalog(self.catalog(), self.versions, self.redis)

    def catalog(self) -> services_pb2.ModelCatalog:
        models = []
        for name, slot in self.slots.items():
            if slot.model is None:
                models.append(
                    services_pb2.RegisteredModel(
                        name=name, module=self.module, status=assessment_pb2.UNAVAILABLE, detail=slot.reason
                    )
                )
            else:
                models.append(
                    services_pb2.RegisteredModel(
                        name=name,
                        module=self.module,
                        version=slot.model.version,
                        algorithm=slot.model.algorithm,
                        status=assessment_pb2.OK,
                    )
                )
        return services_pb2.ModelCatalog(models=models)
