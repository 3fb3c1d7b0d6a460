"""Access rules (rows ``p`` of the ``policy_rules`` table) as values: their vocabulary, the checks a
stored row must pass to be loaded, and which requests a rule matches.

A rule: ``p, subject, resource, item, share class, action, grant state, effect``.
* subject: ``*``, a department code, or a department group: ``kind:MZ`` (every civil-affairs bureau),
  ``level:county``, ``node:650100``, ``sector:institution`` (computed from the catalog) or ``group:<name>``
  (named by admins);
* resource and item: a code / name, or a keyMatch pattern with ``*`` (``650100-*``, ``*``);
* share class, action, grant state: one of their values or ``*``; effect: ``allow`` or ``deny``.
Deny wins; no matching allow means deny.

``rule_matches`` is the matcher of ``model.conf`` written out for one rule (explain and preview use it;
tests/policies check it gives Casbin's answer on every row of a truth table).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from casbin.util import key_match

from .grants import GrantState

EFFECTS = ("allow", "deny")
ACTIONS = ("read", "verify")
SHARE_CLASSES = ("UNCONDITIONAL", "CONDITIONAL", "NOT_SHARED")
GRANT_STATES = tuple(s.value for s in GrantState)
LEVELS = ("region", "prefecture", "county")
SECTORS = ("government", "institution")  # institutions outside government (migration 0023)
GROUP_PREFIXES = ("kind", "level", "node", "group")

DEPARTMENT_CODE = re.compile(r"[0-9]{6}(-[A-Z0-9]{1,8}){1,3}")
GROUP_NAME = re.compile(r"[a-z][a-z0-9_-]{1,62}")
KIND = re.compile(r"[A-Z]{1,8}")
NODE = re.compile(r"[0-9]{6}")
RESOURCE_PATTERN = re.compile(r"[0-9A-Z*][0-9A-Z*-]{0,63}")
ITEM_PATTERN = re.compile(r"[a-z*][a-z0-9_*]{0,62}")


@dataclass(frozen=True)
class Rule:
    subject: str
    resource: str
    item: str
    share_class: str
    action: str
    grant: str
    effect: str
    id: int | None = None

    def values(self) -> list[str]:
        return [self.subject, self.resource, self.item, self.share_class, self.action, self.grant, self.effect]

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "subject": self.subject, "resource": self.resource, "item": self.item,
                "shareClass": self.share_class, "action": self.action, "grantState": self.grant,
                "effect": self.effect}

    def same_as(self, other: Rule) -> bool:
        return self.values() == other.values()


def rule_from(values: list[str], rule_id: int | None = None) -> Rule:
    """A rule from its seven values (missing ones empty)."""
    v = [*values, *[""] * 7][:7]
    return Rule(v[0], v[1], v[2], v[3], v[4], v[5], v[6], rule_id)


def subject_problem(subject: str) -> str | None:
    """Why ``subject`` is not a well-formed rule subject (None when it is)."""
    if subject == "*" or DEPARTMENT_CODE.fullmatch(subject):
        return None
    prefix, _, name = subject.partition(":")
    if prefix == "kind" and KIND.fullmatch(name):
        return None
    if prefix == "level" and name in LEVELS:
        return None
    if prefix == "node" and NODE.fullmatch(name):
        return None
    if prefix == "group" and GROUP_NAME.fullmatch(name):
        return None
    if prefix == "sector" and name in SECTORS:
        return None
    return (f"subject {subject!r} is not '*', a department code (650100-MZ), or a group "
            f"(kind:MZ, level:{'|'.join(LEVELS)}, node:650100, sector:{'|'.join(SECTORS)}, group:<name>)")


def shape_problems(rule: Rule) -> list[tuple[str, str, list[str] | None]]:
    """(field, problem, accepted values) for every malformed field of ``rule``."""
    problems: list[tuple[str, str, list[str] | None]] = []
    if (problem := subject_problem(rule.subject)) is not None:
        problems.append(("subject", problem, None))
    if not RESOURCE_PATTERN.fullmatch(rule.resource):
        problems.append(("resource", f"resource {rule.resource!r} is not a resource code or a pattern with *",
                         None))
    if not ITEM_PATTERN.fullmatch(rule.item):
        problems.append(("item", f"item {rule.item!r} is not an item name or a pattern with *", None))
    for field, value, accepted in (("shareClass", rule.share_class, SHARE_CLASSES),
                                   ("action", rule.action, ACTIONS), ("grantState", rule.grant, GRANT_STATES)):
        if value != "*" and value not in accepted:
            problems.append((field, f"{field} {value!r} is not one of *, {', '.join(accepted)}", ["*", *accepted]))
    if rule.effect not in EFFECTS:
        problems.append(("effect", f"effect {rule.effect!r} is not one of {', '.join(EFFECTS)}", list(EFFECTS)))
    return problems


@dataclass(frozen=True)
class SkippedRule:
    id: int
    problem: str


def loadable(rule_id: int, ptype: str, values: list[str]) -> Rule | SkippedRule:
    """A stored row as a rule that can be enforced, or why it is skipped.

    Fail closed: a malformed allow is skipped (it opens nothing); a deny whose class, action or grant
    state is malformed is widened to ``*`` there (it closes more, never less); a deny whose subject,
    resource or item is malformed cannot be placed and is reported like any other skipped row.
    """
    if ptype != "p":
        return SkippedRule(rule_id, f"ptype {ptype!r} is not 'p'")
    if len(values) != 7:
        return SkippedRule(rule_id, f"a rule has 7 values, this row has {len(values)}")
    rule = rule_from(values, rule_id)
    problems = shape_problems(rule)
    if not problems:
        return rule
    if rule.effect == "deny" and all(field in ("shareClass", "action", "grantState") for field, _, _ in problems):
        widened = {field: "*" for field, _, _ in problems}
        return Rule(rule.subject, rule.resource, rule.item, widened.get("shareClass", rule.share_class),
                    widened.get("action", rule.action), widened.get("grantState", rule.grant), "deny", rule_id)
    return SkippedRule(rule_id, "; ".join(problem for _, problem, _ in problems))


Groups = Callable[[str], frozenset[str]]


def rule_matches(rule: Rule, groups: Groups, department: str, resource: str, item: str, share_class: str,
                 action: str, grant: str) -> bool:
    """The matcher of model.conf for one rule (same operators, same keyMatch)."""
    return ((rule.subject == "*" or rule.subject == department or rule.subject in groups(department))
            and key_match(resource, rule.resource) and key_match(item, rule.item)
            and (rule.share_class == "*" or rule.share_class == share_class)
            and (rule.action == "*" or rule.action == action)
            and (rule.grant == "*" or rule.grant == grant))


def admin_domain(rule: Rule, region: str) -> str:
    """The node whose admins own a rule: its resource's node, the region for patterns across nodes."""
    head = rule.resource.split("*", 1)[0]
    return head[:6] if len(head) >= 6 and NODE.fullmatch(head[:6]) else region
