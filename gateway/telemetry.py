"""OpenTelemetry tracing: one span per RPC, one child span per request-path step.

Span attributes carry codes (party, purpose, categories, decision), never an ID
number or a name; the test suite captures every span and log record to check that.
"""

from __future__ import annotations

import logging
import os

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    Span,
    SpanContext,
    Status,
    StatusCode,
    Tracer,
    format_trace_id,
    get_current_span,
)

from gateway import __version__
from gateway.errors import ConfigurationError

log = logging.getLogger("credgate")

STEPS = ("identify", "validate", "decide", "consent", "fetch", "protect", "audit", "respond")


def make_tracer_provider(exporter: str | SpanExporter = "none") -> TracerProvider:
    """A tracer provider exporting to "none", "console", "otlp" or a given exporter.

    With "none" nothing would ever read a span, so spans are sampled out at the root:
    trace ids are still generated (the audit records them) but no span is recorded.
    """
    resource = Resource.create({"service.name": "credgate", "service.version": __version__})
    if exporter == "none":
        return TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    provider = TracerProvider(resource=resource)
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
    else:
        raise ConfigurationError(f"unknown trace exporter {exporter!r}")
    return provider


def start_call_span(provider: TracerProvider, tracer: Tracer, name: str) -> Span:
    """The root span of one call, started but not made current (nothing reads it there).

    Untraced (exporter "none", sampler ALWAYS_OFF) it is a non-recording span that only
    carries a fresh trace id for the audit, made without the SDK's sampling, span and
    context machinery (issue 12: about 60 µs a call on this machine). End it with
    ``span.end()``.
    """
    if provider.sampler is ALWAYS_OFF:
        ids = provider.id_generator
        return NonRecordingSpan(SpanContext(ids.generate_trace_id(), ids.generate_span_id(),
                                            is_remote=False))
    return tracer.start_span(name, record_exception=False, set_status_on_exception=False)


class _NoStep:
    """The step of an untraced call: nothing to start or end."""

    __slots__ = ()

    def __enter__(self) -> Span:
        return INVALID_SPAN

    def __exit__(self, *exc: object) -> None:
        return None


#: What CallFrame.step gives when the call is not recorded.
NO_STEP = _NoStep()


def trace_id_of(span: Span) -> str:
    """The span's trace id as 32 hex digits (used to join audit entries and traces)."""
    return format_trace_id(span.get_span_context().trace_id)


class StepSpan:
    """A child span for one request-path step; marks it as an error when the step refuses.

    The span is not made current (nothing below a step starts spans), and when the call
    is sampled out no span is started at all, so a step costs almost nothing untraced.
    """

    __slots__ = ("_name", "_parent", "_span", "_tracer")

    def __init__(self, tracer: Tracer, name: str, parent: Context | None = None) -> None:
        self._tracer = tracer
        self._name = name
        self._parent = parent
        self._span: Span = INVALID_SPAN

    def __enter__(self) -> Span:
        if self._parent is not None and not get_current_span(self._parent).is_recording():
            return INVALID_SPAN
        self._span = self._tracer.start_span(self._name, context=self._parent,
                                             record_exception=False,
                                             set_status_on_exception=False)
        return self._span

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        span = self._span
        if span is INVALID_SPAN:
            return
        if exc is not None:
            # The exception text may describe input; record only its type and reason code.
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            reason = getattr(exc, "reason", "")
            if reason:
                span.set_attribute("credgate.refusal", reason)
        span.end()
