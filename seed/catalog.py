"""The demo catalog: departments per node, the three data resources, and generated catalog entries."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from govshare.federation.topology import Node, Topology
from govshare.resolvers.workflows.catalog_publications import kept_version
from govshare.resolvers.workflows.catalog_records import live_document

from .vocabulary import (
    BUREAU,
    COUNTY_KINDS,
    DEPARTMENT_KINDS,
    KINDS_OF_RECORD,
    LEGAL_BASES,
    REGION_PREFIX,
    SHARE_CONDITIONS,
    SUBJECTS,
    SUPERVISOR,
    THEMES,
    Words,
)

DEPARTMENT_COLUMNS = ("code", "node_code", "level", "parent_code", "division_code",
                      "name_zh", "name_ug", "name_kk", "name_en")
RESOURCE_COLUMNS = ("code", "node_code", "classification", "category", "name_zh", "name_ug", "name_kk",
                    "name_en", "summary_zh", "summary_ug", "summary_kk", "summary_en", "provider_code",
                    "provider_level", "format", "update_cycle", "share_class", "share_conditions",
                    "share_modes", "legal_basis", "open_attribute", "status", "version", "published_on",
                    "related_codes", "data_table", "data_scope", "api_name")
ITEM_COLUMNS = ("resource_code", "name", "position", "title_zh", "title_ug", "title_kk", "title_en",
                "data_type", "share_class", "share_condition", "legal_basis", "is_key")

UPDATE_CYCLES = ("realtime", "daily", "weekly", "monthly", "quarterly", "half_yearly", "yearly")
FORMATS = ("database", "spreadsheet", "document", "api", "image")
COUNTY_LETTERS = ("A", "B")
COUNTY_ZH = ("甲", "乙")

U, C, N = "UNCONDITIONAL", "CONDITIONAL", "NOT_SHARED"


@dataclass(frozen=True)
class ItemSpec:
    name: str
    title: Words
    data_type: str
    share_class: str
    is_key: bool = False
    legal_basis: str | None = None


POPULATION_ITEMS = (
    ItemSpec("citizen_id", Words("公民身份号码", "كىملىك نومۇرى", "جەكە كۋالىك نومىرى", "citizen ID number"),
             "string", C, is_key=True),
    ItemSpec("name", Words("姓名", "ئىسىم", "اتى-ءجونى", "name"), "string", U),
    ItemSpec("sex", Words("性别", "جىنسى", "جىنىسى", "sex"), "string", U),
    ItemSpec("birth_date", Words("出生日期", "تۇغۇلغان ۋاقتى", "تۋعان كۇنى", "birth date"), "date", C),
    ItemSpec("ethnicity", Words("民族", "مىللىتى", "ۇلتى", "ethnicity"), "string", C),
    ItemSpec("address", Words("住址", "ئادرېسى", "مەكەنجايى", "address"), "string", C),
    ItemSpec("division_code", Words("行政区划代码", "مەمۇرىي رايون كودى", "اكىمشىلىك ايماق كودى",
                                    "division code"), "string", U),
    ItemSpec("phone", Words("联系电话", "تېلېفون نومۇرى", "تەلەفون نومىرى", "phone"), "string", C),
    ItemSpec("household_type", Words("户口类别", "نوپۇس تۈرى", "تىركەۋ ءتۇرى", "household type"), "string", U),
    ItemSpec("registered_on", Words("登记日期", "تىزىملاتقان ۋاقتى", "تىركەلگەن كۇنى", "registered on"),
             "date", U),
    ItemSpec("biometric_template_id", Words("生物特征模板编号", "بىيولوگىيەلىك ئالاھىدىلىك نومۇرى",
                                            "بيومەتريالىق ۇلگى نومىرى", "biometric template ID"),
             "string", N, legal_basis=LEGAL_BASES[0] + "；" + LEGAL_BASES[1]),
)
ENTITY_ITEMS = (
    ItemSpec("uscc", Words("统一社会信用代码", "بىرلىككە كەلگەن ئىجتىمائىي ئىناۋەت كودى",
                           "بىرىڭعاي الەۋمەتتىك نەسيە كودى", "unified social credit code"), "string", U, True),
    ItemSpec("name", Words("名称", "نامى", "اتاۋى", "name"), "string", U),
    ItemSpec("entity_type", Words("主体类型", "تۈرى", "ءتۇرى", "entity type"), "string", U),
    ItemSpec("legal_representative", Words("法定代表人", "قانۇنىي ۋەكىل", "زاڭدى وكىل", "legal representative"),
             "string", U),
    ItemSpec("legal_rep_citizen_id", Words("法定代表人身份号码", "قانۇنىي ۋەكىل كىملىك نومۇرى",
                                           "زاڭدى وكىلدىڭ جەكە كۋالىك نومىرى", "legal representative's ID"),
             "string", C),
    ItemSpec("registered_capital", Words("注册资本（万元）", "تىزىملانغان مەبلەغ", "تىركەلگەن كاپيتال",
                                         "registered capital (10k CNY)"), "decimal", U),
    ItemSpec("established_on", Words("成立日期", "قۇرۇلغان ۋاقتى", "قۇرىلعان كۇنى", "established on"), "date", U),
    ItemSpec("status", Words("登记状态", "ھالىتى", "كۇيى", "status"), "string", U),
    ItemSpec("address", Words("住所", "ئادرېسى", "مەكەنجايى", "address"), "string", U),
    ItemSpec("division_code", Words("行政区划代码", "مەمۇرىي رايون كودى", "اكىمشىلىك ايماق كودى",
                                    "division code"), "string", U),
    ItemSpec("business_scope", Words("经营范围", "تىجارەت دائىرىسى", "قىزمەت اياسى", "business scope"),
             "string", U),
    ItemSpec("tax_credit_rating", Words("纳税信用等级", "باج ئىناۋەت دەرىجىسى", "سالىق سەنىم دەڭگەيى",
                                        "tax credit rating"), "string", N, legal_basis=LEGAL_BASES[2]),
)
LICENCE_ITEMS = (
    ItemSpec("licence_no", Words("证照编号", "ئىجازەتنامە نومۇرى", "كۋالىك نومىرى", "licence number"),
             "string", U, True),
    ItemSpec("uscc", ENTITY_ITEMS[0].title, "string", U),
    ItemSpec("entity_name", Words("主体名称", "نامى", "اتاۋى", "entity name"), "string", U),
    ItemSpec("issued_by", Words("发证机关", "تارقاتقان ئورگان", "بەرگەن ورگان", "issued by"), "string", U),
    ItemSpec("issued_on", Words("发证日期", "تارقىتىلغان ۋاقتى", "بەرىلگەن كۇنى", "issued on"), "date", U),
    ItemSpec("valid_until", Words("有效期至", "ئىناۋەتلىك مۇددىتى", "جارامدىلىق مەرزىمى", "valid until"),
             "date", U),
    ItemSpec("status", Words("证照状态", "ھالىتى", "كۇيى", "status"), "string", U),
    ItemSpec("division_code", ENTITY_ITEMS[9].title, "string", U),
)


@dataclass(frozen=True)
class DataResource:
    code: str
    api_name: str
    table: str
    category: str
    provider_kind: str
    name: Words
    summary: Words
    update_cycle: str
    items: tuple[ItemSpec, ...]


DATA_RESOURCES = (
    DataResource("650000-B01-000001", "population", "population", "population", "GA",
                 Words("人口基础信息", "نوپۇس ئاساسىي ئۇچۇرى", "حالىقتىڭ نەگىزگى مالىمەتى",
                       "Population basic information"),
                 Words("全区常住人口户籍登记基础信息，按地州市分节点存储", "پۈتۈن رايوننىڭ نوپۇس تىزىملاش ئۇچۇرى",
                       "بۇكىل رايوننىڭ حالىق تىركەۋ مالىمەتى",
                       "Household registration of residents, held per prefecture node"),
                 "daily", POPULATION_ITEMS),
    DataResource("650000-B02-000001", "legalEntities", "legal_entities", "legal_entity", "SJ",
                 Words("法人单位基础信息", "قانۇنىي ئورۇن ئاساسىي ئۇچۇرى", "زاڭدى تۇلعالاردىڭ نەگىزگى مالىمەتى",
                       "Legal entity basic information"),
                 Words("市场主体登记注册信息", "بازار گەۋدىسى تىزىملاش ئۇچۇرى", "نارىق سۋبەكتىلەرىن تىركەۋ مالىمەتى",
                       "Registration of market entities"),
                 "daily", ENTITY_ITEMS),
    DataResource("650000-B05-000001", "businessLicences", "business_licences", "e_licence", "SJ",
                 Words("电子营业执照", "ئېلېكترونلۇق تىجارەت كىنىشكىسى", "ەلەكتروندى ساۋدا لىتسەنزياسى",
                       "Electronic business licence"),
                 Words("市场主体电子营业执照证照信息", "ئېلېكترونلۇق كىنىشكە ئۇچۇرى", "ەلەكتروندى كۋالىك مالىمەتى",
                       "Electronic business licences of market entities"),
                 "realtime", LICENCE_ITEMS),
)


def node_names(node: Node) -> Words:
    n = node.names
    return Words(n["zh"], n.get("ug", n["zh"]), n.get("kk", n.get("ug", n["zh"])), n.get("en", n["zh"]))


# Institutions outside government (seed §2.2), consumers only: a bank branch at the region and a hospital in
# Urumqi. Codes <node>-JG-<kind> (机构); fictitious names.
INSTITUTIONS = (
    ("650000", "JG-YH", "示例商业银行新疆分行", "Example Commercial Bank, Xinjiang Branch"),
    ("650100", "JG-YY", "示例大学附属第一医院", "First Affiliated Hospital of Example University"),
)


def institution_rows(topology: Topology) -> Iterator[tuple[object, ...]]:
    """DEPARTMENT_COLUMNS plus sector, for the nodes of the topology."""
    for node_code, suffix, zh, en in INSTITUTIONS:
        if node_code in topology.by_code:
            level = "region" if node_code == topology.region.code else "prefecture"
            yield (f"{node_code}-{suffix}", node_code, level, None, node_code, zh, None, None, en, "institution")


def department_rows(topology: Topology) -> Iterator[tuple[object, ...]]:
    """Region departments, then per prefecture its bureaus and two counties' bureaus."""
    region = topology.region
    for code, kind, suffix in (*DEPARTMENT_KINDS, SUPERVISOR):
        yield (f"{region.code}-{code}", region.code, "region", None, region.code,
               f"{REGION_PREFIX.zh}{kind.zh}{suffix}", f"{REGION_PREFIX.ug} {kind.ug} {BUREAU.ug}",
               f"{REGION_PREFIX.kk} {kind.kk} {BUREAU.kk}", f"{REGION_PREFIX.en} {kind.en} Department")
    for node in topology.nodes:
        if node.level != "prefecture":
            continue
        place = node_names(node)
        for code, kind, _ in DEPARTMENT_KINDS:
            yield (f"{node.code}-{code}", node.code, "prefecture", f"{region.code}-{code}", node.code,
                   f"{place.zh}{kind.zh}局", f"{place.ug} {kind.ug} {BUREAU.ug}",
                   f"{place.kk} {kind.kk} {BUREAU.kk}", f"{place.en} {kind.en} Bureau")
        for i, letter in enumerate(COUNTY_LETTERS):
            for code, kind, _ in DEPARTMENT_KINDS:
                if code not in COUNTY_KINDS:
                    continue
                # GB/T 2260 county codes are not in shared/data: county departments carry their
                # prefecture's division code rather than an invented one.
                yield (f"{node.code}-C{letter}-{code}", node.code, "county", f"{node.code}-{code}", node.code,
                       f"{place.zh}{COUNTY_ZH[i]}县{kind.zh}局", f"{place.ug} {letter} ناھىيە {kind.ug} {BUREAU.ug}",
                       f"{place.kk} {letter} اۋدان {kind.kk} {BUREAU.kk}",
                       f"{place.en} County {letter} {kind.en} Bureau")


def _item_rows(resource_code: str, items: tuple[ItemSpec, ...], rng: random.Random
               ) -> Iterator[tuple[object, ...]]:
    for position, item in enumerate(items):
        condition = rng.choice(SHARE_CONDITIONS) if item.share_class == C else None
        yield (resource_code, item.name, position, item.title.zh, item.title.ug, item.title.kk, item.title.en,
               item.data_type, item.share_class, condition, item.legal_basis, item.is_key)


def modes(table: str) -> list[str]:
    """The demo registers' share modes: the population register also offers authorised database access."""
    return ["interface", "exchange", "database"] if table == "population" else ["interface", "exchange"]


def data_resource_rows(topology: Topology, rng: random.Random
                       ) -> Iterator[tuple[tuple[object, ...], list[tuple[object, ...]]]]:
    region = topology.region.code
    for res in DATA_RESOURCES:
        classes = {i.share_class for i in res.items}
        share_class = C if C in classes else U
        row: tuple[object, ...] = (res.code, region, "basic", res.category, *res.name, *res.summary, f"{region}-{res.provider_kind}",
               "region", "database", res.update_cycle, share_class,
               SHARE_CONDITIONS[0] if share_class == C else None, modes(res.table), None,
               "not_open", "published", 1, date(2024, 1, 15), [], res.table, "all_nodes", res.api_name)
        yield row, list(_item_rows(res.code, res.items, rng))


GENERIC_ITEM_TYPES = (("record_no", "string"), ("subject_name", "string"), ("decided_on", "date"),
                      ("amount", "decimal"), ("count", "integer"), ("valid", "boolean"),
                      ("remarks", "string"), ("contact", "string"))
GENERIC_ITEM_TITLES = {
    "record_no": Words("记录编号", "خاتىرە نومۇرى", "جازبا نومىرى", "record number"),
    "subject_name": Words("对象名称", "ئوبيېكت نامى", "نىسان اتاۋى", "subject name"),
    "decided_on": Words("决定日期", "قارار ۋاقتى", "شەشىم كۇنى", "decided on"),
    "amount": Words("金额", "سوممىسى", "سوماسى", "amount"),
    "count": Words("数量", "سانى", "سانى", "count"),
    "valid": Words("是否有效", "ئىناۋەتلىكمۇ", "جارامدى ما", "valid"),
    "remarks": Words("备注", "ئىزاھات", "ەسكەرتۋ", "remarks"),
    "contact": Words("联系人", "ئالاقىلاشقۇچى", "بايلانىس", "contact"),
}


def catalog_rows(topology: Topology, node: Node, count: int, rng: random.Random, start: int = 1,
                 ) -> Iterator[tuple[tuple[object, ...], list[tuple[object, ...]]]]:
    """``count`` generated catalog entries for ``node`` (codes numbered from ``start``)."""
    place = node_names(node)
    level = node.level
    kinds = DEPARTMENT_KINDS
    for seq in range(start, start + count):
        kind_code, kind, _ = kinds[seq % len(kinds)]
        subject = SUBJECTS[(seq // len(kinds)) % len(SUBJECTS)]
        record = KINDS_OF_RECORD[(seq // 7) % len(KINDS_OF_RECORD)]
        is_theme = seq % 5 == 0
        classification = "theme" if is_theme else "department"
        theme = THEMES[seq % len(THEMES)]
        category = f"theme:{theme.en}" if is_theme else f"department:{kind_code}"
        letter = "T" if is_theme else "D"
        code = f"{node.code}-{letter}{(seq % 90) + 10:02d}-{seq:06d}"
        provider_level = "county" if (level == "prefecture" and seq % 3 == 0 and kind_code in COUNTY_KINDS) \
            else level
        if provider_level == "county":
            provider = f"{node.code}-C{COUNTY_LETTERS[seq % 2]}-{kind_code}"
        else:
            provider = f"{node.code}-{kind_code}"
        name = Words(f"{place.zh}{subject.zh}{record.zh}", f"{place.ug} {subject.ug} {record.ug}",
                     f"{place.kk} {subject.kk} {record.kk}",
                     f"{place.en} {subject.en} {record.en}")
        if is_theme:
            summary = Words(f"{theme.zh}主题：{kind.zh}部门{subject.zh}{record.zh}",
                            f"{theme.ug}: {kind.ug} {subject.ug}", f"{theme.kk}: {kind.kk} {subject.kk}",
                            f"{theme.en} theme: {kind.en} {subject.en} {record.en}")
        else:
            summary = Words(f"{kind.zh}部门履职形成的{subject.zh}{record.zh}", f"{kind.ug} {subject.ug} {record.ug}",
                            f"{kind.kk} {subject.kk} {record.kk}",
                            f"{subject.en} {record.en} of the {kind.en} department")
        roll = rng.random()
        share_class = U if roll < 0.55 else (C if roll < 0.9 else N)
        status = "published" if rng.random() < 0.85 else rng.choice(("draft", "submitted", "retired"))
        modes = [m for m in ("interface", "exchange", "database") if rng.random() < 0.5] or ["exchange"]
        if share_class == N:
            modes = []
        published_on = date(2018, 1, 1) + timedelta(days=rng.randrange(0, 2500)) \
            if status in ("published", "retired") else None
        legal = rng.choice(LEGAL_BASES) if share_class == N else None
        row: tuple[object, ...] = (code, node.code, classification, category, *name, *summary, provider, provider_level,
               rng.choice(FORMATS), rng.choice(UPDATE_CYCLES), share_class,
               rng.choice(SHARE_CONDITIONS) if share_class == C else None, modes, legal,
               "open" if share_class == U and rng.random() < 0.3 else "not_open",
               status, 1 + rng.randrange(3), published_on, [], None, "provider", None)
        n_items = 3 + rng.randrange(5)
        items: list[tuple[object, ...]] = []
        for position, (item_name, data_type) in enumerate(GENERIC_ITEM_TYPES[:n_items]):
            item_class = share_class if position == 0 else rng.choice((U, U, C, N))
            if share_class == N:
                item_class = N
            title = GENERIC_ITEM_TITLES[item_name]
            items.append((code, item_name, position, *title, data_type, item_class,
                          rng.choice(SHARE_CONDITIONS) if item_class == C else None,
                          rng.choice(LEGAL_BASES) if item_class == N else None, position == 0))
        yield row, items


def published_versions(batch: list[tuple[tuple[object, ...], list[tuple[object, ...]]]]) -> list[tuple[object, ...]]:
    """The stored first version of every published (or since retired) entry of ``batch``: its live document as
    the catalog workflow reads it (catalog_records.live_document) and keeps it (catalog_publications), so
    ``versions`` of a seeded entry is what a new version drafted from it would have kept."""
    kept = []
    for row, items in batch:
        live = dict(zip(RESOURCE_COLUMNS, row, strict=True))
        if live["status"] not in ("published", "retired"):
            continue
        document = live_document(live, [dict(zip(ITEM_COLUMNS, item, strict=True)) for item in items])
        published_on = live["published_on"]
        assert isinstance(published_on, date) and isinstance(live["version"], int)
        kept.append(kept_version(str(live["code"]), live["version"], published_on, document))
    return kept
