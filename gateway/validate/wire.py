"""Requests off the wire: the gateway decodes each request body itself.

gRPC would otherwise parse the body before any servicer runs, and a malformed body
(truncated varint, bad length, invalid UTF-8, a lone surrogate, deep groups, field 0)
would end as INTERNAL with no audit entry. Here every credgate method is served with an
identity deserialiser (`DecodeRequests`): the handler receives the raw bytes and decodes
them itself; a body that does not decode is refused through the audited request frame
(the caller identified from its mTLS certificate) as INVALID_ARGUMENT.

The raw bytes travel with the call: the servicer receives a `WireContext` (the gRPC
context plus `raw_request`), and `audited_call` copies them into `CallFrame.raw_request`,
where the identify step can verify a signature over the bytes exactly as sent. The
answer goes back the same way: a servicer that signed its answer leaves the signed bytes
on the `WireContext`, and exactly those bytes are sent (docs/request-signing.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from gateway.errors import InvalidArgument

__all__ = ["DecodeRequests", "MalformedRequest", "WireContext", "decode_request",
           "raw_request_of"]


class MalformedRequest(InvalidArgument):
    """A request body that is not a valid message of its type (never quoted back)."""

    def __init__(self, type_name: str, size: int, method: str = "") -> None:
        super().__init__(f"the request body ({size} bytes) is not a valid {type_name} "
                         "message", reason=f"malformed_request {method}".rstrip())


def decode_request(message_type: type[Message], raw: bytes) -> Message:
    """The message a request body holds; raises MalformedRequest for any malformed body."""
    try:
        message = message_type.FromString(raw)
    except (DecodeError, RecursionError, ValueError, TypeError):
        raise MalformedRequest(message_type.DESCRIPTOR.full_name, len(raw)) from None
    if holds_field_zero(message):
        raise MalformedRequest(message_type.DESCRIPTOR.full_name, len(raw))
    return message


def holds_field_zero(message: Message) -> bool:
    """Whether a decoded message keeps an unknown field numbered 0, at any depth.

    Field 0 is never valid; upb refuses it in most messages but keeps it as an unknown
    field of a message that declares no fields, so it is looked for here as well.
    """
    stack: list[Any] = [message]
    while stack:
        current = stack.pop()
        unknown = list(UnknownFieldSet(current))
        while unknown:
            field = unknown.pop()
            if field.field_number == 0:
                return True
            if isinstance(field.data, UnknownFieldSet):  # a group: its fields too
                unknown.extend(field.data)
        for descriptor, value in current.ListFields():
            if descriptor.message_type is None:
                continue
            if descriptor.message_type.GetOptions().map_entry:
                if descriptor.message_type.fields_by_name["value"].message_type is not None:
                    stack.extend(value.values())
            elif descriptor.is_repeated:
                stack.extend(value)
            else:
                stack.append(value)
    return False


class WireContext:
    """A servicer context that also carries the request's raw bytes, as received."""

    def __init__(self, context: grpc.ServicerContext, raw_request: bytes) -> None:
        self._context = context
        #: The request body exactly as the caller sent it.
        self.raw_request = raw_request
        #: A signed answer and the bytes its signature covers (gateway/respond/answers.py).
        self.signed_answer: tuple[Message, bytes] | None = None

    def send_signed(self, answer: Message, wire: bytes) -> None:
        """Send `wire` (the bytes the gateway signed) when the servicer returns `answer`."""
        self.signed_answer = (answer, wire)

    def response_bytes(self, response: Any) -> bytes | None:
        """The signed bytes of `response`, if it is the answer that was signed."""
        if self.signed_answer is not None and self.signed_answer[0] is response:
            return self.signed_answer[1]
        return None

    def __getattr__(self, name: str) -> Any:
        # Everything else is the gRPC context's own (auth_context, abort, metadata...).
        return getattr(self._context, name)


def raw_request_of(context: object) -> bytes | None:
    """The raw request bytes a context carries (None outside a WireContext)."""
    return context.raw_request if isinstance(context, WireContext) else None


Refusal = Callable[[grpc.ServicerContext, str, MalformedRequest], None]


class DecodeRequests(grpc.ServerInterceptor):
    """Re-register every method under `prefix` with an identity deserialiser.

    The generated ``add_*_to_server`` code registers ``FromString`` as each method's
    deserialiser; gRPC would run it before any servicer. This interceptor hands gRPC a
    handler without one, so the body arrives as bytes, and runs the same decoder itself:
    a body that fails goes to `refuse` (which audits and aborts the call), a body that
    decodes goes to the servicer with a `WireContext` holding the raw bytes. Being an
    interceptor, it covers services registered later the same way.
    """

    def __init__(self, prefix: str, refuse: Refusal) -> None:
        self._prefix = prefix
        self._refuse = refuse
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def intercept_service(self, continuation: Any,
                          handler_call_details: grpc.HandlerCallDetails) -> Any:
        """The method's handler, decoding its request here; others pass unchanged."""
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = continuation(handler_call_details)
        if (handler is None or not method.startswith(self._prefix)
                or handler.request_streaming or handler.request_deserializer is None):
            return handler
        wrapped = self._wrap(method, handler)
        self._wrapped[method] = wrapped  # the same handler for every call of the method
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        decode = handler.request_deserializer
        streaming = handler.response_streaming
        behaviour = handler.unary_stream if streaming else handler.unary_unary
        type_name = _type_name(decode)
        refuse = self._refuse

        def handle(raw: bytes, context: grpc.ServicerContext) -> Any:
            try:
                request = decode(raw)
                if holds_field_zero(request):
                    raise ValueError("field 0")
            except (DecodeError, RecursionError, ValueError, TypeError):
                refuse(context, method, MalformedRequest(type_name, len(raw), method))
                raise AssertionError("unreachable: the refusal aborts the call") from None
            wire = WireContext(context, raw)
            response = behaviour(request, wire)
            if streaming:
                return response
            # A signed answer leaves as the very bytes its signature covers.
            signed = wire.response_bytes(response)
            return serialize(response) if signed is None else signed

        if streaming:
            # No request_deserializer: gRPC hands `handle` the body's bytes untouched.
            return grpc.unary_stream_rpc_method_handler(
                handle, request_deserializer=None,
                response_serializer=handler.response_serializer)
        serialize = handler.response_serializer
        # `handle` returns the bytes to send, so gRPC serialises nothing itself.
        return grpc.unary_unary_rpc_method_handler(handle, request_deserializer=None,
                                                   response_serializer=None)


def _type_name(decode: Callable[[bytes], Any]) -> str:
    """The message type a generated ``FromString`` decodes ("the request" if unknown)."""
    owner = getattr(decode, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "request"))
