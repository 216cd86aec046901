"""Audit search: filters in SQLite, bounded scans, stable continuation tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit import search as search_module
from gateway.audit.log import SqliteAuditLog
from gateway.audit.search import AuditFilter, AuditSearch, encode_token
from gateway.errors import InvalidArgument
from tests.audit.tamper import make_entry


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    log = SqliteAuditLog(path)
    for n in range(1, 41):
        log.append(make_entry(n, requester="court" if n % 10 == 0 else "org_department",
                              decision="deny" if n % 4 == 0 else "allow"))
    log.close()
    return path


def test_filters_combine(log_path: Path) -> None:
    search = AuditSearch(log_path)
    page = search.search(AuditFilter(requester="court", decision="deny"))
    assert [seq for seq, _ in page.entries] == [20, 40] and page.next_token == ""
    search.close()


def test_sparse_filter_returns_partial_pages_that_continue(
        log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "MAX_SCAN", 7)
    search = AuditSearch(log_path)
    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = search.search(AuditFilter(requester="court"), page_token=token)
        seen += [seq for seq, _ in page.entries]
        pages += 1
        token = page.next_token
        if not token:
            break
    assert seen == [10, 20, 30, 40] and pages > 4  # windows of 7 rows, some empty
    search.close()


def test_pages_are_stable_and_complete(log_path: Path) -> None:
    search = AuditSearch(log_path)
    first = search.search(AuditFilter(), page_size=15)
    second = search.search(AuditFilter(), page_token=first.next_token, page_size=15)
    third = search.search(AuditFilter(), page_token=second.next_token, page_size=15)
    seqs = [s for p in (first, second, third) for s, _ in p.entries]
    assert seqs == list(range(1, 41)) and third.next_token == ""
    search.close()


@pytest.mark.parametrize("token", ["garbage", encode_token(-1).replace("=", ""), "YWZ0ZXI6eA==",
                                   encode_token(2**63 - 1), encode_token(2**63 - 100_000),
                                   encode_token(10**30)])
def test_foreign_tokens_are_refused(log_path: Path, token: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token"):
        AuditSearch(log_path).search(AuditFilter(), page_token=token)


def test_search_cannot_write(log_path: Path) -> None:
    search = AuditSearch(log_path)
    conn = search._conn()  # the read-only connection the search uses
    with pytest.raises(Exception, match="readonly"):
        conn.execute("DELETE FROM audit_log")
    search.close()
