"""The benchmark's answer comparison: equal rows in different shapes agree, any difference stops the run."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from benchmarks.answers import AnswersDiffer, compare
from benchmarks.single_node import scenarios

ROW = {"citizenId": "650100196102245097", "name": "玉素甫·古丽", "sex": "男", "birthDate": "1961-02-24",
       "ethnicity": "维吾尔族", "address": "乌鲁木齐市团结路875号", "divisionCode": "650100", "phone": None,
       "householdType": "农业家庭户口", "registeredOn": "1961-03-18"}
RESOURCE = {"code": "650100-D11-000001", "name": "乌鲁木齐市行政许可信息",
            "provider": {"code": "650100-SJ", "name": "乌鲁木齐市市场监督管理局"},
            "dataItems": [{"name": "record_no", "shareClass": "UNCONDITIONAL"},
                          {"name": "subject_name", "shareClass": "CONDITIONAL"}]}
PG_RESOURCE = {"code": RESOURCE["code"], "nameZh": RESOURCE["name"],
               "departmentByProviderCode": {"code": "650100-SJ", "nameZh": "乌鲁木齐市市场监督管理局"},
               "dataItemsByResourceCode": {"nodes": RESOURCE["dataItems"]}}


def by_key() -> dict[str, Any]:
    return {s.key: s for s in scenarios(ROW["citizenId"], RESOURCE["code"])}


def one_row_answers() -> dict[str, dict[str, Any]]:
    return {"govshare": {"data": {"population": {"nodes": [dict(ROW)]}}},
            # key order differs: the canonical form sorts keys
            "postgraphile": {"data": {"populationByCitizenId": dict(reversed(list(ROW.items())))}},
            "raw": {"data": {"population": {"nodes": [dict(ROW)]}}}}


def page_answers() -> dict[str, dict[str, Any]]:
    edges = {"data": {"resources": {"edges": [{"node": RESOURCE}]}}}
    return {"govshare": copy.deepcopy(edges), "postgraphile": {"data": {"allResources": {"nodes": [PG_RESOURCE]}}},
            "raw": copy.deepcopy(edges)}


def test_same_rows_in_each_servers_shape_agree() -> None:
    scenario = by_key()
    assert b"650100196102245097" in compare(one_row_answers(), scenario["one_row"].extract)
    assert "乌鲁木齐市行政许可信息".encode() in compare(page_answers(), scenario["page"].extract)


@pytest.mark.parametrize("change", ["value", "missing field", "order", "errors"])
def test_any_difference_stops_the_run(change: str) -> None:
    answers = page_answers()
    nodes = answers["postgraphile"]["data"]["allResources"]["nodes"]
    nodes[0] = copy.deepcopy(nodes[0])
    items = nodes[0]["dataItemsByResourceCode"]["nodes"]
    if change == "value":
        items[1]["shareClass"] = "UNCONDITIONAL"
    elif change == "missing field":
        del items[0]["shareClass"]
    elif change == "order":
        items.reverse()
    else:
        answers["raw"]["errors"] = [{"message": "boom"}]
    with pytest.raises(AnswersDiffer):
        compare(answers, by_key()["page"].extract)
