"""OpenTelemetry tracing: one span per RPC, one child span per request-path step.

Span attributes carry codes (party, purpose, categories, decision), never an ID
number or a name; the test suite captures every span and log record to check that.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Span, Status, StatusCode, Tracer, format_trace_id

from gateway import __version__
from gateway.errors import ConfigurationError

log = logging.getLogger("credgate")

STEPS = ("identify", "validate", "decide", "consent", "fetch", "protect", "audit", "respond")


def make_tracer_provider(exporter: str | SpanExporter = "none") -> TracerProvider:
    """A tracer provider exporting to "none", "console", "otlp" or a given exporter."""
    provider = TracerProvider(resource=Resource.create(
        {"service.name": "credgate", "service.version": __version__}))
    if isinstance(exporter, SpanExporter):
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore
                OTLPSpanExporter,
            )
        except ImportError:
            raise ConfigurationError(
                "trace_exporter=otlp needs the otlp extra: pip install 'credgate[otlp]'"
            ) from None
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    elif exporter != "none":
        raise ConfigurationError(f"unknown trace exporter {exporter!r}")
    return provider


def trace_id_of(span: Span) -> str:
    """The span's trace id as 32 hex digits (used to join audit entries and traces)."""
    return format_trace_id(span.get_span_context().trace_id)


@contextmanager
def step(tracer: Tracer, name: str, parent: Context | None = None) -> Iterator[Span]:
    """A child span for one request-path step; marks it as an error when the step refuses.

    The span is not made current (nothing below a step starts spans), which keeps a
    step's tracing cost to one span start and end.
    """
    span = tracer.start_span(name, context=parent, record_exception=False,
                             set_status_on_exception=False)
    try:
        yield span
    except Exception as exc:
        # The exception text may describe input; record only its type and reason code.
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        reason = getattr(exc, "reason", "")
        if reason:
            span.set_attribute("credgate.refusal", reason)
        raise
    finally:
        span.end()
