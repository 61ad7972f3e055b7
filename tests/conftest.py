"""Shared helpers: build scenarios in memory, write them, run the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from flowsim.cli.main import app
from flowsim.model.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent


def scenario_dict(days: int = 100, **overrides: Any) -> dict[str, Any]:
    start = dt.date(2015, 1, 1)
    data: dict[str, Any] = {
        "name": "test",
        "start": start,
        "end": start + dt.timedelta(days=days),
        "time_unit": "day",
        "report_every": 10,
        "replicates": 200,
        "seed": 1,
        "regions": {"a": {"initial": 1000}, "b": {"initial": 100}},
        "flows": [],
    }
    data.update(overrides)
    return data


def make(days: int = 100, **overrides: Any) -> Scenario:
    return Scenario.model_validate(scenario_dict(days, **overrides))


def write(tmp_path: Path, data: dict[str, Any], name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def cli() -> Any:
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run slow statistical checks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
