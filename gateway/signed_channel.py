"""The client's side of the wire: each credgate call sends exactly the bytes it signed.

A request is serialised once; those bytes are signed (gateway.identify.request_signing, scheme
v2) and handed to gRPC as they are, with an identity serialiser, so nothing re-encodes
them after the signature. A unary answer comes back as bytes too: they are kept (per
thread) before decoding, so the gateway's answer signature is checked over the bytes
received (gateway.respond.answers.verify_answer_bytes), and a saved answer is those bytes.

`SigningChannel` wraps a gRPC channel; generated stubs work on it unchanged. Calls
outside the credgate package (health checks, reflection) pass through unsigned. A caller
that signs first and sends later (to keep its own record of the signature) passes the
body bytes it signed as the request, with its signature headers as metadata: the call is
then sent as it is, not signed again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from gateway.clock import Clock
from gateway.crypto.signatures import PartySigningKey
from gateway.identify.request_signing import HEADER_SIGNATURE, sign_request_bytes

__all__ = ["SigningChannel"]

#: Only the credgate services are signed; the others are the gateway's plumbing.
SIGNED_PREFIX = "/credgate."
Serialize = Callable[[Any], bytes]
Deserialize = Callable[[bytes], Any]


class _LastCall(threading.local):
    """What the last signed call of this thread sent and received."""

    digest: str | None = None
    answer: bytes | None = None


class SigningChannel(grpc.Channel):
    """A channel whose credgate calls are signed over the bytes they send."""

    def __init__(self, channel: grpc.Channel, *, key: PartySigningKey, party: str,
                 clock: Clock) -> None:
        self._channel = channel
        self._key = key
        self._party = party
        self._clock = clock
        self.last = _LastCall()

    def sign(self, method: str, body: bytes) -> list[tuple[str, str]]:
        """The headers that sign one body for a method; notes its digest for the answer."""
        signed = sign_request_bytes(self._key, method=method, party=self._party, body=body,
                                    now=self._clock.now())
        self.last.digest = signed.digest
        self.last.answer = None
        return signed.headers

    def unary_unary(self, method: str, request_serializer: Serialize | None = None,
                    response_deserializer: Deserialize | None = None,
                    _registered_method: bool | None = False) -> Any:
        """A unary call; credgate methods are signed and keep their answer's bytes."""
        if not method.startswith(SIGNED_PREFIX):
            return self._channel.unary_unary(method, request_serializer=request_serializer,
                                             response_deserializer=response_deserializer)
        inner = self._channel.unary_unary(method, request_serializer=None,
                                          response_deserializer=None)
        return _SignedUnary(self, method, inner, request_serializer, response_deserializer)

    def unary_stream(self, method: str, request_serializer: Serialize | None = None,
                     response_deserializer: Deserialize | None = None,
                     _registered_method: bool | None = False) -> Any:
        """A server-streaming call; credgate methods are signed the same way."""
        if not method.startswith(SIGNED_PREFIX):
            return self._channel.unary_stream(method, request_serializer=request_serializer,
                                              response_deserializer=response_deserializer)
        inner = self._channel.unary_stream(method, request_serializer=None,
                                           response_deserializer=response_deserializer)
        return _SignedStream(self, method, inner, request_serializer)

    def stream_unary(self, method: str, request_serializer: Serialize | None = None,
                     response_deserializer: Deserialize | None = None,
                     _registered_method: bool | None = False) -> Any:
        """Client streams carry no single body to sign: plumbing only, unsigned."""
        return self._channel.stream_unary(method, request_serializer=request_serializer,
                                          response_deserializer=response_deserializer)

    def stream_stream(self, method: str, request_serializer: Serialize | None = None,
                      response_deserializer: Deserialize | None = None,
                      _registered_method: bool | None = False) -> Any:
        """Bidirectional streams (reflection): unsigned, as the gateway expects."""
        return self._channel.stream_stream(method, request_serializer=request_serializer,
                                           response_deserializer=response_deserializer)

    def subscribe(self, callback: Callable[[grpc.ChannelConnectivity], None],
                  try_to_connect: bool = False) -> None:
        """Watch the underlying channel's connectivity."""
        self._channel.subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback: Callable[[grpc.ChannelConnectivity], None]) -> None:
        """Stop watching connectivity."""
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        """Close the underlying channel."""
        self._channel.close()

    def __enter__(self) -> SigningChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _metadata(given: Sequence[tuple[str, str]] | None,
              signed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [*(given or ()), *signed]


def _serialised(request: Any, serialize: Serialize | None) -> bytes:
    """The body to send: bytes as given (already signed or encoded), else encoded once."""
    if isinstance(request, bytes) or serialize is None:
        return bytes(request)
    return serialize(request)


def _headers(channel: SigningChannel, method: str, body: bytes,
             metadata: Sequence[tuple[str, str]] | None) -> list[tuple[str, str]]:
    """The signature headers to add: none when the caller signed the body itself."""
    if any(name == HEADER_SIGNATURE for name, _ in metadata or ()):
        channel.last.digest = None  # the caller knows the digest of what it signed
        channel.last.answer = None
        return []
    return channel.sign(method, body)


class _SignedUnary:
    """A unary multi-callable that serialises once, signs, sends and keeps the answer."""

    def __init__(self, channel: SigningChannel, method: str, inner: Any,
                 serialize: Serialize | None, deserialize: Deserialize | None) -> None:
        self._channel = channel
        self._method = method
        self._inner = inner
        self._serialize = serialize
        self._deserialize = deserialize

    def _decoded(self, raw: bytes) -> Any:
        self._channel.last.answer = raw
        return raw if self._deserialize is None else self._deserialize(raw)

    def __call__(self, request: Any, timeout: float | None = None,
                 metadata: Sequence[tuple[str, str]] | None = None, **options: Any) -> Any:
        body = _serialised(request, self._serialize)
        headers = _headers(self._channel, self._method, body, metadata)
        raw = self._inner(body, timeout=timeout, metadata=_metadata(metadata, headers),
                          **options)
        return self._decoded(raw)

    def with_call(self, request: Any, timeout: float | None = None,
                  metadata: Sequence[tuple[str, str]] | None = None,
                  **options: Any) -> tuple[Any, grpc.Call]:
        """The answer and the call (its trailing metadata, status)."""
        body = _serialised(request, self._serialize)
        headers = _headers(self._channel, self._method, body, metadata)
        raw, call = self._inner.with_call(body, timeout=timeout,
                                          metadata=_metadata(metadata, headers), **options)
        return self._decoded(raw), call


class _SignedStream:
    """A server-streaming multi-callable that signs the one request it sends."""

    def __init__(self, channel: SigningChannel, method: str, inner: Any,
                 serialize: Serialize | None) -> None:
        self._channel = channel
        self._method = method
        self._inner = inner
        self._serialize = serialize

    def __call__(self, request: Any, timeout: float | None = None,
                 metadata: Sequence[tuple[str, str]] | None = None, **options: Any) -> Any:
        body = _serialised(request, self._serialize)
        headers = _headers(self._channel, self._method, body, metadata)
        return self._inner(body, timeout=timeout, metadata=_metadata(metadata, headers),
                           **options)
