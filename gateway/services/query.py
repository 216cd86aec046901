"""QueryService: look a person up for a stated purpose, along the request path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from gateway.api import pb, rpc
from gateway.app import Gateway
from gateway.clock import city_today
from gateway.consent.artefacts import check_consent_id
from gateway.crypto.blind_index import blind_indexes
from gateway.errors import ConsentRefused, PermissionDenied
from gateway.policy.conditions import ConditionContext
from gateway.protect.attachments import (
    Attachment,
    attachments_for,
    protect_attachments,
    text_field,
)
from gateway.protect.release import (
    CLEAR,
    MASKED,
    ReleasedRecord,
    audience_of,
    protect_record,
)
from gateway.records.fetch import records_in_use
from gateway.records.model import StoredRecord
from gateway.respond.answers import seal_records
from gateway.services.common import CallFrame, audited
from gateway.validate.requests import validate_query

_DISCLOSURE = {CLEAR: pb.CLEAR, MASKED: pb.MASKED}


def add_released(records: RepeatedCompositeFieldContainer[pb.ReleasedRecord],
                 record: ReleasedRecord, stored: StoredRecord | None = None,
                 attached: Sequence[Attachment] = (), *, provenance: str = "") -> None:
    """Append the wire form of a released record to a repeated ReleasedRecord field.

    The disputed mark, the key domain, the county and the origin come from ``stored``;
    the provenance mark (public or market information) from the record's category.
    Messages are built in place (``add``): passing finished sub-messages to a constructor
    copies each of them.
    """
    message = records.add(
        disputed=stored.disputed if stored else False,
        domain=stored.domain if stored else "",
        occupation=stored.occupation if stored else "",
        county=stored.county if stored else "",
        provenance=provenance,
        origin=stored.origin if stored else "",
        origin_provider=stored.origin_provider if stored else "",
        record_id=record.record_id,
        category=record.category,
        severity=record.severity,
        event_date=record.event_date,
        provider=record.provider,
        display_end=record.display_end,
        withheld_fields=record.withheld_fields,
    )
    add_field = message.fields.add
    for f in record.fields:
        add_field(name=f.name, value=f.value, disclosure=_DISCLOSURE[f.disclosure])
    for a in attached:
        message.attachments.add(record_id=a.record_id, kind=a.kind, text=a.text,
                                requested_until=a.requested_until,
                                disclosure=_DISCLOSURE[a.disclosure], answers=a.answers,
                                outcome=a.outcome, granted_until=a.granted_until)


class QueryServicer(rpc.QueryServiceServicer):
    """QuerySubject: identify, validate, decide, consent, fetch, protect, audit, respond."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @audited("query.subject")
    def QuerySubject(self, call: CallFrame, request: pb.QuerySubjectRequest,
                     context: grpc.ServicerContext) -> pb.QuerySubjectResponse:
        """Release what policy and consent allow about one person, audited first."""
        gw = self._gw
        draft = call.draft
        # 1. identify: the certificate's party, which signed this very request. Nothing
        #    changes before the allow entry but a consent use, given back if refused.
        party = call.identify(context, replay_check_at_audit=True)
        # 2. validate: codes, sizes, ID checksum; no personal data in any message.
        with call.step("validate"):
            if request.consent_id:  # the caller's text: the grammar before any use
                check_consent_id(request.consent_id)
            known = request.purpose in call.catalogue.purposes
            draft.purpose = request.purpose if known else ""
            today = city_today(gw.clock)
            query = validate_query(
                subject_id=request.subject_id, purpose=request.purpose,
                categories=list(request.categories), consent_id=request.consent_id,
                catalogue=call.catalogue, today=today, domains=list(request.domains),
                occupations=list(request.occupations))
            indexes = blind_indexes(gw.keyring, query.subject.value)
            draft.subject_index = indexes[0]
        # 2b. limits: the party's quotas for this purpose (limits.toml).
        call.within_limits(party)
        # 3. decide: field by field, default deny, deny overrides allow.
        with call.step("decide") as span:
            # A consent counts only where the purpose makes the consent step verify it.
            ctx = ConditionContext(consent_presented=(query.purpose.consent_required
                                                      and bool(query.consent_id)),
                                   subject_age=query.subject.age_on(today),
                                   now=gw.clock.now())
            decided = call.policy.decide_categories(
                party.id, [call.catalogue.categories[c] for c in query.categories],
                query.purpose.code, ctx)
            access: dict[str, Mapping[str, str]] = {}
            for code, fields in decided.items():
                draft.policy_rules.extend(fields.rule_references)
                if fields.any_released:
                    access[code] = fields.levels
            span.set_attribute("credgate.categories_allowed", len(access))
            if not access and query.purpose.consent_required and not query.consent_id:
                raise ConsentRefused("this purpose requires the person's consent",
                                     reason="consent_missing")
            if not access:
                raise PermissionDenied("policy releases nothing to this party for this "
                                       "purpose", reason="policy_denied")
        # 4. consent: where the purpose requires it, a valid signed artefact.
        with call.step("consent"):
            if query.purpose.consent_required:
                consent = call.check_consent(
                    query.consent_id, subject=query.subject, grantee=party.id,
                    purpose=query.purpose.code, requested=list(access),
                    explicit=bool(request.categories))
                access = {c: levels for c, levels in access.items()
                          if c in consent.categories}
            draft.categories = tuple(sorted(access))
        # 5. fetch: by blind index; only records in use leave (records/fetch.py), a county
        #    party's of its county alone.
        with call.step("fetch"):
            stored = records_in_use(gw.store, indexes, list(access), today, reader=party,
                                    domains=query.domains, occupations=query.occupations)
            by_id = {r.record_id: r for r in stored}
        # 6. protect: decrypt only released fields, mask the masked, drop the rest.
        with call.step("protect"):
            audience = audience_of(party)
            released = [
                protect_record(r, category=call.catalogue.categories[r.category],
                               access=access[r.category], cipher=gw.cipher,
                               profiles=call.state.profiles, audience=audience)
                for r in stored
            ]
            # What the person attached to a released record goes with it, released as
            # the record's own narratives are to this party.
            attached = protect_attachments(
                attachments_for(gw.store, gw.cipher, indexes,
                                {r.record_id for r in released}, today),
                by_id, categories=call.catalogue.categories, access=access,
                cipher=gw.cipher, profiles=call.state.profiles, audience=audience)
            draft.fields_released = tuple(sorted(
                {name for r in released for name in r.released_field_names}
                | {f"{a.kind}.{text_field(a.kind)}" for items in attached.values()
                   for a in items}))
            draft.record_count = len(released)
        # 7. audit: durable before a single value leaves the gateway.
        seq = call.commit_allow()
        # 8. respond.
        with call.step("respond"):
            response = pb.QuerySubjectResponse(
                query_id=draft.request_id,
                purpose=query.purpose.code,
                released_categories=sorted(access),
                withheld_categories=sorted(set(call.catalogue.categories) - set(access)),
                consent_id=draft.consent_id,
                audit_seq=seq,
            )
            for r in released:
                add_released(response.records, r, by_id.get(r.record_id),
                             attached.get(r.record_id, ()),
                             provenance=call.catalogue.categories[r.category].provenance)
            # A party with a registered X25519 key gets its records sealed to it.
            seal_key = gw.seal_keys.get(party.id)
            if seal_key is not None:
                seal_records(response, seal_key)
        call.sign(response)
        return response
