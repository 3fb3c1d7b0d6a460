"""The federated catalog page's report: govshare against the raw fan-out at each connection count."""

from __future__ import annotations

from benchmarks import measure
from benchmarks.__main__ import report


def test_the_report_gives_each_variants_cpu_and_the_databases_and_p50_against_raw() -> None:
    table = {("govshare", 1): [measure.Result(4.0, 9.0, 250.0, 500, cpu_ms=1500.0, db_cpu_ms=1000.0),
                               measure.Result(5.0, 9.0, 200.0, 400, cpu_ms=1200.0, db_cpu_ms=800.0),
                               measure.Result(6.0, 9.0, 150.0, 300, cpu_ms=900.0, db_cpu_ms=600.0)],
             ("raw", 1): [measure.Result(3.0, 7.0, 300.0, 600, cpu_ms=1200.0, db_cpu_ms=1200.0)]}
    text = report("Catalog page", table, [1], [2.0, 6.5, 3.0])
    # medians over rounds; 3 ms of server CPU and 2 ms of PostgreSQL's per request; p50 5.0 against 3.0
    assert "| govshare | 1 | 5.0 | 9.0 | 200 | 3.00 | 2.00 | 1.67x |" in text
    assert "| raw | 1 | 3.0 | 7.0 | 300 | 2.00 | 2.00 | 1.00x |" in text
    assert "1-minute load average after each run: 2.0-6.5 (median 3.0)" in text
