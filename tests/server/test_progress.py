"""Progress lines: steps with the elapsed time, a seeding meter that counts what was really written."""

from __future__ import annotations

import io
import re

from govshare.server.progress import SeedMeter, Steps


def test_steps_print_the_elapsed_time() -> None:
    out = io.StringIO()
    Steps(out).step("migrating 3 node databases")
    assert re.fullmatch(r"\[ +\d+\.\d s\] migrating 3 node databases\n", out.getvalue())


def test_the_meter_counts_rows_per_tracked_table_and_draws_at_its_interval() -> None:
    out = io.StringIO()
    meter = SeedMeter(Steps(out), {"persons": 1000, "entities": 100, "resources": 100}, interval=0.0)
    meter("departments", 40)
    meter("population", 500)
    meter("legal_entities", 100)
    meter("business_licences", 100)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # not a terminal: one line per draw, none redrawn in place
    assert lines[-1].endswith("[##########          ]  50%  500/1,000 persons, 100/100 entities, "
                              "0/100 resources  (740 rows)")
    quiet = io.StringIO()
    slow = SeedMeter(Steps(quiet), {"persons": 10}, interval=3600)
    slow("population", 10)
    slow.finish()
    assert quiet.getvalue() == ""  # nothing drawn before the interval; the summary line follows the seed
