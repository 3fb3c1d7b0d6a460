"""The working copy of a catalog entry: its shape checked on every edit, its rules checked on submit.

Shape (checked before anything is stored): codes, names of columns and tables, enumerations and
lengths. Rules (checked on submit, each with its own error code, all reported at once):

* ``NO_ITEMS``: at least one data item;
* ``NOT_SHARED_WITHOUT_LEGAL_BASIS``: every NOT_SHARED item cites the law or regulation;
* ``CONDITION_MISSING``: every CONDITIONAL item states its condition;
* ``DATA_LOCATION_MISSING``: an entry offering share modes names where its data lives (a table of the
  provider's database holding every item as a column; the query mode also needs an api name);
* ``UPDATE_CYCLE_MISSING``: an update cycle;
* ``CHINESE_NAME_MISSING``: names and item titles in Chinese.

Missing Uyghur or Kazakh names are warnings (``UYGHUR_NAME_MISSING``, ``KAZAKH_NAME_MISSING``), not refusals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from govshare.core.errors import BadRequest

CODE = re.compile(r"[0-9]{6}-[A-Z0-9]{1,8}-[0-9]{6}")
COLUMN = re.compile(r"[a-z][a-z0-9_]{0,62}")
API_NAME = re.compile(r"[a-z][A-Za-z0-9]{0,62}")
CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
CLASSIFICATIONS = ("basic", "theme", "department")
UPDATE_CYCLES = ("realtime", "daily", "weekly", "monthly", "quarterly", "half_yearly", "yearly")
SHARE_CLASSES = ("UNCONDITIONAL", "CONDITIONAL", "NOT_SHARED")
SHARE_MODES = ("exchange", "interface", "database")
OPEN_ATTRIBUTES = ("open", "conditional_open", "not_open")
DATA_TYPES = ("string", "integer", "decimal", "date", "datetime", "boolean")
LANGUAGES = ("zh", "ug", "kk", "en")
MAX_TEXT = 2000
MAX_ITEMS = 200


@dataclass(frozen=True)
class Item:
    name: str
    titles: dict[str, str | None]
    data_type: str
    share_class: str
    condition: str | None = None
    legal_basis: str | None = None
    is_key: bool = False


@dataclass(frozen=True)
class Document:
    """What a registrar edits; published into ``resources`` and ``data_items``."""

    classification: str
    category: str
    names: dict[str, str | None]
    summaries: dict[str, str | None]
    format: str
    update_cycle: str | None
    share_modes: tuple[str, ...]
    open_attribute: str
    data_table: str | None
    api_name: str | None
    items: tuple[Item, ...]
    related_codes: tuple[str, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["share_modes"] = list(self.share_modes)
        body["related_codes"] = list(self.related_codes)
        body["items"] = [asdict(i) for i in self.items]
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Document:
        items = tuple(Item(**i) for i in body["items"])
        return cls(**{**body, "items": items, "share_modes": tuple(body["share_modes"]),
                      "related_codes": tuple(body.get("related_codes", ()))})

    @property
    def share_class(self) -> str:
        """The resource's class: CONDITIONAL if any item is, NOT_SHARED only if every item is."""
        classes = {i.share_class for i in self.items}
        if "CONDITIONAL" in classes:
            return "CONDITIONAL"
        if classes == {"NOT_SHARED"}:
            return "NOT_SHARED"
        return "UNCONDITIONAL"

    @property
    def share_conditions(self) -> str | None:
        conditions = dict.fromkeys(i.condition for i in self.items if i.share_class == "CONDITIONAL" and i.condition)
        return "；".join(c for c in conditions if c) or None

    @property
    def legal_basis(self) -> str | None:
        if self.share_class != "NOT_SHARED":
            return None
        return next((i.legal_basis for i in self.items if i.legal_basis), None)


@dataclass(frozen=True)
class Violation:
    code: str
    message: str
    item: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "item": self.item}


def _text(value: Any, name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        if required:
            raise BadRequest(f"{name} is required", field=name)
        return None
    if not isinstance(value, str) or "\x00" in value or len(value) > limit:
        raise BadRequest(f"{name} must be text of at most {limit} characters", field=name)
    text = " ".join(value.split())
    if required and not text:
        raise BadRequest(f"{name} must not be blank", field=name)
    return text or None


def _choice(value: Any, name: str, accepted: tuple[str, ...], *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if value not in accepted:
        raise BadRequest(f"{name} must be one of {', '.join(accepted)}", field=name, accepted=list(accepted))
    return str(value)


def _languages(body: Mapping[str, Any], prefix: str, where: str) -> dict[str, str | None]:
    return {lang: _text(body.get(f"{prefix}_{lang}"), f"{where}{prefix}_{lang}", limit=500 if prefix != "summary"
                        else MAX_TEXT) for lang in LANGUAGES}


def shaped(body: Mapping[str, Any]) -> Document:
    """A document from mutation input (snake_case keys), its shape checked; rules are left to submit."""
    raw_items = body.get("items") or []
    if len(raw_items) > MAX_ITEMS:
        raise BadRequest(f"at most {MAX_ITEMS} items", field="items")
    items: list[Item] = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_items):
        where = f"items[{position}]."
        name = raw.get("name")
        if not isinstance(name, str) or not COLUMN.fullmatch(name):
            raise BadRequest(f"{where}name must be a column name (a-z, 0-9, _)", field=f"{where}name")
        if name in seen:
            raise BadRequest(f"item {name} is listed twice", field=f"{where}name")
        seen.add(name)
        items.append(Item(
            name=name, titles=_languages(raw, "title", where),
            data_type=str(_choice(raw.get("data_type"), f"{where}dataType", DATA_TYPES)),
            share_class=str(_choice(raw.get("share_class"), f"{where}shareClass", SHARE_CLASSES)),
            condition=_text(raw.get("condition"), f"{where}condition"),
            legal_basis=_text(raw.get("legal_basis"), f"{where}legalBasis"),
            is_key=bool(raw.get("is_key", False))))
    data_table = body.get("data_table")
    if data_table is not None and not (isinstance(data_table, str) and COLUMN.fullmatch(data_table)):
        raise BadRequest("dataTable must be a table name (a-z, 0-9, _)", field="dataTable")
    api_name = body.get("api_name")
    if api_name is not None and not (isinstance(api_name, str) and API_NAME.fullmatch(api_name)):
        raise BadRequest("apiName must start with a lower-case letter followed by letters or digits",
                         field="apiName")
    modes = list(dict.fromkeys(body.get("share_modes") or []))
    for mode in modes:
        _choice(mode, "shareModes", SHARE_MODES)
    related = list(dict.fromkeys(body.get("related_codes") or []))
    for code in related:
        if not isinstance(code, str) or not CODE.fullmatch(code):
            raise BadRequest(f"related code {code!r} is not a resource code", field="relatedCodes")
    return Document(
        classification=str(_choice(body.get("classification"), "classification", CLASSIFICATIONS)),
        category=_text(body.get("category"), "category", required=True, limit=100) or "",
        names=_languages(body, "name", ""), summaries=_languages(body, "summary", ""),
        format=_text(body.get("format"), "format", required=True, limit=100) or "",
        update_cycle=_choice(body.get("update_cycle"), "updateCycle", UPDATE_CYCLES, optional=True),
        share_modes=tuple(modes),
        open_attribute=str(_choice(body.get("open_attribute", "not_open"), "openAttribute", OPEN_ATTRIBUTES)),
        data_table=data_table, api_name=api_name, items=tuple(items), related_codes=tuple(related))


def violations(doc: Document, table_columns: set[str] | None) -> list[Violation]:
    """The submit rules this document breaks; ``table_columns``: the columns of its data table in the
    provider's database (None when there is no such table)."""
    found: list[Violation] = []
    if not doc.items:
        found.append(Violation("NO_ITEMS", "a catalog entry needs at least one data item"))
    for item in doc.items:
        if item.share_class == "NOT_SHARED" and not item.legal_basis:
            found.append(Violation("NOT_SHARED_WITHOUT_LEGAL_BASIS",
                                   f"item {item.name} is NOT_SHARED: cite the law or regulation", item.name))
        if item.share_class == "CONDITIONAL" and not item.condition:
            found.append(Violation("CONDITION_MISSING",
                                   f"item {item.name} is CONDITIONAL: state the condition of use", item.name))
    if doc.share_modes:
        if doc.data_table is None:
            found.append(Violation("DATA_LOCATION_MISSING",
                                   f"the entry offers {', '.join(doc.share_modes)}: name the table holding its data"))
        elif table_columns is None:
            found.append(Violation("DATA_LOCATION_MISSING",
                                   f"table {doc.data_table} does not exist in the provider's database"))
        else:
            for item in doc.items:
                if item.name not in table_columns:
                    found.append(Violation("DATA_LOCATION_MISSING",
                                           f"table {doc.data_table} has no column {item.name}", item.name))
        if "interface" in doc.share_modes and doc.api_name is None:
            found.append(Violation("DATA_LOCATION_MISSING", "the query (interface) mode needs an api name"))
    if doc.update_cycle is None:
        found.append(Violation("UPDATE_CYCLE_MISSING", "state how often the data is updated"))
    if not CHINESE.search(doc.names.get("zh") or ""):
        found.append(Violation("CHINESE_NAME_MISSING", "the entry's name must be given in Chinese"))
    for item in doc.items:
        if not CHINESE.search(item.titles.get("zh") or ""):
            found.append(Violation("CHINESE_NAME_MISSING", f"item {item.name} needs a Chinese title", item.name))
    return found


def warnings(doc: Document) -> list[Violation]:
    """Missing Uyghur or Kazakh names: reported, never refused."""
    found: list[Violation] = []
    for lang, code, language in (("ug", "UYGHUR_NAME_MISSING", "Uyghur"), ("kk", "KAZAKH_NAME_MISSING", "Kazakh")):
        if not doc.names.get(lang):
            found.append(Violation(code, f"the entry has no {language} name"))
        for item in doc.items:
            if not item.titles.get(lang):
                found.append(Violation(code, f"item {item.name} has no {language} title", item.name))
    return found
