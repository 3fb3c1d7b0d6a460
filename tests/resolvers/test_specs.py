"""Classification authority on catalog entries as nodes state them (no database needed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from govshare.federation.topology import Topology
from govshare.resolvers.specs import DataItemSpec, DataResourceSpec, authorise

TOPOLOGY = Topology.load(Path(__file__).resolve().parents[1] / "topology.toml")
TITLES: dict[str, str | None] = {"zh": "项", "ug": None, "kk": None, "en": "item"}


def item(name: str, share_class: str, *, key: bool = False) -> DataItemSpec:
    return DataItemSpec(name, "string", share_class, "condition" if share_class == "CONDITIONAL" else None,
                        "law" if share_class == "NOT_SHARED" else None, key, TITLES)


def resource(code: str, api: str, scope: str, *items: DataItemSpec, table: str = "population") -> DataResourceSpec:
    node = code[:6]
    return DataResourceSpec(code, node, api, table, scope, f"{node}-GA", {"zh": api}, api, items)


REGION = resource("650000-B01-000001", "population", "all_nodes", item("citizen_id", "CONDITIONAL", key=True),
                  item("name", "UNCONDITIONAL"), item("phone", "CONDITIONAL"),
                  item("biometric_template_id", "NOT_SHARED"))
# A prefecture declassifying the region's register, and claiming every node's rows.
ROGUE = resource("650100-B01-990001", "everyone", "all_nodes", item("citizen_id", "UNCONDITIONAL", key=True),
                 item("name", "UNCONDITIONAL"), item("phone", "UNCONDITIONAL"),
                 item("biometric_template_id", "UNCONDITIONAL"), item("household_type", "UNCONDITIONAL"))


def classes(spec: DataResourceSpec) -> dict[str, str]:
    return {i.name: i.share_class for i in spec.items}


def by_code(specs: tuple[DataResourceSpec, ...]) -> dict[str, DataResourceSpec]:
    return {s.code: s for s in specs}


def test_a_prefecture_cannot_widen_reach_nor_loosen_the_regions_classes() -> None:
    result = authorise(TOPOLOGY, {"650000": [REGION], "650100": [ROGUE], "650200": []})
    specs = by_code(result.specs)
    assert specs[REGION.code] == REGION, "the authority's own entry is served as stated"
    rogue = specs[ROGUE.code]
    assert rogue.scope == "provider"
    assert classes(rogue) == {"citizen_id": "CONDITIONAL", "name": "UNCONDITIONAL", "phone": "CONDITIONAL",
                              "biometric_template_id": "NOT_SHARED",
                              # not classified by the register's owner: nobody else may classify it
                              "household_type": "NOT_SHARED"}
    assert rogue.item("biometric_template_id").legal_basis == "law"
    assert rogue.item("phone").condition == "condition"
    kinds = {(f.kind, f.column) for f in result.findings}
    assert {("scope_narrowed", None), ("class_conflict", "citizen_id"), ("class_conflict", "phone"),
            ("class_conflict", "biometric_template_id"), ("unclassified_by_owner", "household_type")} <= kinds
    conflict = next(f for f in result.findings if f.column == "biometric_template_id")
    assert conflict.applied == "NOT_SHARED"
    assert dict(conflict.classes) == {REGION.code: "NOT_SHARED", ROGUE.code: "UNCONDITIONAL"}
    assert conflict.as_json()["table"] == "population"


def test_a_hosted_prefecture_in_the_region_database_cannot_claim_every_node() -> None:
    hosted = replace(ROGUE, code="654300-B01-990001", node="654300", provider="654300-GA")
    result = authorise(TOPOLOGY, {"650000": [REGION, hosted], "650100": [], "650200": []})
    served = by_code(result.specs)[hosted.code]
    assert served.scope == "provider" and served.node == "654300"
    assert classes(served)["biometric_template_id"] == "NOT_SHARED"


@pytest.mark.parametrize("database, spec", [
    ("650100", resource("650000-B01-990001", "fake", "all_nodes", item("name", "UNCONDITIONAL"))),  # region's node
    ("650100", resource("654300-B01-990001", "fake", "provider", item("name", "UNCONDITIONAL"))),  # not hosted there
    ("650100", replace(ROGUE, code="650000-B01-990009")),                               # another node's code
    ("650100", replace(ROGUE, provider="650000-GA")),                                   # another node's provider
])
def test_entries_naming_another_nodes_rows_are_refused(database: str, spec: DataResourceSpec) -> None:
    result = authorise(TOPOLOGY, {"650000": [REGION], database: [spec]})
    assert spec.code not in by_code(result.specs)
    assert [f.kind for f in result.findings if f.resource == spec.code] == ["entry_refused"]


def test_looser_entries_on_the_same_table_never_loosen_and_the_strictest_applies() -> None:
    # Two entries of one self-hosted node on one of its own tables (no region register): strictest wins,
    # whichever order they come in.
    strict = resource("650100-D01-000001", "strict", "provider", item("record_no", "UNCONDITIONAL", key=True),
                      item("contact", "NOT_SHARED"), table="local_register")
    loose = resource("650100-D01-000002", "loose", "provider", item("record_no", "UNCONDITIONAL", key=True),
                     item("contact", "UNCONDITIONAL"), table="local_register")
    for order in ([strict, loose], [loose, strict]):
        result = authorise(TOPOLOGY, {"650000": [], "650100": order})
        assert {s.code: classes(s)["contact"] for s in result.specs} == {strict.code: "NOT_SHARED",
                                                                       loose.code: "NOT_SHARED"}
        assert [f.column for f in result.findings if f.kind == "class_conflict"] == ["contact"]
    # The same table name in another database is another register: no conflict, no clamping.
    other = replace(loose, code="650200-D01-000002", node="650200", provider="650200-GA")
    result = authorise(TOPOLOGY, {"650000": [], "650100": [strict], "650200": [other]})
    assert classes(by_code(result.specs)[other.code])["contact"] == "UNCONDITIONAL"
    assert result.findings == ()


def test_a_region_entry_never_loosens_a_stricter_region_entry() -> None:
    looser = replace(REGION, code="650000-B01-000009", api_name="population2",
                     items=tuple(replace(i, share_class="UNCONDITIONAL", condition=None, legal_basis=None)
                                 for i in REGION.items))
    result = authorise(TOPOLOGY, {"650000": [looser, REGION]})
    assert classes(by_code(result.specs)[looser.code]) == classes(REGION)


def test_without_the_region_catalog_no_other_entry_is_served() -> None:
    result = authorise(TOPOLOGY, {"650100": [ROGUE]})
    assert result.specs == ()
    assert [f.kind for f in result.findings] == ["scope_narrowed", "entry_refused"]


def test_the_region_keeps_its_api_names() -> None:
    squatter = replace(ROGUE, api_name="population")
    result = authorise(TOPOLOGY, {"650000": [REGION], "650100": [squatter]})
    assert [s.code for s in result.specs] == [REGION.code]
    assert "api_name_taken" in {f.kind for f in result.findings}


def test_a_hosted_node_keeps_its_api_name_against_a_prefecture_database_sorting_before_it() -> None:
    """Altay (654300) is hosted in the region's database; 650200's database publishes an entry with Altay's api
    name and a code sorting before Altay's. Before: ordered by code alone, 650200's entry took the name."""
    def licences(code: str) -> DataResourceSpec:
        return resource(code, "altayLicences", "provider", item("licence_no", "UNCONDITIONAL", key=True),
                        item("holder", "UNCONDITIONAL"), table="licences")

    altay, squatter = licences("654300-B01-000001"), licences("650200-B01-990001")
    for claims in (None, {}, {"altayLicences": altay.code}):
        result = authorise(TOPOLOGY, {"650000": [REGION, altay], "650100": [], "650200": [squatter]}, claims)
        assert [s.code for s in result.specs if s.api_name == "altayLicences"] == [altay.code]
        assert [(f.kind, f.resource, f.database) for f in result.findings if f.kind == "api_name_taken"] == [
            ("api_name_taken", squatter.code, "650200")]
    # A name 650200's entry claimed first (before Altay published it) stays 650200's: claims still decide
    # between the region's hosted nodes and prefectures; only the region node's own entries override them.
    result = authorise(TOPOLOGY, {"650000": [REGION, altay], "650100": [], "650200": [squatter]},
                       {"altayLicences": squatter.code})
    assert [s.code for s in result.specs if s.api_name == "altayLicences"] == [squatter.code]


@pytest.mark.parametrize("entry", [
    replace(REGION, code="650000-D90-000001", api_name="auditTrail", table="audit_log"),
    replace(REGION, code="650000-D90-000002", api_name="notARegister", table="population_view", register=False),
])
def test_platform_tables_and_non_registers_are_refused(entry: DataResourceSpec) -> None:
    result = authorise(TOPOLOGY, {"650000": [REGION, entry]})
    assert [s.code for s in result.specs] == [REGION.code]
    assert [(f.kind, f.resource) for f in result.findings] == [("entry_refused", entry.code)]
