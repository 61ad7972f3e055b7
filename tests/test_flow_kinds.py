"""Flow kinds live in one place: a kind registered from this file alone works everywhere.

`Emigration` is defined and registered here, nowhere in flowsim: per-capita exit
from a region to outside the modelled world, compiled to the same primitive as
attrition (an `Exit` to nowhere) but counted on its own row of flows.csv. The
`emigration` fixture registers it and removes it again, so every other test sees
the built-in kinds only.

Statistics: the mean over replicates of each flows.csv row of the new kind (the
persons it moved in that report period) against its closed-form mean, as a
z-score with the exact variance; |z| < 4 fails a correct engine with probability
P(|Z| >= 4) = 6.3e-5 per check, so at most 6 x 6.3e-5 = 3.8e-4 for the three
rows of each of the two engines (the flows.csv mean is rounded to 0.001, far
below the standard errors here, about 0.1 and 0.4 persons).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import ValidationError

from flowsim.model.distributions import NonNegative
from flowsim.model.flows import (
    FLOW_KINDS,
    NUMERIC_FIELDS,
    FlowBase,
    Name,
    Target,
    kinds_table,
    register,
    unregister,
)
from flowsim.model.network import Exit, Primitive
from flowsim.model.scenario import Scenario, vocabulary

from .conftest import ROOT

Z = 4.0


class Emigration(FlowBase):
    """Per-capita exit from `region` to outside the modelled world, at `rate` per time unit."""

    kind: Literal["emigration"]
    region: Name
    rate: NonNegative
    numeric = ("rate",)
    refers: ClassVar[Mapping[str, Target]] = {"region": "region"}

    def compile(self) -> list[Primitive]:
        return [Exit(self.name, self.region, self.path("rate"))]


@pytest.fixture
def emigration() -> Iterator[None]:
    register(Emigration)
    try:
        yield
    finally:
        unregister("emigration")


BUILT_IN = ["recruitment", "attrition", "diversion", "transfer"]

# a = 400 persons, recruits at LAM a day, attrition ALPHA and emigration MU per day
N0, LAM, ALPHA, MU, DAYS = 400, 5.0, 0.01, 0.02, 30
SCENARIO = f"""\
name: emigrants
start: 2015-01-01
end: 2015-01-31
time_unit: day
report_every: 10
regions:
  a: {{initial: {N0}}}
  b: {{initial: 50}}
flows:
  - {{name: r, kind: recruitment, to: a, rate: {LAM}}}
  - {{name: d, kind: attrition, region: a, rate: {ALPHA}}}
  - {{name: e, kind: emigration, region: a, rate: {MU}}}
"""
E_LINE, E_TEXT = 12, "{name: e, kind: emigration, region: a, rate: 0.02}"  # flow `e` in SCENARIO


def emigrated_law(s: float, t: float) -> tuple[float, float]:
    """Mean and variance of the persons who emigrate from `a` during days (s, t] (time unit: day).

    With H = ALPHA + MU, each of the N0 initial persons has emigrated by t with
    probability q(t) = (MU/H)(1 - e^(-Ht)), so those leaving in (s, t] are
    Binomial(N0, q(t) - q(s)). A recruit arriving at u has emigrated by t with
    probability (MU/H)(1 - e^(-H(t-u))); arrivals being Poisson, the recruits
    emigrated by t are Poisson with mean m(t) = LAM (MU/H) (t - (1 - e^(-Ht))/H), and
    those in (s, t] Poisson with mean m(t) - m(s), independent of the initial ones.
    """
    h = ALPHA + MU

    def q(x: float) -> float:
        return MU / h * -math.expm1(-h * x)

    def m(x: float) -> float:
        return LAM * MU / h * (x + math.expm1(-h * x) / h)

    p, poisson = q(t) - q(s), m(t) - m(s)
    return N0 * p + poisson, N0 * p * (1 - p) + poisson


def flow_rows(folder: Path, flow: str) -> dict[int, float]:
    with (folder / "flows.csv").open(newline="") as f:
        return {int(row["day"]): float(row["mean"]) for row in csv.DictReader(f) if row["flow"] == flow}


def test_docs_table_of_kinds_is_current() -> None:
    """docs/scenario-format.md shows the table `kinds_table()` makes from the registry."""
    assert list(FLOW_KINDS) == BUILT_IN
    assert kinds_table() in (ROOT / "docs/scenario-format.md").read_text(encoding="utf-8")


def test_registering_reaches_schema_parameters_and_vocabulary(emigration: None, cli) -> None:  # type: ignore[no-untyped-def]
    assert list(FLOW_KINDS) == [*BUILT_IN, "emigration"]
    assert NUMERIC_FIELDS["emigration"] == ("rate",)
    assert {"region", "rate"} <= vocabulary()
    schema = json.loads(cli("schema").stdout)
    assert schema["properties"]["flows"]["items"]["discriminator"]["mapping"]["emigration"] == "#/$defs/Emigration"
    assert "| `emigration` | `region`, `rate` | Per-capita exit from `region` to outside" in kinds_table()


def test_a_kind_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(FLOW_KINDS["attrition"])

    class NoNumbers(FlowBase):  # `rate` is a number but not declared in `numeric`
        kind: Literal["no_numbers"]
        region: Name
        rate: NonNegative

        def compile(self) -> list[Primitive]:
            return [Exit(self.name, self.region, self.path("rate"))]

    with pytest.raises(TypeError, match="number fields"):
        register(NoNumbers)
    assert list(FLOW_KINDS) == BUILT_IN


@pytest.mark.parametrize("engine,replicates", [("step", 4000), ("event", 300)])
def test_new_kind_validates_and_runs(emigration: None, cli, tmp_path: Path, engine: str,  # type: ignore[no-untyped-def]
                                     replicates: int) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    result = cli("validate", path)
    assert result.exit_code == 0, result.output
    assert "3 flows" in result.stdout
    out = tmp_path / "out"
    result = cli("run", path, "--engine", engine, "-n", str(replicates), "--workers", "1", "--out", out)
    assert result.exit_code == 0, result.output
    rows = flow_rows(out / "emigrants", "e")
    assert sorted(rows) == [10, 20, DAYS]
    assert flow_rows(out / "emigrants", "d")[DAYS] > 0  # attrition still counted on its own row
    for day in rows:  # a row counts the persons moved in the period ending that day
        mean, var = emigrated_law(day - 10, day)
        z = (rows[day] - mean) / math.sqrt(var / replicates)
        assert abs(z) < Z, (engine, day, rows[day], mean, z)


def test_new_kind_parameter_path_takes_set(emigration: None, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`flows.e.rate` is a parameter path like any other: `--set` reaches it; no emigration, no emigrants."""
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    out = tmp_path / "out"
    result = cli("run", path, "--set", "flows.e.rate=0", "-n", "50", "--workers", "1", "--out", out)
    assert result.exit_code == 0, result.output
    assert set(flow_rows(out / "emigrants", "e").values()) == {0.0}


@pytest.mark.parametrize("old,new,at,field,rule", [
    ("rate: 0.02", "rate: -0.02", "-0.02", "flows.e.rate", "value -0.02: must be >= 0"),
    ("region: a", "region: nowhere", "nowhere", "flows.e.region", "value 'nowhere': unknown region; regions are a, b"),
    ("rate: 0.02", "raet: 0.02", "raet", "flows.e.raet", "unknown key 'raet'; did you mean 'rate'?"),
])
def test_mistake_in_new_kind_is_one_located_error(emigration: None, cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  old: str, new: str, at: str, field: str, rule: str) -> None:
    """A wrong value, a wrong reference, a misspelt key: one line naming the new kind's field (at the
    value, or at an unknown key), nothing written."""
    wrong = E_TEXT.replace(old, new)
    column = len("  - ") + wrong.index(at) + 1
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace(E_TEXT, wrong))
    out = tmp_path / "out"
    for command in (["validate", path], ["run", path, "--out", out]):
        result = cli(*command)
        message = result.stderr.strip()
        assert result.exit_code == 2, result.output
        assert message.splitlines() == [f"error: {path}:{E_LINE}:{column}: {field}: {rule}"], message
    assert not out.exists()


def test_unregistering_restores_the_built_in_schema(cli) -> None:  # type: ignore[no-untyped-def]
    register(Emigration)
    unregister("emigration")
    assert json.loads(cli("schema").stdout) == json.loads((ROOT / "docs/scenario.schema.json").read_text())
    data = {"name": "x", "start": "2015-01-01", "end": "2015-02-01", "regions": {"a": {"initial": 1}},
            "flows": [{"name": "e", "kind": "emigration", "region": "a", "rate": 0.1}]}
    with pytest.raises(ValidationError) as caught:
        Scenario.model_validate(data)
    assert [e["type"] for e in caught.value.errors()] == ["union_tag_invalid"]
