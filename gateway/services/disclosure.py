"""DisclosureService: the public credit website pulls what may be published, reviewed."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import date

import grpc

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.clock import city_today
from gateway.crypto.signatures import signature_algorithm
from gateway.disclosure.export import manifest_bytes, render_files, sign_manifest
from gateway.disclosure.feed import PublishedRecord, publish_batch, run_subjects
from gateway.disclosure.left_out import REASONS, ordered, why_left_out
from gateway.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from gateway.policy.conditions import ConditionContext
from gateway.records.agreement import agreed
from gateway.records.model import StoredRecord
from gateway.services.common import CallFrame, audited_stream

log = logging.getLogger("credgate.disclosure")
EXPORT_PIECE_BYTES = 1024 * 1024

PURPOSE = "public_disclosure"
ACTION = "publish"
DEFAULT_BATCH = 100
MAX_BATCH = 1000


def disclosed_message(record: PublishedRecord) -> pb.DisclosedRecord:
    """The wire form of a published record."""
    return pb.DisclosedRecord(
        record_id=record.record_id, category=record.category,
        category_name_zh=record.category_name_zh, severity=record.severity,
        event_date=record.event_date, display_end=record.display_end,
        provider=record.provider, provider_name_zh=record.provider_name_zh,
        fields=record.fields)


def left_out_message(counts: Counter[str]) -> list[pb.LeftOut]:
    """The wire form of the left-out counts."""
    return [pb.LeftOut(reason=code, reason_zh=REASONS[code], count=n)
            for code, n in ordered(counts)]


class DisclosureServicer(rpc.DisclosureServiceServicer):
    """Publication runs batch by batch: fetch, mask, review, audit, release."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    def _categories(self, call: CallFrame, context: grpc.ServicerContext,
                    request: pb.PublicDisclosureRequest | pb.ExportDisclosureRequest
                    ) -> list[str]:
        """identify, validate and decide: the public categories this caller may publish."""
        party = call.identify(context)
        call.draft.purpose = PURPOSE
        with call.step("validate"):
            for code in request.categories:
                if code not in call.catalogue.categories:
                    raise InvalidArgument("unknown category code", reason="unknown_category")
        with call.step("decide"):
            ctx = ConditionContext(now=self._gw.clock.now())
            allowed: list[str] = []
            for code in request.categories or sorted(call.catalogue.categories):
                category = call.catalogue.categories[code]
                decision = call.policy.decide(party.id, code, ACTION, PURPOSE, ctx)
                if decision.rule is not None:
                    call.draft.policy_rules.append(str(decision.rule))
                if decision.allowed and category.public:
                    allowed.append(code)
            if not allowed:
                raise PermissionDenied("policy lets this party publish nothing",
                                       reason="policy_denied")
            call.draft.categories = tuple(allowed)
        return allowed

    def _pages(self, call: CallFrame, categories: list[str], size: int, today: date,
               left_out: Counter[str] | None = None) -> Iterator[list[StoredRecord]]:
        """The publishable records of the categories, a page at a time (empty pages
        skipped); why each other record was left out is counted in ``left_out``."""
        after = ""
        counts: Counter[str] = Counter() if left_out is None else left_out
        while True:
            page = self._gw.store.records_in_categories(categories, after=after, limit=size)
            if not page:
                return
            after = page[-1].record_id
            ready = []
            for r in page:
                reason = why_left_out(r, call.catalogue.categories[r.category], today,
                                      lambda rec: agreed(self._gw.store, rec, today))
                if reason is None:
                    ready.append(r)
                else:
                    counts[reason] += 1
            if ready:
                yield ready

    def _batches(self, call: CallFrame, categories: list[str], size: int,
                 left_out: Counter[str]) -> Iterator[tuple[tuple[PublishedRecord, ...], bool]]:
        """fetch, protect, review and audit each batch; yields (records, released)."""
        gw = self._gw
        today = city_today(gw.clock)
        with call.step("fetch"):
            # First the subjects of the whole run: each batch is reviewed against all of
            # them, so a record naming someone from another batch is caught too.
            run = run_subjects((r for page in self._pages(call, categories, size, today)
                                for r in page), catalogue=call.catalogue, cipher=gw.cipher)
        number = 0
        for ready in self._pages(call, categories, size, today, left_out):
            number += 1
            with call.step("protect"):
                batch = publish_batch(ready, catalogue=call.catalogue,
                                      profiles=call.state.profiles, cipher=gw.cipher,
                                      run=run)
            left_out["subject_under_18"] += len(ready) - len(batch.records)
            call.draft.record_count = len(batch.records)
            if not batch.review.passed:
                # The reasons name record positions and fields, never the data.
                log.warning("disclosure batch %d withheld: %s", number,
                            "; ".join(batch.review.reasons[:20]))
                call.commit("deny", reason=f"privacy_review_failed batch {number}: "
                                           f"{len(batch.review.reasons)} finding(s)")
                left_out["withheld_by_review"] += len(batch.records)
                yield batch.records, False
                continue
            # An objection filed since the batch was fetched takes its record out: a
            # disputed record is never released, however late the objection came.
            disputed = gw.store.disputed_record_ids([r.record_id for r in batch.records])
            records = tuple(r for r in batch.records if r.record_id not in disputed)
            left_out["disputed"] += len(batch.records) - len(records)
            call.draft.record_count = len(records)
            call.commit_allow(reason=f"batch {number}")
            yield records, True

    @audited_stream("disclosure.feed")
    def PublicDisclosure(self, call: CallFrame, request: pb.PublicDisclosureRequest,
                         context: grpc.ServicerContext) -> Iterator[pb.DisclosureBatch]:
        """Stream the publishable records, one reviewed and audited batch at a time."""
        size = min(request.batch_size or DEFAULT_BATCH, MAX_BATCH)
        categories = self._categories(call, context, request)
        left_out: Counter[str] = Counter()
        for records, released in self._batches(call, categories, size, left_out):
            if released:
                yield pb.DisclosureBatch(
                    records=[disclosed_message(r) for r in records],
                    audit_seq=call.draft.seq)
        if call.draft.seq == 0:  # nothing to publish: the decision is still logged
            call.commit_allow(reason="no publishable records")
        # Last, what was left out and why: counts only, never which records.
        yield pb.DisclosureBatch(audit_seq=call.draft.seq, left_out=left_out_message(
            left_out))

    @audited_stream("disclosure.export")
    def ExportDisclosure(self, call: CallFrame, request: pb.ExportDisclosureRequest,
                         context: grpc.ServicerContext) -> Iterator[pb.DisclosureExport]:
        """The website's files with a manifest signed by the gateway, in pieces."""
        gw = self._gw
        categories = self._categories(call, context, request)
        if gw.log_key is None:  # before any batch is logged as released
            raise FailedPrecondition("the gateway has no signing key")
        released: list[PublishedRecord] = []
        withheld = 0
        left_out: Counter[str] = Counter()
        for records, ok in self._batches(call, categories, DEFAULT_BATCH, left_out):
            if ok:
                released.extend(records)
            else:
                withheld += 1
        if call.draft.seq == 0:
            call.commit_allow(reason="no publishable records")
        with call.step("respond"):
            files = render_files(released)
            manifest = manifest_bytes(
                files, released, policy_version=call.state.version,
                generated_at=gw.clock.now(),
                signature_algorithm=signature_algorithm(gw.log_key),
                left_out=dict(left_out))
            signature = sign_manifest(manifest, gw.log_key)
        # Pieces well under the message limit: a city's feed is larger than one.
        for name, content in files.items():
            for start in range(0, max(len(content), 1), EXPORT_PIECE_BYTES):
                yield pb.DisclosureExport(files=[pb.DisclosureFile(
                    name=name, content=content[start:start + EXPORT_PIECE_BYTES])])
        yield pb.DisclosureExport(manifest=manifest, signature=signature,
                                  withheld_batches=withheld,
                                  left_out=left_out_message(left_out))
