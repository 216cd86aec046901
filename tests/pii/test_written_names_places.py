"""Names and addresses however written: masked by the scan operator, held by the gate.

Hypothesis draws

- a subject's name in simplified or traditional characters (OpenCC s2t), in Kangxi
  radicals or compatibility ideographs, with blanks or hidden characters inside;
- another person's name (surnames of the Hundred Family Surnames) next to a kinship or
  role word: after it, with blanks, colons, quotes, brackets or an introducing word
  between (担保人：“李明”, 证人名为赵强), or before it (李明（担保人）, 李明作为担保人),
  minority names with their dot, all of it in traditional characters too;
- a home address below the district: a road and a door number in any digits, spaced,
  with a sub-number, with or without 号; a building, unit, floor or room.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.disclosure.gate import review_batch
from gateway.pii.scanner import mask_free_text, scan
from tests.pii.written_forms import INVISIBLE, S2T, disguised_name

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUBJECTS = ["张伟华", "欧阳明远", "王大山", "方小龙", "李长生", "陈国强", "阿沛·阿旺晋美"]


def _held(text: str, names: tuple[str, ...] = ()) -> tuple[str, ...]:
    result = review_batch([{"narrative": text}], subject_names=names, subject_ids=[])
    assert not result.passed, text
    return result.reasons


@FAST
@given(name=st.sampled_from(SUBJECTS), data=st.data(),
       before=st.sampled_from(["被执行人", "经查，", "", "本案中"]),
       after=st.sampled_from(["拒不履行", "。", "（已结案）", ""]))
def test_a_subjects_name_however_written(name: str, data: st.DataObject, before: str,
                                        after: str) -> None:
    text = before + data.draw(disguised_name(name)) + after
    assert any("name of a subject" in r for r in _held(text, (name,)))
    masked = mask_free_text(text, names=[name])
    assert review_batch([{"narrative": masked}], subject_names=[name],
                        subject_ids=[]).passed, (text, masked)


ROLES = ["其妻", "其夫", "妻子", "丈夫", "配偶", "担保人", "保证人", "受害人", "被害人", "证人",
         "原告", "申请人", "其父", "母亲", "儿子", "女儿", "债权人", "联系人"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙芮乌施萧傅洪阎葛钱卫赖鄂蔺欧阳司马诸葛"
GIVEN = ["丽华", "明", "晓燕", "建军", "静", "娜娜", "强", "国栋", "小红"]
FILLS = ["", " ", "：", ":", "，", "“", "「", "（", "(", "\u3000", "\u200b", "系", "为",
         "名叫", "名为", "叫", "姓名"]


@st.composite
def other_person(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(["阿沛·阿旺晋美", "买买提・吐尔逊", "玉素甫．艾力"]))
    surname = draw(st.sampled_from(["欧阳", "司马", "诸葛", *SURNAMES[:-6]]))
    return surname + draw(st.sampled_from(GIVEN))


@st.composite
def named_relative(draw: st.DrawFn) -> tuple[str, str]:
    """(text, the name in it as written)."""
    role = draw(st.sampled_from(ROLES))
    name = draw(other_person())
    if draw(st.booleans()) and "·" not in name:
        # blanks or hidden characters between the characters of the name
        spot = draw(st.integers(1, len(name) - 1))
        name = name[:spot] + draw(st.one_of(INVISIBLE, st.sampled_from([" ", "\u3000"]))) + (
            name[spot:])
    how = draw(st.sampled_from(["after", "after", "bracket", "as"]))
    if how != "after":
        # (A one-character word, 妻 or 父, is a kinship word only after 其, 之, 的...)
        role = draw(st.sampled_from([r for r in ROLES if len(r) > 1 and r[0] != "其"]))
    if how == "after":
        text = f"经查，{role}{draw(st.sampled_from(FILLS))}{name}对此知情。"
    elif how == "bracket":
        text = f"经查，{name}（{role}）对此知情。"
    else:
        text = f"经查，{name}{draw(st.sampled_from(['作为', '系', '为']))}{role}，对此知情。"
    if draw(st.booleans()):
        text, name = S2T.convert(text), S2T.convert(name)
    return text, name


@FAST
@given(case=named_relative())
def test_a_name_next_to_a_kinship_or_role_word(case: tuple[str, str]) -> None:
    text, name = case
    assert any("relative or another party" in r for r in _held(text)), text
    masked = mask_free_text(text)
    visible = "".join(c for c in name if c.isalpha())
    assert visible not in masked.replace(" ", "").replace("\u3000", ""), (text, masked)
    assert review_batch([{"narrative": masked}], subject_names=[], subject_ids=[]).passed, (
        text, masked)


DISTRICTS = ["杭州市西湖区", "西湖区", "滨江区", "余杭区", "上城区", "临安区", ""]
ROADS = ["文三路", "解放街", "中山路", "江南大道", "某巷", "延安路", "长乐路"]


@st.composite
def door_number(draw: st.DrawFn) -> str:
    digits = str(draw(st.integers(1, 2999)))
    how = draw(st.sampled_from(["ascii", "full", "spaced", "hidden", "chinese"]))
    if how == "full":
        digits = digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    elif how == "spaced":
        digits = " ".join(digits)
    elif how == "hidden":
        digits = draw(INVISIBLE).join(digits)
    elif how == "chinese":
        digits = digits.translate(str.maketrans("0123456789", "〇一二三四五六七八九"))
    if draw(st.integers(0, 3)) == 0:
        digits += draw(st.sampled_from(["-", "－", "之"])) + str(draw(st.integers(1, 9)))
    return digits


@st.composite
def fine_address(draw: st.DrawFn) -> tuple[str, str]:
    """(text, the part below the district that must not show)."""
    district = draw(st.sampled_from(DISTRICTS))
    number = draw(door_number())
    kind = draw(st.sampled_from(["door", "door_no_hao", "building", "floor", "tower"]))
    if kind == "door":
        fine = f"{draw(st.sampled_from(ROADS))}{number}{draw(st.sampled_from(['号', ' 号']))}"
    elif kind == "door_no_hao":
        fine = f"{draw(st.sampled_from(ROADS))}{number}"
    elif kind == "building":
        fine = f"某小区{number}{draw(st.sampled_from(['栋', '幢', '单元', '室', '号楼']))}"
    elif kind == "floor":
        fine = f"某大厦{draw(st.integers(1, 40))}{draw(st.sampled_from(['楼', '层']))}{number}"
    else:
        fine = f"某中心{draw(st.sampled_from(['A', 'B', 'Ｃ', '1']))}座{number}"
    text = f"该人住{district}{fine}，拒不履行。"
    if draw(st.booleans()):
        text = S2T.convert(text)
    return text, number


@FAST
@given(case=fine_address())
def test_an_address_below_the_district(case: tuple[str, str]) -> None:
    text, number = case
    assert any("address finer than the district" in r for r in _held(text)), text
    masked = mask_free_text(text)
    assert number not in masked, (text, masked)
    assert review_batch([{"narrative": masked}], subject_names=[], subject_ids=[]).passed, (
        text, masked)


def test_words_after_a_role_that_are_no_names_pass() -> None:
    for text in ("担保人对此负责", "受害人家属到场", "证人证言一致", "夫妻双方协商",
                 "被执行人王某某", "被告车辆受损", "申请人房屋被查封", "被告施工方",
                 "担保人欧阳**已还款"):
        assert not [f for f in scan(text) if f.kind == "relative_name"], text
