"""Checks of administrative input against the catalog, before anything is stored.

One implementation for the GraphQL mutations, the ``govshare grant|policy`` commands and the
share-request workflow. Every refusal is a BadRequest (``BAD_USER_INPUT``) whose extensions name the
``field`` and, where there is a closed set, the ``accepted`` values.

Grant validity is given in calendar days of China Standard Time (UTC+8): ``valid_from`` starts at
00:00 CST of its day, ``valid_until`` includes that whole day (the grant ends at 00:00 CST of the next).
A grant starts today or later (a backdated one would make reads before it existed look authorised, in
``policyAt`` and to an auditor) and ends within MAX_VALIDITY_YEARS of today (a purpose-bound grant is
renewed, not made for ever: a longer need is a new request, reviewed again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

from govshare.core.dates import day_out_of_range
from govshare.core.errors import BadRequest, Forbidden
from govshare.core.identifiers import KeyFault, canonical_key, key_fault
from govshare.federation.nodes import NodePools
from govshare.policies.authority import Action, Authority
from govshare.policies.grants import normalise_purpose
from govshare.policies.groups import department_facts
from govshare.policies.rules import SHARE_CLASSES

from . import catalog, hosting
from .groups import existing_departments

CST = timezone(timedelta(hours=8), "CST")
MAX_PURPOSE = 500
MAX_ITEMS = 200
MAX_VALIDITY_YEARS = 5  # our choice: the specification and the seed name no longest validity
SCOPE_ITEM = "division_code"
# A node's catalog is trusted only about its own database: an entry naming another node or provider, or a
# department row naming another node, is unknown here as in the catalog (catalog.HOSTED_LOOKUP,
# HOSTED_DEPARTMENTS).
SELECT_RESOURCE = f"""select code, node_code, status, provider_code, data_table, share_modes from resources
    where code = $1 and {catalog.HOSTED_LOOKUP.format(2)}"""
SELECT_SECTOR = f"""select level, node_code, sector from departments
    where code = $1 and {catalog.HOSTED_DEPARTMENTS.format('$2', '$3')}"""
SHARE_MODES = ("exchange", "interface", "database")  # seed §5.2: data exchange, interface service, database access
SELECT_ITEMS = """select name, share_class, share_condition, legal_basis, is_key from data_items
    where resource_code = $1 order by position"""
INVALID_KEY = "INVALID_KEY"


@dataclass(frozen=True)
class CatalogItem:
    name: str
    share_class: str
    condition: str | None
    legal_basis: str | None


@dataclass(frozen=True)
class CatalogResource:
    code: str
    node: str
    status: str
    provider: str
    has_data: bool
    items: dict[str, CatalogItem]
    share_modes: tuple[str, ...] = ()
    key: str | None = None  # the item naming a row (as resolvers/specs.py: the first marked, else the first)


async def resource(pools: NodePools, code: str, field: str = "resource") -> CatalogResource:
    """The resource with its items as the catalog serves it (``resource(code:)``), for grants, rules, share
    requests, objections, reclassification and explain: read from the database hosting its code's node, with
    the catalog's own-database filter (HOSTED_LOOKUP) in SQL and again in the service (resolvers/hosting.py:
    that server evaluates the SQL). Its node, the domain of every authority over it, is its code's.
    BAD_USER_INPUT when the catalog does not serve it."""
    topology = pools.topology
    node = hosting.node_of(code)
    if node is None or node not in topology.by_code:
        raise BadRequest(f"unknown resource {code!r}: resource codes start with a node code and '-'", field=field)
    database = topology.node(node).database_node
    rows = hosting.own_rows(topology, database, await pools.fetch(database, "validate.resource", SELECT_RESOURCE,
                                                                 code, list(topology.hosted_on(database))),
                            "resource", provider="provider_code")
    row = next((r for r in rows if r["code"] == code), None)
    if row is None:
        raise BadRequest(f"unknown resource {code!r}", field=field)
    items = await pools.fetch(database, "validate.items", SELECT_ITEMS, code)
    return CatalogResource(row["code"], node, row["status"], row["provider_code"],
                           row["data_table"] is not None,
                           {i["name"]: CatalogItem(i["name"], i["share_class"], i["share_condition"],
                                                   i["legal_basis"]) for i in items},
                           tuple(row["share_modes"] or ()),
                           next((i["name"] for i in items if i["is_key"]), items[0]["name"] if items else None))


def item(found: CatalogResource, name: str, field: str = "item") -> CatalogItem:
    if name not in found.items:
        names = list(found.items)
        raise BadRequest(f"resource {found.code} has no item {name!r}; its items: {', '.join(names)}",
                         field=field, accepted=names)
    return found.items[name]


async def department(pools: NodePools, code: str, field: str = "department") -> str:
    if not code or code[:6] not in pools.topology.by_code or code not in await existing_departments(pools, [code]):
        raise BadRequest(f"unknown department {code!r}", field=field)
    return code


def record_key(found: CatalogResource, text: str, field: str = "key") -> str:
    """A key naming a row of ``found``, in the register's spelling: a citizen ID or credit code must be well
    formed with the right check character (the check verify makes), else it names nobody."""
    if found.key is None:
        return text
    fault = key_fault(found.key, text)
    if fault is not None:
        raise invalid_key_error(found.key, fault, field)
    return canonical_key(found.key, text)


def invalid_key_error(item: str, fault: KeyFault, field: str | None = None) -> BadRequest:
    """The refusal of a key that names nobody (verify, raiseObjection): which standard, and why."""
    extensions = {"field": field} if field is not None else {}
    return BadRequest(f"the key is not a valid {item} ({fault.standard}: {fault.why})", reason=INVALID_KEY,
                      item=item, standard=fault.standard, fault=fault.fault, **extensions)


def share_class(value: str, field: str = "shareClass") -> str:
    if value not in SHARE_CLASSES:
        raise BadRequest(f"{field} {value!r} is not one of {', '.join(SHARE_CLASSES)}", field=field,
                         accepted=list(SHARE_CLASSES))
    return value


def divisions(pools: NodePools, codes: list[str] | None, found: CatalogResource, field: str = "divisions"
              ) -> list[str] | None:
    """A row scope: existing division codes (the platform's region and prefectures), on a resource
    whose rows carry a division code."""
    if codes is None:
        return None
    known = [n.code for n in pools.topology.nodes]
    chosen = sorted(set(codes))
    unknown = [c for c in chosen if c not in known]
    if not chosen or unknown:
        raise BadRequest(f"unknown division code(s): {', '.join(unknown) or '(none given)'}", field=field,
                         accepted=known)
    if SCOPE_ITEM not in found.items:
        raise BadRequest(f"resource {found.code} has no {SCOPE_ITEM} item, so a row scope cannot apply",
                         field=field)
    return chosen


def calendar_day(text: str | date, field: str) -> date:
    if isinstance(text, date):
        day = text
    else:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError as exc:
            raise BadRequest(f"{field} {text!r} is not an ISO date (YYYY-MM-DD, a calendar day in China Standard "
                             "Time)",
                             field=field) from exc
    refusal = day_out_of_range(day)  # the rule the Date and DateTime scalars apply (core/dates.py)
    if refusal is not None:
        # the scalars' sentence ("It must lie ...") continued after a colon
        raise BadRequest(f"{field} {day}: {refusal[:1].lower()}{refusal[1:]}", field=field)
    return day


def latest_until(today: date) -> date:
    """The last day a grant made ``today`` may include: MAX_VALIDITY_YEARS on (29 February: the 28th)."""
    year = today.year + MAX_VALIDITY_YEARS
    return today.replace(year=year, day=28) if (today.month, today.day) == (2, 29) else today.replace(year=year)


def _today(now: datetime | None) -> date:
    return (now or datetime.now(UTC)).astimezone(CST).date()


def clipped_until(until: date, now: datetime | None = None) -> date:
    """``until``, or the latest day a grant made ``now`` may include (latest_until) when ``until`` is past it.

    For an approval that takes the requested validity as it is: a request checked by validity() when it was
    submitted stays within the latest day (which only moves later), but one stored before the 5-year rule
    (or under a clock that was ahead) may not. The reviewer did not choose that day, so the grant is made as
    long as allowed, and the approval says so, rather than refused for a date nobody typed."""
    return min(until, latest_until(_today(now)))


def validity(valid_from: str | date | None, until: str | date, now: datetime | None = None
             ) -> tuple[datetime, datetime]:
    """[start, end) of a grant valid from the start of ``valid_from`` to the end of ``until``, in CST."""
    today = _today(now)
    first = calendar_day(valid_from, "from") if valid_from is not None else today
    last = calendar_day(until, "until")
    if last < first:
        raise BadRequest(f"until ({last}) is before from ({first}): the range must not be empty", field="until")
    if first < today:
        raise BadRequest(f"from ({first}) is in the past (today is {today} in China Standard Time): a grant "
                         "cannot be backdated", field="from")
    if last < today:
        raise BadRequest(f"until ({last}) is in the past (today is {today} in China Standard Time)", field="until")
    latest = latest_until(today)
    if last > latest:
        raise BadRequest(f"until ({last}) is more than {MAX_VALIDITY_YEARS} years away: a grant may last until "
                         f"{latest} at the latest (renew it by a new request when it ends)", field="until",
                         latest=latest.isoformat())
    start = datetime.combine(first, time(0), CST)
    end = datetime.combine(last + timedelta(days=1), time(0), CST)
    return start, end


def purpose(text: str | None) -> str:
    value = normalise_purpose(text)
    if value is None or len(value) > MAX_PURPOSE or "\x00" in value:
        raise BadRequest(f"purpose must be 1 to {MAX_PURPOSE} characters of text", field="purpose")
    return value


@dataclass(frozen=True)
class GrantInput:
    department: str
    resource: str
    items: list[str]
    purpose: str
    until: str | date
    valid_from: str | date | None = None
    divisions: list[str] | None = None
    share_modes: tuple[str, ...] = ("interface",)


@dataclass(frozen=True)
class CheckedGrant:
    department: str
    resource: CatalogResource
    items: list[str]
    purpose: str
    valid_from: datetime
    valid_until: datetime
    divisions: list[str] | None
    share_modes: tuple[str, ...] = ("interface",)
    sector: str = "government"  # the grantee's: an institution's grant needs the region's approval too


async def grant(pools: NodePools, given: GrantInput, now: datetime | None = None) -> CheckedGrant:
    """A grant may open only CONDITIONAL items of a published resource, for an existing department."""
    start, end = validity(given.valid_from, given.until, now)  # local checks before any lookup
    chosen_purpose = purpose(given.purpose)
    found = await resource(pools, given.resource)
    if found.status != "published":
        raise BadRequest(f"resource {found.code} is {found.status}: grants only for published resources",
                         field="resource")
    names = sorted(set(given.items))
    if not names or len(names) > MAX_ITEMS:
        raise BadRequest(f"items: 1 to {MAX_ITEMS} item names", field="items")
    for name in names:
        known = item(found, name, "items")
        if known.share_class == "NOT_SHARED":
            raise BadRequest(f"item {name} is NOT_SHARED ({known.legal_basis}): no grant can open it",
                             field="items", item=name, shareClass=known.share_class)
        if known.share_class != "CONDITIONAL":
            raise BadRequest(f"item {name} is {known.share_class}: it needs no grant (grants are for "
                             "CONDITIONAL items)", field="items", item=name, shareClass=known.share_class)
    modes = share_modes(given.share_modes, found)
    grantee = await department(pools, given.department)
    return CheckedGrant(grantee, found, names, chosen_purpose, start, end, divisions(pools, given.divisions, found),
                        modes, await sector(pools, grantee))


def share_modes(given: tuple[str, ...] | list[str], found: CatalogResource) -> tuple[str, ...]:
    """Share modes of a grant: known ones, each offered by the resource's catalog entry."""
    modes = tuple(dict.fromkeys(given))
    if not modes or any(m not in SHARE_MODES for m in modes):
        raise BadRequest(f"shareModes: one or more of {', '.join(SHARE_MODES)}", field="shareModes",
                         accepted=list(SHARE_MODES))
    missing = [m for m in modes if m not in found.share_modes]
    if missing:
        raise BadRequest(f"resource {found.code} does not offer {', '.join(missing)}", field="shareModes",
                         accepted=list(found.share_modes))
    return modes


async def sector(pools: NodePools, code: str) -> str:
    """government or institution (outside government, seed §2.2), as the access rules see it
    (policies.groups.department_facts): an institution when its code (<node>-JG-<kind>) or its row, read from
    the database serving it, says so, so that a node's row cannot spare its institution the region's
    approval (nor a missing row)."""
    database = pools.topology.node(code[:6]).database_node
    rows = await pools.fetch(database, "validate.sector", SELECT_SECTOR, code,
                             *catalog.hosted_nodes_and_prefixes(pools, database))
    row = rows[0] if rows else None
    return department_facts(code, pools.topology.region.code, *((row["level"], row["node_code"], row["sector"])
                                                                 if row is not None else ())).sector


def authorise(authority: Authority, checked: CheckedGrant, action: Action = Action.GRANT_WRITE) -> str | None:
    """Who may make the grant: ``action`` in the domain of the resource's node; for an institution outside
    government also in the region's (a prefecture's platform alone may not connect one, seed §2.2).
    Returns the user who approves for the region (None for a government grantee)."""
    authority.require(action, checked.resource.node)
    if checked.sector != "institution":
        return None
    if not authority.allows(action, authority.region):
        roles = authority.model.roles_for(action)
        raise Forbidden(f"{checked.department} is an institution outside government: its grants need the approval of "
                        f"the region's sharing authority ({action.value} in domain {authority.region}) besides "
                        "the provider's", action=action.value, domain=authority.region, requiredRoles=roles,
                        reason="REGION_APPROVAL_REQUIRED")
    return authority.user
