"""Parameter paths (`flows.divert.fraction`, `regions.libya.initial`, `biases.core`, `seed`,
`flows.foreign_is.rate.schedule.2016-01-01`) on raw scenario data.

The same paths serve `--set`, events, sweeps and calibration, so resolving one
lives here and nowhere else.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from flowsim.model.errors import NO_VALUE, InputError, Origin
from flowsim.model.flows import NUMERIC_FIELDS
from flowsim.model.timeline import SHAPES
from flowsim.model.yamlsource import FieldPath, Located, parse_yaml

TOP_LEVEL = ("replicates", "seed", "start", "end", "report_every", "time_unit")


def known_paths(data: dict[str, Any]) -> list[str]:
    """Every parameter path the raw scenario offers (best effort on unvalidated data)."""
    out = list(TOP_LEVEL)
    regions = data.get("regions")
    if isinstance(regions, dict):
        out += [f"regions.{r}.initial" for r in regions]
    biases = data.get("biases")
    if isinstance(biases, dict):
        out += [f"biases.{b}" for b in biases]
    for flow in data.get("flows") or []:
        if isinstance(flow, dict) and isinstance(flow.get("name"), str):
            for field in (*NUMERIC_FIELDS.get(str(flow.get("kind")), ()), "delay"):
                out.append(f"flows.{flow['name']}.{field}")
                value: Any = flow.get(field)
                shape = next(iter(value), None) if isinstance(value, dict) else None
                if shape in SHAPES[:2] and isinstance(value[shape], dict):
                    out += [f"flows.{flow['name']}.{field}.{shape}.{str(k).strip()}" for k in value[shape]]
    return out


def argument_path(path: str, kind: str, index: int) -> str:
    """`PATH.kind.i`: argument i of the distribution at PATH (sweeps and priors may set it per lane)."""
    return f"{path}.{kind}.{index}"


def resolve(params: Mapping[str, Any], path: str) -> tuple[str, int | None]:
    """(parameter path, argument index or None) that `path` names among a scenario's `params`; ("", None) if none.

    A path is a parameter (`flows.divert.fraction`) or an argument of one that is a
    distribution (`flows.recruit_is.rate.uniform.1`); a `choice` has no arguments
    to set one by one.
    """
    from flowsim.model.distributions import Distribution

    if path in params:
        return path, None
    head, _, index = path.rpartition(".")
    base, _, kind = head.rpartition(".")
    value = params.get(base)
    if (isinstance(value, Distribution) and value.kind == kind and kind not in ("choice", "posterior")
            and index.isdigit() and int(index) < len(value.args)):
        return base, int(index)
    return "", None


def unknown_path_rule(key: str, known: Iterable[str], flows_only: bool = False) -> str:
    names = [k for k in known if not flows_only or k.startswith("flows.")]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(names[:8])}"
    what = "flow parameter" if flows_only else "parameter path"
    return f"unknown {what} {key!r}{hint}"


def locate(data: dict[str, Any], key: str) -> FieldPath | None:
    """The raw-data path of a parameter path, or None if the scenario has no such number."""
    parts = key.split(".")
    if len(parts) == 1 and parts[0] in TOP_LEVEL:
        return (parts[0],)
    if len(parts) == 3 and parts[0] == "regions" and parts[2] == "initial":
        regions = data.get("regions")
        if isinstance(regions, dict) and parts[1] in regions:
            return ("regions", parts[1], "initial")
    if len(parts) == 2 and parts[0] == "biases":
        biases = data.get("biases")
        if isinstance(biases, dict) and parts[1] in biases:
            return ("biases", parts[1])
    if len(parts) in (3, 5) and parts[0] == "flows":
        for i, flow in enumerate(data.get("flows") or []):
            if isinstance(flow, dict) and flow.get("name") == parts[1]:
                fields = (*NUMERIC_FIELDS.get(str(flow.get("kind")), ()), "delay")
                if parts[2] not in fields:
                    return None
                return ("flows", i, parts[2]) if len(parts) == 3 else _knot(flow.get(parts[2]), ("flows", i, parts[2]),
                                                                            parts[3], parts[4])
    return None


def _knot(value: Any, where: FieldPath, shape: str, date: str) -> FieldPath | None:
    """The raw-data path of one knot of a timeline; a table's knots go under its `set:`."""
    if not isinstance(value, dict) or shape not in value:
        return None
    if shape == "table":
        return (*where, "set", next((k for k in value.get("set") or {} if str(k).strip() == date), date))
    knots = value[shape]
    key = next((k for k in knots if str(k).strip() == date), None) if isinstance(knots, dict) else None
    return None if key is None else (*where, shape, key)


def parent_of(data: Any, where: FieldPath) -> Any:
    node = data
    for part in where[:-1]:
        node = node[part]
    return node


def put(data: Any, key: str, value: Any) -> FieldPath:
    """Set the number at parameter path `key` in raw scenario data (plain or ruamel); returns where."""
    where = locate(data, key)
    if where is None:
        raise KeyError(key)
    _make_room(data, where)
    parent_of(data, where)[where[-1]] = value
    return where


def _make_room(data: Any, where: FieldPath) -> None:
    """A table's first replaced value needs its `set:` mapping."""
    if len(where) > 2 and where[-2] == "set" and isinstance(parent_of(data, where[:-1]), dict):
        parent_of(data, where[:-1]).setdefault("set", {})


def set_value(located: Located, key: str, value: Any, origin: Origin) -> None:
    """Put `value` at parameter path `key`, remembering that it came from `origin`."""
    where = locate(located.data, key)
    if where is None:
        raise InputError(origin, key, NO_VALUE, unknown_path_rule(key, known_paths(located.data)))
    _make_room(located.data, where)
    if not isinstance(parent_of(located.data, where), dict):
        raise InputError(origin, key, NO_VALUE, "cannot be set: its parent is not a mapping")
    put(located.data, key, value)
    located.origins[where] = origin
    located.key_origins[where] = origin


def apply_override(located: Located, text: str) -> None:
    """Apply one `--set PATH=VALUE`; the value is read as YAML (numbers, dates, distributions)."""
    origin = Origin(f"--set {text}")
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(origin, "", NO_VALUE, "must be written PATH=VALUE, e.g. flows.divert.fraction=0.4")
    try:
        value = parse_yaml(raw, f"--set {text}").data
    except InputError as exc:
        raise InputError(origin, key.strip(), raw, exc.rule) from None
    set_value(located, key.strip(), value, origin)
