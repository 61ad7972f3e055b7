"""scenarios/world.yaml: the provinces scenario validates, runs small, and uses every reported figure.

Its speed (10,000 replicates) is measured by `benchmarks/world.py`, not here; this runs 20.
(`tests/test_cli.py` also validates and runs it, with every shipped scenario.)
"""

from __future__ import annotations

import flowsim

from .conftest import ROOT

WORLD = ROOT / "scenarios/world.yaml"
PROVINCES = {"iraq_syria", "libya", "khorasan", "west_africa", "sinai", "yemen", "somalia"}


def test_world_validates_and_every_reported_row_is_used(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("validate", WORLD)
    assert result.exit_code == 0, result.output
    loaded = flowsim.load(WORLD)
    assert set(loaded.scenario.regions) == PROVINCES | {"home"}
    assert loaded.notes == [], loaded.notes  # no row of reported-world.csv skipped (region, flow or date)
    stocks = {str(o.region) for o in loaded.observations if o.region}
    assert stocks == PROVINCES, "every province has at least one reported figure"
    assert {str(o.flow) for o in loaded.observations if o.flow} >= {"foreign_is", "return_is"}
    assert all(o.source for o in loaded.observations)


def test_world_runs_small_and_home_only_collects() -> None:
    res = flowsim.run(WORLD, replicates=20, workers=1)
    summary = res.summary
    assert summary is not None and set(summary["region"]) == PROVINCES | {"home"}
    home = summary[summary["region"] == "home"].sort_values("date")["mean"].to_numpy()
    assert home[0] == 0 and (home[1:] >= home[:-1]).all(), "home is a sink: returnees never leave it"
    comparison = res.comparison
    assert comparison is not None and len(comparison) == len(flowsim.load(WORLD).observations)
