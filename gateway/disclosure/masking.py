"""Type-aware masking operators for personal data (GB/T 35273-2020, GB/T 37964-2019).

These are the operators the `masked` release level uses. Every operator keeps far
less than the original and never returns it unchanged for a sensitive type.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MASK = "*"
# Two-character surnames (复姓) that must be kept whole when a name is masked.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "令狐", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "百里",
        "呼延", "澹台", "万俟", "闻人", "赫连", "申屠", "公羊", "太史", "钟离", "拓跋",
    }
)
# Province (or municipality), then prefecture, then district or county (区/县/旗/县级市).
_DISTRICT_END = re.compile(
    r"^((?:[^省市区县]{2,8}?省|[^省市区县]{2,12}?自治区|北京市|上海市|天津市|重庆市)?"
    r"(?:[^省市区县旗]{1,8}?(?:自治州|地区|盟|市))?"
    r"[^省市区县旗]{1,10}?(?:区|县|旗|市))")
_NAME_DOTS = "·•‧・."


def mask_keep(value: str, first: int, last: int) -> str:
    """Keep the first and last characters, replace the rest with * (at least one *)."""
    if len(value) <= first + last:
        keep = max(0, min(first, len(value) - 1))
        return value[:keep] + MASK * max(1, len(value) - keep)
    return value[:first] + MASK * (len(value) - first - last) + (value[-last:] if last else "")


def mask_person_name(value: str) -> str:
    """Keep the surname (compound or single); for dotted minority names the first part."""
    name = value.strip()
    for dot in _NAME_DOTS:
        if dot in name:
            head = name.split(dot, 1)[0]
            return (head[:1] + MASK * max(1, len(head) - 1)) + "·" + MASK * 2
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]
    return surname + MASK * max(1, len(name) - len(surname))


def mask_id_number(value: str) -> str:
    """Keep the first 3 and the last 2 characters of an ID number."""
    return mask_keep(value.strip(), 3, 2)


def mask_mobile(value: str) -> str:
    """Keep the first 3 and last 4 digits of a mobile number (138****1234)."""
    digits = re.sub(r"\D", "", value)
    return mask_keep(digits, 3, 4) if len(digits) >= 8 else MASK * max(1, len(digits))


def mask_bank_card(value: str) -> str:
    """Keep only the last 4 digits of a bank card number."""
    digits = re.sub(r"\D", "", value)
    return MASK * max(1, len(digits) - 4) + digits[-4:] if len(digits) > 4 else MASK * 4


def generalise_address(value: str) -> str:
    """Generalise an address to its district or county (区/县), dropping the rest."""
    match = _DISTRICT_END.match(value.strip())
    if match and len(match.group(1)) < len(value.strip()):
        return match.group(1) + MASK * 3
    return mask_keep(value.strip(), 2, 0)


def generalise_date(value: str) -> str:
    """Generalise a date YYYY-MM-DD to its year."""
    return value[:4] if len(value) >= 4 and value[:4].isdigit() else MASK * 4


def redact(value: str) -> str:
    """Replace the whole value."""
    return "[redacted]"


MASKERS: dict[str, Callable[[str], str]] = {
    "person_name": mask_person_name,
    "id_number": mask_id_number,
    "mobile": mask_mobile,
    "bank_card": mask_bank_card,
    "address": generalise_address,
    "date": generalise_date,
    "free_text": redact,
    "code": lambda v: mask_keep(v, 2, 2),
    "money": redact,
    "text": lambda v: mask_keep(v, 1, 0),
    "enum": lambda v: mask_keep(v, 1, 0),
    # Organisations are not personal data (they stay in clear even when "masked").
    "org_name": lambda v: v,
    "uscc": lambda v: v,
}


def mask_value(field_type: str, value: str) -> str:
    """Mask a value by its field type; unknown types are redacted (fail closed)."""
    return MASKERS.get(field_type, redact)(value)
