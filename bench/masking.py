"""Benchmark: desensitise synthetic records with the public profile, against JSON serialisation.

Run ``python -m bench.masking [--records 200000] [--seed 7]``. Each record has 8 fields of
mixed types (a name, an ID number, a mobile number, an address, a case number, a court,
a narrative that mentions the subject twice and, in a quarter of the records
(``--leaky``), an ID, a phone or a card number, and an amount), built before the clock
starts. The same run times, on the same records:

- ``apply_record``: the public profile of policies/masking.toml, one record at a time
  (the feed's path; the pseudonym of the ID number is an HMAC per record);
- ``batches``: the same in batches of ``--batch`` records, each with a value cache (the
  feed's path: court names, generalised addresses and pseudonyms repeat);
- ``apply``: the same through the per-value API (one call per field);
- ``json``: ``json.dumps`` of each record, unmasked: the floor any feed pays anyway;
- ``gate``: the privacy review of the masked records (``review_batch``).

Goal: at least 100,000 records/s for the public profile.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from gateway.crypto.keyring import generate_keyring
from gateway.disclosure.gate import review_batch
from gateway.pii.idnumber import make_id_number
from gateway.protect.profiles import MaskContext, MaskingProfiles

POLICIES = Path(__file__).resolve().parents[1] / "policies"
CATEGORY = "dishonest_debtor"
FIELD_TYPES = {
    "debtor_name": "person_name", "id_number": "id_number", "mobile": "mobile",
    "address": "address", "case_number": "code", "court_name": "org_name",
    "obligation": "free_text", "amount": "money",
}
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_COMPOUND = ["欧阳", "司马", "上官", "诸葛", "慕容"]
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红"
_MINORITY = ["阿依古丽·买买提", "买买提·吐尔逊", "阿沛·阿旺晋美", "热依拉·艾力"]
_PLACES = [
    ("330106", "浙江省杭州市西湖区文三路{n}号"), ("110105", "北京市朝阳区建国路{n}号院"),
    ("440305", "广东省深圳市南山区科技园{n}栋"),
    ("650102", "新疆维吾尔自治区乌鲁木齐市天山区解放路{n}号"),
    ("500103", "重庆市渝中区解放碑{n}号"), ("150102", "内蒙古自治区呼和浩特市新城区{n}号"),
]


def _card(rng: random.Random) -> str:
    body = "622202" + "".join(rng.choice("0123456789") for _ in range(12))
    total = 0
    for i, char in enumerate(reversed(body)):
        d = int(char) * (1 if i % 2 else 2)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def make_records(count: int, seed: int, leaky: float = 0.25
                 ) -> list[tuple[dict[str, str], tuple[str, ...]]]:
    """Synthetic records with the subject's name for each (invented people only)."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.05:
            name = rng.choice(_MINORITY)
        else:
            surname = rng.choice(_COMPOUND) if roll < 0.1 else rng.choice(_SURNAMES)
            name = surname + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
        code, address = rng.choice(_PLACES)
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(20000))
        id_number = make_id_number(code, birth, rng.randrange(1000))
        mobile = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        extra = ""
        if rng.random() < leaky:
            extra = rng.choice([f"，身份证号{id_number}", f"，名下银行卡{_card(rng)}",
                                f"，联系电话{mobile[:3]} {mobile[3:7]} {mobile[7:]}"])
        narrative = (f"被执行人{name}经本院判决应支付货款人民币{rng.randrange(1000, 900000)}元，"
                     f"至今未履行{extra}。经查{name}有履行能力而拒不履行，已纳入失信名单。")
        values = {
            "debtor_name": name, "id_number": id_number, "mobile": mobile,
            "address": address.format(n=rng.randrange(1, 999)),
            "case_number": f"(2026)浙01执{i}号", "court_name": "杭州市中级人民法院",
            "obligation": narrative, "amount": f"{rng.randrange(1000, 900000)}.00",
        }
        records.append((values, (name,)))
    return records


def _timed(label: str, count: int, work: Callable[[], object], repeat: int) -> float:
    """The best of ``repeat`` runs (the machine may be shared), printed as records/s."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<28} {best:8.3f} s  {count / best:>12,.0f} records/s")
    return best


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per measured path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--batch", type=int, default=500,
                        help="records per batch of the feed (a value cache per batch)")
    parser.add_argument("--leaky", type=float, default=0.25,
                        help="share of narratives that hold an ID, card or phone number")
    args = parser.parse_args(argv)
    profiles = MaskingProfiles.load(POLICIES, keyring=generate_keyring())
    records = make_records(args.records, args.seed, args.leaky)
    count = len(records)
    print(f"{count:,} records x {len(FIELD_TYPES)} fields, public profile")
    gc.freeze()  # the input records live through the run: keep them out of collections

    def by_record() -> None:
        # A feed streams its records out: the masked record is not kept.
        apply_record = profiles.apply_record
        for values, names in records:
            apply_record("public", CATEGORY, values, FIELD_TYPES, names=names)

    def by_batch() -> None:
        # The feed's path: a value cache per batch of records (publish_batch).
        apply_record = profiles.apply_record
        for start in range(0, count, args.batch):
            seen: dict[tuple[str, str], str] = {}
            for values, names in records[start:start + args.batch]:
                apply_record("public", CATEGORY, values, FIELD_TYPES, names=names, seen=seen)

    def by_value() -> None:
        apply = profiles.apply
        for values, names in records:
            for field, value in values.items():
                context = MaskContext(field=f"{CATEGORY}.{field}", names=names)
                apply("public", FIELD_TYPES[field], value, context=context)

    def to_json() -> None:
        dumps = json.dumps
        for values, _names in records:
            dumps(values, ensure_ascii=False)

    repeat = max(1, args.repeat)
    mask_s = _timed("mask (apply_record)", count, by_record, repeat)
    batch_s = _timed(f"mask (batches of {args.batch})", count, by_batch, repeat)
    _timed("mask (apply per value)", count, by_value, repeat)
    json_s = _timed("json.dumps (unmasked)", count, to_json, repeat)
    out = [profiles.apply_record("public", CATEGORY, values, FIELD_TYPES, names=names)
           for values, names in records]
    _timed("gate (review_batch)", count, lambda: review_batch(
        out, subject_names=[n for _v, names in records for n in names],
        subject_ids=[v["id_number"] for v, _n in records]), 1)
    best = min(mask_s, batch_s)
    print(f"masking costs {best / json_s:.1f}x the JSON serialisation of the same records; "
          f"public masking {count / best:,.0f} records/s (goal >= 100,000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
