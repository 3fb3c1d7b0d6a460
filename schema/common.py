"""Types shared by every type family: languages, localized text, page info, enums."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry


@strawberry.enum(description="Language of names and summaries; missing translations fall back to zh.")
class Language(Enum):
    ZH = "zh"
    UG = "ug"
    KK = "kk"
    EN = "en"


@strawberry.enum
class ShareClass(Enum):
    UNCONDITIONAL = "UNCONDITIONAL"
    CONDITIONAL = "CONDITIONAL"
    NOT_SHARED = "NOT_SHARED"


@strawberry.enum
class Level(Enum):
    REGION = "region"
    PREFECTURE = "prefecture"
    COUNTY = "county"


@strawberry.enum
class Classification(Enum):
    BASIC = "basic"
    THEME = "theme"
    DEPARTMENT = "department"


@strawberry.enum
class ShareMode(Enum):
    EXCHANGE = "exchange"
    INTERFACE = "interface"
    DATABASE = "database"


@strawberry.enum
class UpdateCycle(Enum):
    REALTIME = "realtime"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half_yearly"
    YEARLY = "yearly"


@strawberry.enum
class ResourceStatus(Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"
    RETIRED = "retired"


@strawberry.type(description="A text in every language the platform keeps (zh always present).")
class LocalizedText:
    zh: str
    ug: str | None
    kk: str | None
    en: str | None


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def localized(row: Any, prefix: str) -> LocalizedText:
    return LocalizedText(zh=row[f"{prefix}_zh"], ug=row[f"{prefix}_ug"], kk=row[f"{prefix}_kk"],
                         en=row[f"{prefix}_en"])


def in_language(row: Any, prefix: str, lang: str) -> str:
    return str(row[f"{prefix}_{lang}"] or row[f"{prefix}_zh"])


def values(items: list[Any] | None) -> list[str] | None:
    return [item.value for item in items] if items else None
