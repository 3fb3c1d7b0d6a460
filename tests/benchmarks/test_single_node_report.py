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


def test_with_workers_each_server_is_set_against_itself_with_one_process() -> None:
    scenario = single_node.scenarios("650100200001010011", "650000-B01-000001")[0]
    single = ["govshare", "postgraphile", "raw"]
    scaled = ["govshare x2", "postgraphile x2", "raw x2"]
    rps = {"govshare": 100.0, "postgraphile": 200.0, "raw": 400.0,
           "govshare x2": 170.0, "postgraphile x2": 300.0, "raw x2": 440.0}
    table = {(scenario.key, server, c): [measure.Result(1.0, 2.0, rps[server] * (i + 1), 1000, cpu_ms=1000.0)]
             for server in single + scaled for i, c in enumerate(scenario.levels)}
    text = single_node.report([scenario], table, 2, 1, single + scaled)
    assert ("| one_row | 170 / 340 / 510 | 1.70x / 1.70x / 1.70x | 300 / 600 / 900 | 1.50x / 1.50x / 1.50x "
            "| 440 / 880 / 1320 | 1.10x / 1.10x / 1.10x |") in text
    # the first table has one process of each server only
    assert "| one population row by key (granted fields) | 100 / 200 / 300 | 200 / 400 / 600 | 400 / 800 / 1200 |" \
        in text
