"""The single-node report: requests/s and CPU per request by server, server and PostgreSQL CPU together,
and how busy the machine was."""

from __future__ import annotations

from benchmarks import measure, single_node


def test_the_report_adds_the_databases_cpu_and_the_load_average() -> None:
    scenario = single_node.scenarios("650100200001010011", "650000-B01-000001")[0]
    names = ["govshare", "postgraphile", "raw"]
    table = {(scenario.key, server, c): [measure.Result(1.0, 2.0, 100.0 * (n + 1), 1000, cpu_ms=1000.0 * (n + 1),
                                                        db_cpu_ms=500.0)]
             for n, server in enumerate(names) for c in scenario.levels}
    text = single_node.report([scenario], table, 2, 1, names, [3.0, 5.5, 4.0])
    assert "| one population row by key (granted fields) | 100 / 100 / 100 | 200 / 200 / 200 | 300 / 300 / 300 |" in text
    # 1000 ms of server CPU over 1000 requests is 1 ms each, PostgreSQL's 500 ms 0.5 ms each
    assert "| one_row | 1.50-1.50 | 2.50-2.50 | 3.50-3.50 |" in text
    assert "1-minute load average after each run: 3.0-5.5 (median 4.0)" in text
