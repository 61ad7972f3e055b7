"""The engine contract: an engine takes a plan and a random generator and returns an Outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from flowsim.engines.gillespie import EventEngine
from flowsim.engines.leap import LeapEngine
from flowsim.engines.plan import Plan
from flowsim.engines.step import MeanFieldEngine, Outcome, StepEngine


class Engine(Protocol):
    def run(self) -> Outcome: ...


ENGINES: dict[str, Callable[[Plan, np.random.Generator, Callable[[int], None] | None], Engine]] = {
    "leap": LeapEngine, "step": StepEngine, "event": EventEngine, "meanfield": MeanFieldEngine,
}
