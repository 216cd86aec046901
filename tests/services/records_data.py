"""Realistic records for the end-to-end tests (names and numbers invented)."""

from __future__ import annotations

from typing import Any

from tests.support import ADULT, OTHER_ADULT

NAME = "欧阳明远"
ADDRESS = "浙江省杭州市西湖区文三路100号3幢201室"
MOBILE = "13812345678"
BANK_CARD = "6222020200112233446"


def debtor_record(source: str = "(2026)浙01执1234号", subject: str = ADULT,
                  event_date: str = "2026-05-01", **fields: str) -> dict[str, Any]:
    """A dishonest-judgment-debtor record from the court."""
    base = {"debtor_name": NAME, "case_number": source, "court_name": "某市中级人民法院",
            "obligation": "支付货款人民币120,000元及利息", "performance": "未履行",
            "amount": "120000.00", "address": ADDRESS}
    base.update(fields)
    return {"subject_id": subject, "category": "dishonest_debtor", "severity": "serious",
            "event_date": event_date, "source_record_id": source, "fields": base}


def identity_record(subject: str = ADULT) -> dict[str, Any]:
    """An identity record from public security."""
    return {"subject_id": subject, "category": "identity", "severity": "not_applicable",
            "event_date": "2000-05-01", "source_record_id": f"PSB-{subject[-6:]}",
            "fields": {"name": NAME, "gender": "男", "ethnicity": "汉族", "address": ADDRESS,
                       "mobile": MOBILE}}


def penalty_record(source: str, severity: str, event_date: str,
                   subject: str = ADULT) -> dict[str, Any]:
    """An administrative penalty from the market regulator."""
    return {"subject_id": subject, "category": "admin_penalty", "severity": severity,
            "event_date": event_date, "source_record_id": source,
            "fields": {"person_name": NAME, "decision_number": source,
                       "reason": "无照经营", "penalty": "罚款5000元",
                       "authority": "市场监督管理局"}}


def tax_record(subject: str = ADULT) -> dict[str, Any]:
    """A tax credit rating from the tax bureau."""
    return {"subject_id": subject, "category": "tax_credit_rating", "severity": "not_applicable",
            "event_date": "2026-03-01", "source_record_id": f"TAX-{subject[-6:]}",
            "fields": {"taxpayer_name": NAME, "rating": "B", "rating_year": "2025",
                       "arrears": "3500.00"}}


def financial_record(subject: str = ADULT) -> dict[str, Any]:
    """Serious financial dishonesty from the PBOC branch."""
    return {"subject_id": subject, "category": "financial_dishonesty", "severity": "serious",
            "event_date": "2025-08-01", "source_record_id": f"PBOC-{subject[-6:]}",
            "fields": {"institution": "某商业银行", "description": "转移名下存款以逃避归还借款",
                       "amount": "300000.00", "bank_card": BANK_CARD}}


__all__ = ["ADULT", "OTHER_ADULT"]
