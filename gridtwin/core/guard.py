"""The server guard: admission control, undecodable requests and sanitised failures, for
every RPC of a gridtwin service (health and reflection pass through untouched).

* **Admission control** (per replica): at most `GRIDTWIN_MAX_CALLS` concurrent unary calls
  and `GRIDTWIN_MAX_STREAMS` concurrent streaming calls. Beyond that a call is shed at once
  with RESOURCE_EXHAUSTED, a `retry-after-ms` trailing metadata entry and a
  `google.rpc.RetryInfo` detail (`GRIDTWIN_RETRY_AFTER_MS`), instead of queueing until every
  caller's deadline has passed.
* **Undecodable request bytes** are INVALID_ARGUMENT with a BadRequest violation on field
  `request` (gRPC would otherwise answer UNKNOWN/INTERNAL from its own deserializer).
* **Failures**: an exception escaping a handler is logged with its trace and answered with a
  sanitised message and a meaningful code: Redis unreachable → UNAVAILABLE (retryable by the
  channel's policy), Redis out of memory → RESOURCE_EXHAUSTED, a failed downstream call → its
  transient code, anything else → INTERNAL. Never UNKNOWN with exception text.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import redis.exceptions as redis_errors
from google.rpc import status_pb2

from gridtwin.core.config import settings
from gridtwin.core.errors import FieldViolation, bad_request, retry_info_status, upstream_failure

log = logging.getLogger(__name__)

PASS_THROUGH = ("/grpc.health.v1.", "/grpc.reflection.")
GRPC_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class _RichStatus(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def rich_status(status: status_pb2.Status, extra: tuple[tuple[str, str], ...] = ()) -> grpc.Status:
    """A grpc.Status carrying the google.rpc.Status detail (and extra trailing metadata)."""
    code = next(c for c in grpc.StatusCode if c.value[0] == status.code)
    return _RichStatus(code, status.message, ((GRPC_DETAILS_KEY, status.SerializeToString()), *extra))


def classify_exception(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """(code, sanitised message) for an exception that escaped a handler."""
    if isinstance(exc, redis_errors.OutOfMemoryError) or (
        isinstance(exc, redis_errors.ResponseError) and str(exc).startswith("OOM")
    ):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, "redis memory is full (maxmemory reached)"
    if isinstance(
        exc,
        redis_errors.ConnectionError
        | redis_errors.TimeoutError
        | redis_errors.ReadOnlyError
        | redis_errors.ClusterDownError
        | redis_errors.TryAgainError
        | ConnectionError
        | TimeoutError,
    ):
        return grpc.StatusCode.UNAVAILABLE, "redis unavailable, retry"
    if isinstance(exc, redis_errors.RedisClusterException):
        return grpc.StatusCode.UNAVAILABLE, "redis unavailable, retry"
    if isinstance(exc, grpc.aio.AioRpcError):
        failure = upstream_failure("upstream", exc)
        return next(c for c in grpc.StatusCode if c.value[0] == failure.code), failure.message
    return grpc.StatusCode.INTERNAL, "internal error (logged)"


class _Undecodable:
    """Stands in for a request whose bytes did not parse."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _safe_deserializer(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # DecodeError, RuntimeWarning on bad UTF-8, ...
            return _Undecodable(exc)

    return parse


async def _reject_undecodable(context: grpc.aio.ServicerContext) -> None:
    status = bad_request(
        [FieldViolation("request", "the request bytes do not decode as the method's message")],
        message="undecodable request",
    )
    await context.abort_with_status(rich_status(status))


class Admission:
    """Counts in-flight calls and streams of one replica against their limits."""

    def __init__(self, max_calls: int, max_streams: int, retry_after_ms: int) -> None:
        self.max_calls = max_calls
        self.max_streams = max_streams
        self.retry_after_ms = retry_after_ms
        self.calls = 0
        self.streams = 0
        self.shed = 0

    @classmethod
    def from_env(cls) -> Admission:
        cfg = settings()
        return cls(max_calls=cfg.max_calls, max_streams=cfg.max_streams, retry_after_ms=cfg.retry_after_ms)

    def try_enter(self, streaming: bool) -> bool:
        if streaming:
            if self.streams >= self.max_streams:
                return False
            self.streams += 1
        else:
            if self.calls >= self.max_calls:
                return False
            self.calls += 1
        return True

    def leave(self, streaming: bool) -> None:
        if streaming:
            self.streams -= 1
        else:
            self.calls -= 1

    async def shed_call(self, context: grpc.aio.ServicerContext, streaming: bool) -> None:
        self.shed += 1
        kind = "streams" if streaming else "calls"
        limit = self.max_streams if streaming else self.max_calls
        status = retry_info_status(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"overloaded: {limit} concurrent {kind} on this replica; retry after {self.retry_after_ms} ms",
            self.retry_after_ms,
        )
        await context.abort_with_status(rich_status(status, (("retry-after-ms", str(self.retry_after_ms)),)))


async def _fail(context: grpc.aio.ServicerContext, method: str, exc: BaseException) -> None:
    code, message = classify_exception(exc)
    log.error("call failed", exc_info=exc, extra={"method": method, "code": code.name})
    await context.abort(code, message)


class GuardInterceptor(grpc.aio.ServerInterceptor):
    """Admission control, request decoding and failure mapping around every handler."""

    def __init__(self, admission: Admission | None = None) -> None:
        self.admission = admission or Admission.from_env()
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(PASS_THROUGH):
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        admission = self.admission
        deserializer = _safe_deserializer(handler.request_deserializer)

        if handler.unary_unary is not None:
            behavior = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                if isinstance(request, _Undecodable):
                    await _reject_undecodable(context)
                if not admission.try_enter(False):
                    await admission.shed_call(context, False)
                try:
                    return await behavior(request, context)
                except (grpc.aio.AbortError, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    await _fail(context, method, exc)
                finally:
                    admission.leave(False)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )

        if handler.unary_stream is not None:
            behavior = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                if isinstance(request, _Undecodable):
                    await _reject_undecodable(context)
                async for item in _guarded_stream(behavior(request, context), context, method, admission):
                    yield item

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )

        if handler.stream_unary is not None:
            behavior = handler.stream_unary

            async def stream_unary(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
                if not admission.try_enter(True):
                    await admission.shed_call(context, True)
                try:
                    return await behavior(_checked(requests, context), context)
                except (grpc.aio.AbortError, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    await _fail(context, method, exc)
                finally:
                    admission.leave(True)

            return grpc.stream_unary_rpc_method_handler(
                stream_unary,
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )

        behavior = handler.stream_stream

        async def stream_stream(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            async for item in _guarded_stream(
                behavior(_checked(requests, context), context), context, method, admission
            ):
                yield item

        return grpc.stream_stream_rpc_method_handler(
            stream_stream, request_deserializer=deserializer, response_serializer=handler.response_serializer
        )


async def _checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    """The request stream; an undecodable message ends the call with INVALID_ARGUMENT."""
    async for request in requests:
        if isinstance(request, _Undecodable):
            await _reject_undecodable(context)
        yield request


async def _guarded_stream(
    responses: Any, context: grpc.aio.ServicerContext, method: str, admission: Admission
) -> AsyncIterator[Any]:
    if not admission.try_enter(True):
        await admission.shed_call(context, True)
    try:
        if inspect.isasyncgen(responses) or hasattr(responses, "__aiter__"):
            async for item in responses:
                yield item
        else:  # a coroutine that writes with context.write()
            await responses
    except (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit):
        raise
    except Exception as exc:
        await _fail(context, method, exc)
    finally:
        admission.leave(True)
