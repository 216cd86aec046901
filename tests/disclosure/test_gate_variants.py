"""The review gate finds personal data however it is written (hypothesis generates the ways).

Numbers: valid ID numbers of anyone (not only the batch's subjects), mobiles and
Luhn-valid card numbers, cut into groups at random places and joined by any separator
(underscores, 、，, runs of blanks of any length, dots, dashes, slashes, line breaks),
with invisible characters slipped between digits and digits in full width. Names: the
subject's name in traditional characters (OpenCC s2t), with invisible characters and
full-width forms; a relative's or another party's full name after a kinship or role
word; a home address down to the street number, building or room.
"""

from __future__ import annotations

from datetime import date

import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.disclosure.gate import review_batch
from gateway.pii.idnumber import make_id_number
from gateway.pii.scanner import mask_free_text

FAST = settings(max_examples=60, deadline=None)
S2T = opencc.OpenCC("s2t")

SEPARATORS = ["_", "、", "，", ",", " ", "   ", " " * 9, "\u3000", "\u00a0", "-", ".", "/",
              "·", "\n", "\t", "——", "_ _", "、 ", "；", "|", "~", "+", "*"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e",
             "\u202a", "\u2063"]
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def luhn_complete(body: str) -> str:
    total = 0
    for i, char in enumerate(reversed(body)):
        d = int(char) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


id_numbers = st.builds(
    make_id_number, st.from_regex(r"[1-8][0-9]{5}", fullmatch=True),
    st.dates(min_value=date(1930, 1, 1), max_value=date(2008, 1, 1)), st.integers(0, 999))
mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
cards = st.builds(luhn_complete, st.from_regex(r"62[0-9]{14}", fullmatch=True))


@st.composite
def split(draw: st.DrawFn, number: str) -> str:
    """The number cut at random places, joined by separators, with hidden characters."""
    cuts = sorted(draw(st.sets(st.integers(1, len(number) - 1), max_size=len(number) - 1)))
    pieces = [number[a:b] for a, b in zip([0, *cuts], [*cuts, len(number)], strict=True)]
    out = pieces[0]
    for piece in pieces[1:]:
        out += draw(st.sampled_from(SEPARATORS)) + piece
    if draw(st.booleans()):
        spot = draw(st.integers(1, len(out) - 1))
        out = out[:spot] + draw(st.sampled_from(INVISIBLE)) + out[spot:]
    if draw(st.booleans()):
        out = out.translate(FULL_WIDTH)
    return out


PROSE = st.sampled_from(["担保情况：", "联系方式 ", "见附件，号码为", "", "经查，"])


def reasons(text: str, *, names: tuple[str, ...] = ()) -> tuple[str, ...]:
    result = review_batch([{"narrative": text}], subject_names=names, subject_ids=[])
    assert not result.passed, text
    return result.reasons


@FAST
@given(data=st.data(), number=id_numbers, before=PROSE)
def test_anyones_id_number_however_split(data: st.DataObject, number: str, before: str
                                         ) -> None:
    text = before + data.draw(split(number)) + "。"
    assert any("ID number" in r for r in reasons(text)), text


@FAST
@given(data=st.data(), number=mobiles, before=PROSE)
def test_a_mobile_however_split(data: st.DataObject, number: str, before: str) -> None:
    text = before + data.draw(split(number)) + "。"
    assert any("mobile" in r for r in reasons(text)), text


@FAST
@given(data=st.data(), number=cards, before=PROSE)
def test_a_card_number_however_split(data: st.DataObject, number: str, before: str) -> None:
    text = before + data.draw(split(number)) + "。"
    assert any("card" in r or "ID number" in r or "mobile" in r
               for r in reasons(text)), text


NAMES = ["张伟", "王丽华", "刘晓东", "陈建国", "欧阳明远", "赵丽颖", "黄晓明", "杨紫琼"]


@FAST
@given(name=st.sampled_from(NAMES), hidden=st.sampled_from(["", *INVISIBLE]),
       spot=st.integers(1, 2), blank=st.sampled_from(["", " ", "\u3000"]))
def test_a_subjects_name_in_traditional_characters(name: str, hidden: str, spot: int,
                                                   blank: str) -> None:
    written = S2T.convert(name)
    written = written[:spot] + hidden + blank + written[spot:]
    text = f"本案被执行人{written}拒不履行判决。"
    assert "record 0 field narrative: contains the name of a subject" in reasons(
        text, names=(name,)), text


RELATIVES = ["其妻", "其夫", "妻子", "丈夫", "担保人", "受害人", "证人", "父亲", "母亲",
             "儿子", "女儿", "被害人", "保证人"]
OTHERS = ["王丽华", "李明", "张晓燕", "刘建军", "陈静", "杨洋", "赵磊", "周敏", "欧阳娜娜"]


@FAST
@given(relative=st.sampled_from(RELATIVES), other=st.sampled_from(OTHERS),
       join=st.sampled_from(["", "：", " ", "系", "为"]), traditional=st.booleans())
def test_a_relative_or_party_named_in_full(relative: str, other: str, join: str,
                                           traditional: bool) -> None:
    text = f"被执行人张**与{relative}{join}{other}共同承担责任。"
    if traditional:
        text = S2T.convert(text)
    assert any("names a relative" in r for r in reasons(text)), text


@pytest.mark.parametrize("masked", ["被执行人张**与其妻王**共同承担责任。",
                                    "担保人李某某未履行。", "受害人欧阳**报案。",
                                    "被执行人向法院申请延期。", "夫妻关系存续期间所负债务。"])
def test_masked_or_unnamed_parties_pass(masked: str) -> None:
    assert review_batch([{"narrative": masked}], subject_names=(), subject_ids=[]).passed


STREETS = ["文三路", "解放街", "建国路", "人民大道", "南京西路", "幸福巷"]


@FAST
@given(street=st.sampled_from(STREETS), door=st.integers(1, 999),
       unit=st.sampled_from(["", "3栋", "5号楼", "2单元501室", "12幢1单元", "301室"]),
       numerals=st.booleans(), traditional=st.booleans(), blank=st.sampled_from(["", " "]))
def test_an_address_finer_than_the_district(street: str, door: int, unit: str,
                                            numerals: bool, traditional: bool,
                                            blank: str) -> None:
    number = str(door)
    if numerals:
        number = number.translate(str.maketrans("0123456789", "〇一二三四五六七八九"))
    text = f"被执行人住浙江省杭州市西湖区{street}{blank}{number}{blank}号{unit}。"
    if traditional:
        text = S2T.convert(text)
    assert "record 0 field narrative: contains an address finer than the district" in reasons(
        text), text


@pytest.mark.parametrize("text", ["李家村3组", "西湖区三墩镇李家村", "阳光花园12幢2单元"])
def test_villages_and_estates_are_addresses_too(text: str) -> None:
    assert any("address" in r for r in reasons(f"住{text}。"))


def test_the_district_alone_passes() -> None:
    result = review_batch([{"narrative": "被执行人住浙江省杭州市西湖区***，罚款3000元。"}],
                          subject_names=(), subject_ids=[])
    assert result.passed, result.reasons


# ---------------------------------------------------------------- the scan operator masks them

@FAST
@given(relative=st.sampled_from(RELATIVES), other=st.sampled_from(OTHERS),
       street=st.sampled_from(STREETS), door=st.integers(1, 999),
       unit=st.sampled_from(["", "3栋", "5号楼", "2单元501室"]), traditional=st.booleans())
def test_scan_masks_addresses_and_named_relatives_so_the_gate_passes(
        relative: str, other: str, street: str, door: int, unit: str,
        traditional: bool) -> None:
    text = (f"被执行人张伟住浙江省杭州市西湖区{street}{door}号{unit}，"
            f"{relative}{other}为其提供担保。")
    if traditional:
        text = S2T.convert(text)
    masked = mask_free_text(text, names=("张伟",))
    assert f"{door}号" not in masked and other not in masked and S2T.convert(other) not in masked
    assert "西湖区***" in masked or "西湖區***" in masked
    result = review_batch([{"narrative": masked}], subject_names=("张伟",), subject_ids=[])
    assert result.passed, (masked, result.reasons)
