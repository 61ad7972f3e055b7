"""flowsim: scenario modelling of armed-group manpower flows between regions.

The public API (see docs/api.md) is re-exported here and imported on first use,
so `import flowsim` and `flowsim --help` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = ["InputError", "Results", "__version__", "calibrate", "compare", "load", "report", "run", "sensitivity",
           "sweep"]

_HOMES = {
    "load": "flowsim.api", "run": "flowsim.api", "sweep": "flowsim.api", "compare": "flowsim.api",
    "calibrate": "flowsim.api", "sensitivity": "flowsim.api",
    "Results": "flowsim.outputs.results", "InputError": "flowsim.model.errors", "report": "flowsim.outputs.report",
}

if TYPE_CHECKING:
    from flowsim.api import calibrate, compare, load, run, sensitivity, sweep
    from flowsim.model.errors import InputError
    from flowsim.outputs.report import report
    from flowsim.outputs.results import Results


def __dir__() -> list[str]:
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'flowsim' has no attribute {name!r}")
