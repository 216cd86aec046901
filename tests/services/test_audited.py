"""The audited-call decorator: each servicer method's gRPC name comes from the contract."""

from __future__ import annotations

import inspect

import pytest

import gateway.server  # noqa: F401  (mounts every servicer: their classes are imported)
from gateway.api import pb, rpc
from gateway.audit.signatures import ACTION_METHODS
from gateway.services.common import AUDITED_ACTION, rpc_method_name
from gateway.services.query import QueryServicer


def test_a_method_is_named_by_its_service_in_the_contract() -> None:
    assert rpc_method_name(QueryServicer, "QuerySubject") == \
        "credgate.v1.QueryService/QuerySubject"


def test_a_method_the_contract_does_not_declare_is_refused() -> None:
    with pytest.raises(LookupError):
        rpc_method_name(QueryServicer, "QuerySubjects")


def test_a_class_without_a_generated_servicer_is_refused() -> None:
    class Loose:
        _gw = None

    with pytest.raises(LookupError):
        rpc_method_name(Loose, "QuerySubject")


def test_every_mounted_method_is_declared_by_its_service() -> None:
    """Each servicer implements only methods of its service, each resolvable by name."""
    generated = [getattr(rpc, f"{name}Servicer") for name in pb.DESCRIPTOR.services_by_name]
    checked = 0
    for base in generated:
        for servicer in base.__subclasses__():
            for name, method in inspect.getmembers(servicer, inspect.isfunction):
                if name[:1].isupper() and method is not getattr(base, name, None):
                    service, _, rpc_name = rpc_method_name(servicer, name).partition("/")
                    assert service == f"credgate.v1.{base.__name__.removesuffix('Servicer')}"
                    assert rpc_name == name
                    checked += 1
    assert checked >= 30


def test_the_verifiers_action_table_is_what_the_servicers_declare() -> None:
    """Regulators check each entry's request signature against the method its action names:
    the offline table must pair exactly the actions and methods the servicers do."""
    declared: dict[str, set[str]] = {}
    for base in (getattr(rpc, f"{s}Servicer") for s in pb.DESCRIPTOR.services_by_name):
        for servicer in base.__subclasses__():
            for name, method in inspect.getmembers(servicer, inspect.isfunction):
                if name[:1].isupper() and method is not getattr(base, name, None):
                    action = getattr(method, AUDITED_ACTION, None)
                    assert action, f"{servicer.__name__}.{name} names no audit action"
                    declared.setdefault(action, set()).add(
                        f"/{rpc_method_name(servicer, name)}")
    assert len(declared) >= 40
    assert {a: tuple(sorted(m)) for a, m in declared.items()} == dict(ACTION_METHODS)
