"""Personal data in narratives beyond numbers: names in any script form, home addresses
below the district, and named relatives and parties. The scan operator masks what these
find; the review gate holds a batch that still shows any.

- ``fold_script``: traditional characters folded to simplified with OpenCC (t2s), so a
  name written 張偉 reads as 张伟.
- ``fold_characters``: the same, character for character (positions hold), for spans;
  Kangxi radicals and compatibility ideographs (⼤, 兩) are first made the ideograph
  NFKC makes of them.
- ``has_fine_address`` / ``fine_address_spans``: a street and door number (文三路478号,
  文三路 4 7 8 号, 文三路478-2号, or 文三路478 ending a clause), a building, unit,
  floor or room (3栋2单元501室, 5号楼, 12楼1203, A座1203), a village group (李家村3组):
  anything finer than the district or county, which is all the public feed may show of
  an address.
- ``has_named_relative`` / ``relative_name_spans``: a person-name-like span (a surname of
  the Hundred Family Surnames and one or two more characters, blanks allowed between
  them, or a dotted minority name) next to a kinship or role word (妻, 丈夫, 担保人,
  受害人, 证人 ...): after it (其妻王丽华, 担保人：“李明”, 证人名为赵强) or before it
  (李明（担保人）, 李明作为担保人).
  Masked forms (张**, 王某, 李某某) are not names.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from gateway.pii.normalise import CJK, NAME_DOTS

# Digits and numerals a door, building or group number may be written in.
_NUMERAL_CHARS = "0-9０-９〇零一二三四五六七八九十百千两壹贰叁肆伍陆柒捌玖拾"


@lru_cache(maxsize=1)
def _converter() -> object:
    import opencc  # a C++ library with its own dictionaries: loaded once, when needed

    return opencc.OpenCC("t2s")


# Characters that NFKC makes one CJK ideograph: the Kangxi radicals and the radicals
# supplement (⼤ for 大), and the compatibility ideographs of the BMP (F900-FAFF: a class
# with characters beyond the BMP makes every search of re several times slower).
_IDEOGRAPH_FORMS = ((0x2E80, 0x2FE0), (0xF900, 0xFB00))


def _nfkc_ideograph(char: str) -> str:
    """The one ideograph NFKC makes of a radical or compatibility form (else the char)."""
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 and CJK.fullmatch(folded) else char


@lru_cache(maxsize=1)
def _traditional() -> re.Pattern[str]:
    """A class of every CJK character that OpenCC's t2s or NFKC changes (built once)."""
    convert = _converter().convert  # type: ignore[attr-defined]
    changed = [chr(c) for c in range(0x3400, 0xA000)
               if convert(chr(c)) != chr(c)]
    changed += [chr(c) for low, high in _IDEOGRAPH_FORMS for c in range(low, high)
                if (chr(c) not in changed and (_nfkc_ideograph(chr(c)) != chr(c)
                                               or convert(chr(c)) != chr(c)))]
    return re.compile(f"[{''.join(changed)}]")


@lru_cache(maxsize=1)
def _character_table() -> dict[int, str]:
    """Each traditional character OpenCC folds to one simplified character, and each
    radical or compatibility form NFKC makes one ideograph (then folded likewise)."""
    convert = _converter().convert  # type: ignore[attr-defined]
    table: dict[int, str] = {}
    for char in _traditional().pattern[1:-1]:
        folded = convert(_nfkc_ideograph(char))
        if len(folded) == 1:
            table[ord(char)] = folded
    return table


def fold_characters(text: str) -> str:
    """Traditional characters folded one for one (spans in the result are the text's)."""
    if text.isascii() or _traditional().search(text) is None:
        return text
    return text.translate(_character_table())


def fold_script(text: str) -> str:
    """Traditional characters folded to simplified (OpenCC t2s); other text unchanged."""
    if text.isascii() or _traditional().search(text) is None:
        return text
    return str(_converter().convert(text))  # type: ignore[attr-defined]


_NUM = f"[{_NUMERAL_CHARS}]"
# Blanks, and the zero-width space the scanner reads every hidden character as: they may
# stand between the digits and words of an address (文三路 4 7 8 号).
_B = r"[\s\u200b]*"
# A door, building or room number: digits (any form) with blanks between them, and a
# sub-number after a dash or 之 (478-2, 12之3).
_N = rf"{_NUM}(?:{_B}{_NUM})*+"
_NS = rf"{_N}(?:{_B}[-－‐-―之]{_B}{_N})?"
# Each pattern of an address finer than the district, with the characters one of which
# it needs: a text without any of them is not searched (most are not).
_FINE_ADDRESSES = tuple((re.compile(hint), re.compile(pattern)) for hint, pattern in (
    # a street, lane or alley and a door number: 文三路478号, 解放街 12 号, 某巷3弄
    ("号|弄|栋|幢", rf"(?:路|街|道|巷|弄|胡同|里){_B}(?:{_N}{_B}段{_B})?{_NS}{_B}"
                  r"(?:号|弄|支弄|栋|幢)"),
    # a road or street and a number that ends there, without 号: 住文三路478，中山路12-3
    ("路|街|巷|胡同|大道", rf"(?:路|街|巷|大道|胡同){_B}{_NS}(?=[\s\u200b]*(?:[,，。；;、)）]|$))"),
    # a building, unit, room or door: 3栋, 5号楼, 2单元, 501室, 12号院
    ("号|栋|幢|单元|室|户",
     rf"(?<![{_NUMERAL_CHARS}]){_NS}{_B}(?:号楼|栋|幢|单元|室|号院|号房|户)"),
    # a floor and the room on it, a tower and its room: 12楼1203, 3层305, A座1203
    ("楼|层|座", rf"(?:{_N}{_B}(?:楼|层)|[A-Za-zＡ-Ｚａ-ｚ0-9０-９]{_B}座){_B}{_NS}"),
    # a village's group: 李家村3组, 某村三组
    ("村", rf"[\u4e00-\u9fff]村{_B}{_N}{_B}(?:组|社)"),
    # a town or street office and a village or community below it, after a district
    ("镇|乡|街道", r"[区县旗市][\u4e00-\u9fff]{1,8}?(?:镇|乡|街道)[\u4e00-\u9fff]{1,8}?"
             r"(?:村|社区|小区)"),
))


# Where the name of a street or estate before a matched number ends, going back: the
# district (or a higher unit) and words that introduce an address stay.
_PLACE_STOPS = frozenset("省市区县旗盟州住在于至址为是到往居及和与")
_MAX_PLACE_NAME = 12


_ADDRESS_HINT = re.compile("|".join(hint.pattern for hint, _ in _FINE_ADDRESSES))


def has_fine_address(text: str) -> bool:
    """Whether a (visible, folded) text holds an address finer than the district."""
    return _ADDRESS_HINT.search(text) is not None and any(
        hint.search(text) is not None and pattern.search(text) is not None
        for hint, pattern in _FINE_ADDRESSES)


def fine_address_spans(text: str) -> list[tuple[int, int]]:
    """Spans of a (folded) text below the district: the street or estate name, numbers."""
    spans: list[tuple[int, int]] = []
    if _ADDRESS_HINT.search(text) is None:
        return spans
    for hint, pattern in _FINE_ADDRESSES:
        if hint.search(text) is None:
            continue
        for match in pattern.finditer(text):
            start = match.start()
            if text[start] in "区县旗市":
                start += 1  # the district itself may be shown
            else:
                floor = max(0, start - _MAX_PLACE_NAME)
                while (start > floor and "\u4e00" <= text[start - 1] <= "\u9fff"
                       and text[start - 1] not in _PLACE_STOPS):
                    start -= 1
            spans.append((start, match.end()))
    return spans


# Kinship and role words after which a name is a third party's (longest first, so
# 妻子 is read before 妻). Not 被执行人: that is the record's subject, whose names the
# scanner masks in every form it is given. One-character words (妻, 夫, 父...) count
# only after 其, 之, 的, 与, 和, 及, 携 or 同: alone they are parts of other words (夫妻,
# 功夫, 电子).
_RELATIVE_WORDS = """
妻子 丈夫 前妻 前夫 配偶 爱人 老婆 老公 未婚妻 未婚夫 女友 男友 同居人
父亲 母亲 儿子 女儿 长子 次子 长女 次女 养子 养女 继子 继女
哥哥 弟弟 姐姐 妹妹 岳父 岳母 公公 婆婆 儿媳 女婿 孙子 孙女
外孙 外孙女 侄子 侄女 外甥 外甥女 舅舅 叔叔 伯父 姑姑 姨妈 亲属 家属
担保人 保证人 受害人 被害人 证人 原告 被告 第三人 申请人 被申请人 申请执行人
共同被执行人 债权人 债务人 合伙人 代理人 监护人 被监护人 法定代理人
联系人 介绍人 同案人 同伙 举报人 报案人 当事人 出借人 借款人
"""
_RELATIVES = sorted(_RELATIVE_WORDS.split(), key=len, reverse=True)
_SHORT_RELATIVES = "[其之的与和及携同](?:妻|夫|父|母|子|女|兄|弟|姐|妹)"
# Common surnames (the most frequent single-character ones, and the compound ones).
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙"
    "史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔汤温康樊邢乔伍庞颜倪庄聂章鲁"
    "岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕季裴霍涂苗谷盛曲翁冉骆"
    "蓝路游辛靳管柴蒙鲍华喻祁蒲滕屈饶牟艾尤阳穆农司卓古吉缪简项连芦麦褚娄窦戚"
    "岑景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬卞姬仇栾隋刁沙荣巫寇桑郎甄丛"
    "仲虞敖巩佘池麻苑迟邝匡鞠惠荆冀郁胥班储栗燕楚鄢劳谌奚皮粟冼蔺"
    "厉伊仝郜阚帅屠豆朴廉禹祖漆卿狄索晋云"
    # and the rest of the Hundred Family Surnames (百家姓) but those that are mostly a
    # word after a role (被告车辆, 申请人房屋, 担保人应当, 被告暴力, 申请人单位)
    "施葛萧傅洪阎封齐易杭井牛寿边戈茅凤贝湛滑钮邴汲糜羿隗宓蓬郗仰钭戎韶蓟邰鄂赖莘"
    "逄堵宰郦雍璩濮扈郏浦茹宦庾暨衡弘阙殳沃蔚夔厍晁訾乜蒯竺逯桓昝贲伏薄贡慕禄芮乌"
    "嵇荀裘"
)
_COMPOUND = ("欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|令狐|夏侯|轩辕|"
             "端木|独孤|南宫|西门|百里|呼延|澹台|万俟|闻人|赫连|申屠|钟离|拓跋|左丘|鲜于")
# Characters that do not continue a name here: a masked name (某, *, x), particles and
# verbs that follow a relative word (其妻已..., 担保人对...).
_NOT_NAME = ("某*＊xXｘＸ○〇□的了在于与和及等均已未因将向对被曾也都是为系称承所有无人名下同共"
             "住拒不没欠借还担并把工")


def _trie(words: list[str]) -> str:
    """The words as one regex sharing their prefixes (re tries far fewer branches)."""
    heads: dict[str, list[str]] = {}
    for word in words:
        heads.setdefault(word[0], []).append(word[1:])
    parts = []
    for head, tails in sorted(heads.items()):
        rest = [t for t in tails if t]
        if not rest:
            parts.append(re.escape(head))
            continue
        inner = _trie(rest)
        parts.append(f"{re.escape(head)}(?:{inner}){'?' if '' in tails else ''}")
    return "|".join(parts)


_FIRST_CHARS = "".join(sorted({w[0] for w in _RELATIVES} | set("其之的与和及携同")))
# What may stand between a role word and the name after it: blanks (and the zero-width
# space the scanner reads hidden characters as), colons, commas, quotes and brackets,
# and a word that introduces a name (系, 名叫...).
_FILL = r"[\s\u200b:：,，“”\"'‘’「」『』（(【\[]*"
_INTRO = "(?:系|是|为|即|叫|名叫|叫做|名为|姓名为|姓名)"
# A name: a surname and one or two more characters, blanks allowed between them; or a
# minority name with its dot (阿沛·阿旺晋美), in any of the dot's forms.
_NAME_CHAR = rf"[^\W\d{_NOT_NAME}a-zA-Z]"
_DOTS = "".join(re.escape(dot) for dot in NAME_DOTS)
_GAP = r"[\s\u200b]*"
_DOTTED_NAME = (rf"[\u4e00-\u9fff](?:{_GAP}[\u4e00-\u9fff]){{0,5}}{_GAP}[{_DOTS}]{_GAP}"
                rf"[\u4e00-\u9fff](?:{_GAP}[\u4e00-\u9fff]){{0,7}}")
_SPLIT_COMPOUND = "|".join(f"{pair[0]}{_GAP}{pair[1]}" for pair in _COMPOUND.split("|"))
_SURNAME_NAME = rf"(?:{_SPLIT_COMPOUND}|[{_SURNAMES}])(?:{_GAP}{_NAME_CHAR}){{1,2}}"
_PERSON = rf"{_SURNAME_NAME}|{_DOTTED_NAME}"
_ROLE = rf"(?:{_trie(_RELATIVES)}|{_SHORT_RELATIVES})"
# After the word: 其妻王丽华, 担保人：李明, 证人（赵强）, 受害人名叫刘芳.
_RELATIVE_NAME = re.compile(
    rf"(?=[{_FIRST_CHARS}]){_ROLE}{_FILL}(?:{_INTRO}{_FILL})?(?P<name>{_PERSON})"
    # not a masked name (欧阳**: 欧 and 阳 are not a name of their own before a mask)
    rf"(?![*＊某xXｘＸ○〇□])")
# Before it: 李明（担保人）, 李明作为担保人, 李明系本案证人. Looked for only where a role
# word stands after such a link: the link, then the name that ends right before it.
_LINK_BEFORE = re.compile(r"(?:[\s\u200b]*[（(【\[]|(?:作为|系|是|为|即)(?:本案)?)\Z")
_NAME_BEFORE = re.compile(rf"(?:{_PERSON})\Z")
_LOOK_BACK = 24
_COMPOUND_SET = frozenset(_COMPOUND.split("|"))
# The kinship and role words alone: most texts hold none, and one search of them is far
# cheaper than looking for a name after each.
_RELATIVE_WORD = re.compile(
    rf"(?=[{_FIRST_CHARS}])(?:{_trie(_RELATIVES)}|{_SHORT_RELATIVES})")
_CJK_ONLY = re.compile("[\u4e00-\u9fff]+")
_DOTTED = re.compile(f"[\u4e00-\u9fff]+[{_DOTS}][\u4e00-\u9fff]+")
_BLANKS = re.compile(r"[\s\u200b]+")


def relative_name_spans(text: str) -> list[tuple[int, int, int]]:
    """(start, end, surname length) of each name right after a kinship or role word."""
    spans: list[tuple[int, int, int]] = []
    if _RELATIVE_WORD.search(text) is None:
        return spans
    found = [match.span("name") for match in _RELATIVE_NAME.finditer(text)]
    for role in _RELATIVE_WORD.finditer(text):
        link = _LINK_BEFORE.search(text, max(0, role.start() - 8), role.start())
        if link is None:
            continue
        floor = max(0, link.start() - _LOOK_BACK)
        before = _NAME_BEFORE.search(text, floor, link.start())
        if before is not None:
            found.append(before.span())
    for start, end in sorted(set(found)):
        name = _BLANKS.sub("", text[start:end])
        if _CJK_ONLY.fullmatch(name) is not None or _DOTTED.fullmatch(name) is not None:
            spans.append((start, end, 2 if name[:2] in _COMPOUND_SET else 1))
    return spans


def has_named_relative(text: str) -> bool:
    """Whether a (visible, folded) text names someone right after a kinship or role word."""
    return bool(relative_name_spans(text))
