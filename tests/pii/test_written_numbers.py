"""A personal number however written: masked by the scan operator, held by the review
gate, refused at intake in a clear field, refused in a caller identifier (issue 10).

Hypothesis draws a valid ID number of anyone (X in either case), an old 15-digit ID, a
mobile or a Luhn-valid card number, and writes it digit by digit in any digit form
Unicode knows (every decimal script, circled, parenthesised, superscript, Hangzhou and
Roman numerals, Chinese numerals common, formal and old), one form or mixed, with any
run of separators (blanks of any length, underscores, 、，, punctuation, symbols, emoji,
line breaks) or hidden characters between any two digits (see written_forms.py).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.disclosure.gate import review_batch
from gateway.pii.identifiers import is_identifier, new_identifier
from gateway.pii.scanner import mask_free_text, scan
from gateway.validate.requests import holds_personal_number
from tests.pii.written_forms import (
    DIGIT_FORMS,
    digit_reading,
    personal_numbers,
    written,
)

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROSE = st.sampled_from(["", "经查，", "担保人身份证号", "联系方式：", "见附件（", "ID "])
AFTER = st.sampled_from(["", "。", "，拒不履行", "）", " owes", "号"])


# The most digits a mask keeps (a mobile's first 3 and last 4).
_KEPT = 7


@FAST
@given(case=personal_numbers(), data=st.data(), before=PROSE, after=AFTER)
def test_a_number_however_written_is_masked_held_and_refused(
        case: tuple[str, str], data: st.DataObject, before: str, after: str) -> None:
    kind, number = case
    shown = data.draw(written(number))
    text = before + shown + after
    # The scan operator (free text to an audience that may not see the kind in clear).
    assert scan(text), (kind, text)
    masked = mask_free_text(text)
    assert len(digit_reading(masked)) <= _KEPT, (kind, text, masked)
    # The review gate (the public feed), in a value and in a field name.
    assert not review_batch([{"narrative": text}], subject_names=[], subject_ids=[]).passed
    assert not review_batch([{text: "x"}], subject_names=[], subject_ids=[]).passed
    # Intake of a field stored in clear, and a caller identifier (whose grammar refuses
    # 15 digits or more: ID numbers, old and new, and card numbers).
    assert holds_personal_number(text)
    if kind != "mobile":
        assert not is_identifier(f"c-{shown}", document=True), shown
    # One that the audit log keeps as written (a consent id) holds no mobile either.
    assert not is_identifier(f"consent-{shown}", document=True, logged=True), shown


@FAST
@given(case=personal_numbers(), data=st.data())
def test_the_masked_text_passes_the_gate(case: tuple[str, str], data: st.DataObject) -> None:
    _kind, number = case
    text = f"经查，{data.draw(written(number))}。"
    masked = mask_free_text(text)
    assert review_batch([{"narrative": masked}], subject_names=[], subject_ids=[]).passed, (
        text, masked)


@settings(max_examples=200, deadline=None)
@given(case=personal_numbers(), data=st.data())
def test_markup_between_digits_does_not_hide_a_number_from_the_gate(
        case: tuple[str, str], data: st.DataObject) -> None:
    # The website may show a value as HTML: tags between digits, character references.
    _kind, number = case
    pieces = []
    for char in number:
        how = data.draw(st.sampled_from(["plain", "tag", "entity", "hex", "nbsp", "br"]))
        pieces.append({"plain": char, "tag": f"<b>{char}</b>", "entity": f"&#{ord(char)};",
                       "hex": f"&#x{ord(char):x};", "nbsp": f"{char}&nbsp;",
                       "br": f"{char}<br/>"}[how])
    text = "联系方式" + "".join(pieces) + "<!-- -->"
    assert not review_batch([{"narrative": text}], subject_names=[], subject_ids=[]).passed


def test_every_digit_form_is_read() -> None:
    # Each form Unicode knows for a digit, as the fourth digit of a mobile, is read as it.
    for forms in DIGIT_FORMS.values():
        for form in forms:
            text = f"电话138{form}1234567"
            assert [f.kind for f in scan(text)] == ["mobile"], hex(ord(form))
            assert "1234567" not in mask_free_text(text)


def test_the_gateways_own_logged_identifiers_always_pass() -> None:
    # About one random UUID in 3,000 holds 11 or 12 digits that read as a mobile: the
    # consent and batch ids the gateway draws skip those.
    for _ in range(20_000):
        assert is_identifier(new_identifier("consent"), min_chars=8, logged=True)
    assert not is_identifier("consent-139_5714_6823", logged=True)
    assert not is_identifier("consent-00000000-0000-4000-8000-013957146823", logged=True)
    assert is_identifier("consent-139_5714_6823")  # a looked-up id may: it is never kept
