"""Property tests: however an ID number, a mobile number or a name is written, it is
masked by the public profile and caught by the review gate."""

from __future__ import annotations

import random
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.disclosure.gate import review_batch
from gateway.pii.idnumber import make_id_number
from gateway.pii.scanner import ID_NUMBER, MOBILE, mask_free_text, scan
from gateway.protect.operators import generalise_address

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ID_NUMBERS = st.builds(
    make_id_number,
    st.sampled_from(["110105", "330106", "440305", "540102", "650102", "810000"]),
    st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)),
    st.integers(min_value=0, max_value=999),
)
# Each script writes the ten digits; one is drawn per digit of a number.
SCRIPTS = ["0123456789", "０１２３４５６７８９", "〇一二三四五六七八九", "零一二三四五六七八九",
           "○幺二三四五六七八九", "零壹贰叁肆伍陆柒捌玖", "⓪①②③④⑤⑥⑦⑧⑨", "⁰¹²³⁴⁵⁶⁷⁸⁹",
           "٠١٢٣٤٥٦٧٨٩"]
SEPARATORS = [" ", "-", ".", "·", "/", "\u3000", "\u00a0", "\t", "—", "－", "／", "．"]
INVISIBLE = ["\u00ad", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff",
             "\u034f", "\ufe0f", "\u0301", "\u202a", "\u202c", "\u2062", "\u180e"]
LINE_BREAKS = ["\n", "\r\n", "\r", "\u2028"]
NO_DIGITS = st.sampled_from(["", "身份证号", "号码为", "担保人（", "ID: ", "电话："])
AFTER = st.sampled_from(["", "，", "号", "。电话", "）拒不履行", " owes"])


@st.composite
def gaps(draw: st.DrawFn) -> str:
    """What may stand between two digits: nothing, invisibles, up to 3 separators and a
    line break."""
    kind = draw(st.integers(0, 9))
    if kind < 5:
        return ""
    if kind < 7:
        return "".join(draw(st.lists(st.sampled_from(INVISIBLE), min_size=1, max_size=3)))
    gap = "".join(draw(st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=3)))
    if kind == 9:
        gap += draw(st.sampled_from(LINE_BREAKS))
    return gap


@st.composite
def written(draw: st.DrawFn, digits: str) -> str:
    """A number written digit by digit in any script, with gaps between digits."""
    out = []
    for i, char in enumerate(digits):
        if i:
            out.append(draw(gaps()))
        if char == "X":
            out.append(draw(st.sampled_from(["X", "x", "Ｘ", "ｘ", " X", "-X", "（X）", " (x)"])))
        else:
            out.append(draw(st.sampled_from(SCRIPTS))[int(char)])
    return "".join(out)


@st.composite
def written_ids(draw: st.DrawFn) -> tuple[str, str]:
    id_number = draw(ID_NUMBERS)
    return id_number, draw(NO_DIGITS) + draw(written(id_number)) + draw(AFTER)


@FAST
@given(written_ids())
def test_an_id_number_however_written_is_masked_and_caught(case: tuple[str, str]) -> None:
    id_number, text = case
    assert ID_NUMBER in [f.kind for f in scan(text)]
    assert not review_batch([{"a": text}], subject_names=[], subject_ids=[]).passed
    masked = mask_free_text(text)
    assert id_number[3:-2] not in "".join(c for c in masked if c.isascii())
    assert review_batch([{"a": masked}], subject_names=[], subject_ids=[id_number]).passed


@FAST
@given(ID_NUMBERS, st.sampled_from(SCRIPTS), st.sampled_from(INVISIBLE + SEPARATORS))
def test_a_subjects_id_however_written_fails_the_review(id_number: str, script: str,
                                                        filler: str) -> None:
    body = "".join(script[int(c)] if c != "X" else c for c in id_number)
    text = f"身份证号{filler.join(body)}"
    result = review_batch([{"a": text}], subject_names=[], subject_ids=[id_number])
    assert "record 0 field a: contains a subject's ID number" in result.reasons


@st.composite
def written_mobiles(draw: st.DrawFn) -> tuple[str, str]:
    mobile = "1" + draw(st.sampled_from("3456789")) + "".join(
        draw(st.sampled_from("0123456789")) for _ in range(9))
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086-", "86 ", "0"]))
    return mobile, draw(NO_DIGITS) + prefix + draw(written(mobile)) + draw(AFTER)


@FAST
@given(written_mobiles())
def test_a_mobile_however_written_is_masked_and_caught(case: tuple[str, str]) -> None:
    mobile, text = case
    assert MOBILE in [f.kind for f in scan(text)]
    assert not review_batch([{"a": text}], subject_names=[], subject_ids=[]).passed
    masked = mask_free_text(text)
    assert "".join(c for c in masked if c.isdigit()) == mobile[:3] + mobile[7:]
    assert review_batch([{"a": masked}], subject_names=[], subject_ids=[]).passed


NAMES = st.sampled_from(["欧阳明远", "张伟强", "司马相如", "阿沛·阿旺晋美", "买买提·吐尔逊"])
HIDDEN_CHARS = st.characters(whitelist_categories=("Cf", "Mn", "Me"))
BLANKS = st.sampled_from([" ", "\u3000", "\n", "\r\n", "\t", "\u2003", "\u00a0", "\u2028"])


@FAST
@given(NAMES, st.lists(st.one_of(HIDDEN_CHARS, BLANKS), min_size=1, max_size=4),
       st.randoms(use_true_random=False))
def test_a_name_with_hidden_characters_or_blanks_is_masked_and_caught(
        name: str, inserts: list[str], rng: random.Random) -> None:
    chars = list(name)
    for insert in inserts:
        chars.insert(1 + rng.randrange(len(chars) - 1), insert)
    text = f"被执行人{''.join(chars)}拒不履行"
    result = review_batch([{"a": text}], subject_names=[name], subject_ids=[])
    assert "record 0 field a: contains the name of a subject" in result.reasons
    masked = mask_free_text(text, names=[name])
    assert review_batch([{"a": masked}], subject_names=[name], subject_ids=[]).passed


@FAST
@given(ID_NUMBERS, st.sampled_from(["", "f_", "x-", "id."]), st.sampled_from(["", "_v", ".1"]))
def test_a_field_name_with_an_id_is_never_quoted(id_number: str, before: str, after: str
                                                 ) -> None:
    field = f"{before}{id_number}{after}"
    result = review_batch([{field: "13900000000", "ok": "1"}], subject_names=[],
                          subject_ids=[])
    # (A dot and one more digit may make it read as a card number: found all the same.)
    assert result.reasons[0].startswith("record 0 field #0 name: contains a")
    assert "record 0 field #0: contains a mobile number" in result.reasons
    assert all(id_number[6:14] not in reason for reason in result.reasons)


ESTATE_CHARS = st.text(st.sampled_from("天通望京龙泽桂花绿城和兴华阳光锦绣东南西北"), min_size=2,
                       max_size=6)


@FAST
@given(st.sampled_from(["北京市", "浙江省杭州市", "广东省深圳市"]), ESTATE_CHARS,
       st.sampled_from(["东一区", "二区", "B区", "Ｃ区", "3区", "苑西区", "家园东区", "花园北区"]),
       st.sampled_from(["", "3号楼2单元501", "5幢"]))
def test_an_estate_never_passes_for_a_district(prefix: str, estate: str, block: str,
                                               rest: str) -> None:
    assert generalise_address(f"{prefix}{estate}{block}{rest}") == prefix + "***"
