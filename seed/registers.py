"""Generated rows of the shared registers: population, legal entities, electronic business licences."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import date, timedelta

from . import ids
from .vocabulary import (
    ENTERPRISE_WORDS,
    HAN_GIVEN,
    HAN_SURNAMES,
    INDUSTRIES,
    KAZAKH_NAMES,
    ROADS,
    SCOPES,
    UYGHUR_NAMES,
)

PERSON_COLUMNS = ("citizen_id", "node_code", "name", "sex", "birth_date", "ethnicity", "address",
                  "division_code", "phone", "household_type", "registered_on", "biometric_template_id")
ENTITY_COLUMNS = ("uscc", "node_code", "name", "entity_type", "legal_representative", "legal_rep_citizen_id",
                  "registered_capital", "established_on", "status", "address", "division_code",
                  "business_scope", "tax_credit_rating")
LICENCE_COLUMNS = ("licence_no", "node_code", "uscc", "entity_name", "issued_by", "issued_on", "valid_until",
                   "status", "division_code")

# Resident population per prefecture in units of 10,000 (rounded, for proportions only).
POPULATION_WEIGHTS: Mapping[str, int] = {
    "650100": 405, "650200": 49, "650400": 69, "650500": 67, "652300": 161, "652700": 49, "652800": 161,
    "652900": 271, "653000": 62, "653100": 450, "653200": 250, "654000": 284, "654200": 114, "654300": 67,
}
# (ethnicity, weight, naming style) per prefecture; coarse, for plausible demo data only.
_MIX_DEFAULT = (("汉族", 40, "han"), ("维吾尔族", 45, "uyghur"), ("哈萨克族", 8, "kazakh"), ("回族", 7, "han"))
ETHNIC_MIX: Mapping[str, tuple[tuple[str, int, str], ...]] = {
    "650100": (("汉族", 72, "han"), ("维吾尔族", 13, "uyghur"), ("回族", 9, "han"), ("哈萨克族", 6, "kazakh")),
    "650200": (("汉族", 76, "han"), ("维吾尔族", 14, "uyghur"), ("哈萨克族", 10, "kazakh")),
    "652300": (("汉族", 72, "han"), ("回族", 12, "han"), ("哈萨克族", 10, "kazakh"), ("维吾尔族", 6, "uyghur")),
    "653000": (("柯尔克孜族", 30, "uyghur"), ("维吾尔族", 64, "uyghur"), ("汉族", 6, "han")),
    "653100": (("维吾尔族", 92, "uyghur"), ("汉族", 8, "han")),
    "653200": (("维吾尔族", 96, "uyghur"), ("汉族", 4, "han")),
    "654000": (("哈萨克族", 30, "kazakh"), ("汉族", 40, "han"), ("维吾尔族", 20, "uyghur"), ("回族", 10, "han")),
    "654200": (("汉族", 58, "han"), ("哈萨克族", 26, "kazakh"), ("回族", 8, "han"), ("维吾尔族", 8, "uyghur")),
    "654300": (("哈萨克族", 52, "kazakh"), ("汉族", 40, "han"), ("维吾尔族", 8, "uyghur")),
    "652700": (("汉族", 66, "han"), ("蒙古族", 6, "kazakh"), ("维吾尔族", 14, "uyghur"), ("哈萨克族", 14, "kazakh")),
    "652800": (("汉族", 57, "han"), ("维吾尔族", 33, "uyghur"), ("蒙古族", 5, "kazakh"), ("回族", 5, "han")),
}
HOUSEHOLD_TYPES = ("非农业家庭户口", "农业家庭户口", "集体户口")
ENTITY_KINDS = (("1", "有限责任公司", 60), ("2", "个体工商户", 30), ("3", "农民专业合作社", 10))
ENTITY_STATUS = (("存续", 80), ("在业", 10), ("吊销", 5), ("注销", 5))
TAX_RATINGS = ("A", "B", "M", "C", "D")
_EPOCH = date(1940, 1, 1)


def allocate(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` over the keys in proportion to ``weights`` (largest remainder, exact sum)."""
    weight_sum = sum(weights.values())
    exact = {k: total * w / weight_sum for k, w in weights.items()}
    shares = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (shares[k] - exact[k], k))[: total - sum(shares.values())]:
        shares[k] += 1
    return shares


def _weighted(rng: random.Random, options: tuple[tuple[str, int, str], ...]) -> tuple[str, str]:
    pick = rng.randrange(sum(w for _, w, _ in options))
    for ethnicity, weight, style in options:
        if pick < weight:
            return ethnicity, style
        pick -= weight
    raise AssertionError("unreachable")


def person_name(rng: random.Random, style: str) -> str:
    if style == "han":
        return rng.choice(HAN_SURNAMES) + "".join(rng.choice(HAN_GIVEN) for _ in range(rng.randint(1, 2)))
    pool = UYGHUR_NAMES if style == "uyghur" else KAZAKH_NAMES
    return f"{rng.choice(pool)}·{rng.choice(pool)}"


def persons(node_code: str, division_zh: str, count: int, rng: random.Random) -> Iterator[tuple[object, ...]]:
    mix = ETHNIC_MIX.get(node_code, _MIX_DEFAULT)
    seen: set[str] = set()
    produced = 0
    while produced < count:
        birth = _EPOCH + timedelta(days=rng.randrange(0, 29_200))
        male = rng.random() < 0.51
        sequence = rng.randrange(0, 500) * 2 + (1 if male else 0)
        cid = ids.citizen_id(node_code, birth.strftime("%Y%m%d"), sequence)
        if cid in seen:
            continue
        seen.add(cid)
        produced += 1
        ethnicity, style = _weighted(rng, mix)
        address = f"{division_zh}{rng.choice(ROADS)}路{rng.randint(1, 999)}号"
        phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        yield (cid, node_code, person_name(rng, style), "男" if male else "女", birth, ethnicity, address,
               node_code, phone, rng.choice(HOUSEHOLD_TYPES), birth + timedelta(days=rng.randint(1, 60)),
               f"BT{rng.getrandbits(48):012x}")


def _pick(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    pick = rng.randrange(sum(w for _, w in options))
    for value, weight in options:
        if pick < weight:
            return value
        pick -= weight
    raise AssertionError("unreachable")


def entities(node_code: str, division_zh: str, count: int, rng: random.Random
             ) -> Iterator[tuple[tuple[object, ...], tuple[object, ...]]]:
    """Yield (entity row, licence row) pairs."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    seen: set[str] = set()
    produced = 0
    short = division_zh.removesuffix("市").removesuffix("地区")[:4]
    while produced < count:
        kind_pick = rng.randrange(100)
        kind, kind_name = ("1", "有限责任公司") if kind_pick < 60 else (
            ("2", "个体工商户") if kind_pick < 90 else ("3", "农民专业合作社"))
        body = "".join(rng.choice(alphabet) for _ in range(8))
        code = ids.uscc("9", kind, node_code, body)
        if code in seen:
            continue
        seen.add(code)
        produced += 1
        suffix = {"1": "有限公司", "2": "经营部", "3": "农民专业合作社"}[kind]
        name = f"{short}{rng.choice(ENTERPRISE_WORDS)}{rng.choice(INDUSTRIES)}{suffix}"
        rep_birth = _EPOCH + timedelta(days=rng.randrange(7_000, 25_000))
        rep_id = ids.citizen_id(node_code, rep_birth.strftime("%Y%m%d"), rng.randrange(1000))
        established = date(1995, 1, 1) + timedelta(days=rng.randrange(0, 11_000))
        capital = round(rng.lognormvariate(4.5, 1.3), 2)
        status = _pick(rng, ENTITY_STATUS)
        address = f"{division_zh}{rng.choice(ROADS)}路{rng.randint(1, 999)}号"
        entity = (code, node_code, name, kind_name, person_name(rng, rng.choice(("han", "uyghur", "kazakh"))),
                  rep_id, capital, established, status, address, node_code, rng.choice(SCOPES),
                  rng.choice(TAX_RATINGS))
        issued = established + timedelta(days=rng.randrange(0, 30))
        licence = (f"DZZZ{node_code}{produced:08d}", node_code, code, name, f"{division_zh}市场监督管理局",
                   issued, None if kind != "1" else issued + timedelta(days=365 * 30),
                   "有效" if status in ("存续", "在业") else "失效", node_code)
        yield entity, licence
