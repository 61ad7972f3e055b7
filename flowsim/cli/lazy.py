"""Modules loaded on first use (the standard library's LazyLoader), so the command line starts fast."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any


def lazy(name: str) -> ModuleType:
    """Module `name`, imported only when one of its attributes is first read (once, then as usual)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def skip_pandas_probe() -> None:
    """Tell pyarrow, once per process, that the command line passes it no pandas objects.

    The first time pyarrow meets a numpy array it imports pandas (about 0.6 s here) only to
    ask whether the array is a pandas object. The command line never passes one, so the
    first such question is asked with `import pandas` failing: pyarrow remembers "no pandas"
    for that question, and still imports pandas where it truly needs it (`to_pandas`).
    Nothing changes if pandas is already imported.
    """
    if "pandas" in sys.modules:
        return
    import numpy as np
    import pyarrow as pa

    block = _NoPandas()
    sys.meta_path.insert(0, block)  # `import pandas` raises ImportError, for this one question
    try:
        pa.array(np.zeros(1))
    finally:
        sys.meta_path.remove(block)


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"{name} is not asked for here", name=name)
        return None
