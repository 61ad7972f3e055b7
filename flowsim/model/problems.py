"""Turn schema failures into InputErrors that point at the offending line and column: the first, or all."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from flowsim.model.errors import NO_VALUE, InputError
from flowsim.model.flows import FLOW_KINDS
from flowsim.model.yamlsource import FieldPath, Located


def pretty_path(data: Any, path: FieldPath) -> str:
    """`flows.recruit_is.rate` for named list items, `events[0].date` otherwise."""
    out = ""
    node = data
    for key in path:
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and -len(node) <= key < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            out += f".{name}" if isinstance(name, str) and out == "flows" else f"[{key}]"
        else:
            out += f".{key}" if out else str(key)
        node = _child(node, key)
    return out


def _child(node: Any, key: str | int) -> Any:
    if isinstance(node, dict) and isinstance(key, str):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
        return node[key]
    return None


def data_path(data: Any, loc: tuple[str | int, ...]) -> FieldPath:
    """Map a pydantic `loc` onto the raw data, dropping union tags and other extras."""
    path: list[str | int] = []
    node = data
    for key in loc:
        child = _child(node, key)
        if child is None and not (isinstance(node, dict) and key in node):
            if isinstance(node, dict) and isinstance(key, str) and not _is_tag(key):
                path.append(key)  # a missing or extra key: keep it for the message
                node = None
            continue
        path.append(key)
        node = child
    return tuple(path)


def _is_tag(key: str) -> bool:
    """Whether a `loc` key is pydantic's name for an alternative (a flow kind), not a key of the data."""
    return key in FLOW_KINDS or key in ("function-after", "function-plain")


def first_error(exc: ValidationError, located: Located, vocabulary: set[str]) -> InputError:
    """The earliest (by position in the file) of the schema's complaints, as an InputError."""
    ranked = sorted(_complaints(exc, located, vocabulary),
                    key=lambda c: (c[0] != "extra_forbidden", *position(c[2], located)))
    # an unknown key first: it is usually why a required one is "missing"
    return ranked[0][2]


def all_errors(exc: ValidationError, located: Located, vocabulary: set[str]) -> list[InputError]:
    """Every complaint of the schema, one per field, in file order (what `flowsim validate` lists).

    Where pydantic has several complaints about one value (one per alternative of a union),
    the one `first_error` would pick stands for them all; a required key is not reported
    missing beside an unknown key that looks like its misspelling (`fractoin`).
    """
    complaints = _complaints(exc, located, vocabulary)
    unknown = [path for kind, path, _ in complaints if kind == "extra_forbidden" and path]
    best: dict[tuple[str, str], tuple[str, InputError]] = {}
    for kind, path, error in complaints:
        if kind == "missing" and path and any(_misspelt(u, path) for u in unknown):
            continue
        key = (error.field, str(error.origin))
        if key not in best or (kind == "extra_forbidden" and best[key][0] != "extra_forbidden"):
            best[key] = (kind, error)
    return in_file_order([error for _, error in best.values()], located)


def _misspelt(unknown: FieldPath, missing: FieldPath) -> bool:
    """Whether the unknown key sits beside the missing one and is close to it (the `did you mean` test)."""
    if unknown[:-1] != missing[:-1]:
        return False
    return bool(difflib.get_close_matches(str(unknown[-1]), [str(missing[-1])], n=1, cutoff=0.6))


def in_file_order(errors: list[InputError], located: Located) -> list[InputError]:
    """Sorted by line and column; errors elsewhere (another file, `--set`) after the file's own."""
    return sorted(errors, key=lambda e: position(e, located))


def position(error: InputError, located: Located) -> tuple[bool, int, int]:
    return error.origin.file != located.file, error.origin.line or 0, error.origin.column or 0


def _complaints(exc: ValidationError, located: Located,
                vocabulary: set[str]) -> list[tuple[str, FieldPath, InputError]]:
    """(pydantic's error type, path in the data, InputError) for each complaint that says most."""
    details = exc.errors()
    paths = [data_path(located.data, tuple(e["loc"])) for e in details]
    # of two alternatives of a union, the one that got further into the value says more
    keep = [i for i, p in enumerate(paths) if not any(len(q) > len(p) and q[:len(p)] == p for q in paths)]
    return [(details[i]["type"], paths[i], to_input_error(details[i], located, vocabulary)) for i in keep]


def to_input_error(err: ErrorDetails, located: Located, vocabulary: set[str]) -> InputError:
    kind = err["type"]
    path = data_path(located.data, tuple(err["loc"]))
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        path = (*path, "kind")
    origin = located.origin(path, key=kind == "extra_forbidden")
    inner = tuple(getattr((err.get("ctx") or {}).get("error"), "subpath", ()))
    if inner and _exists(located.data, (*path, *inner)):
        path = (*path, *inner)  # a fault inside the value, e.g. the `column` of a posterior
        if origin.line is not None:  # a value from --set has no positions of its own
            origin = located.origin(path)
    exists = _exists(located.data, path)
    value: object = _value(located.data, path) if exists else NO_VALUE
    rule = _rule(err, path, vocabulary)
    if kind == "extra_forbidden":
        value = NO_VALUE
    return InputError(origin, pretty_path(located.data, path), value, rule)


def _exists(data: Any, path: FieldPath) -> bool:
    node = data
    for key in path:
        in_map = isinstance(node, dict) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        if not (in_map or in_list):
            return False
        node = node[key]
    return True


def _value(data: Any, path: FieldPath) -> Any:
    node = data
    for key in path:
        node = node[key]
    if isinstance(node, dict | list):
        return _short(node)
    return node


def _short(node: Any) -> str:
    text = str(node)
    return text if len(text) <= 40 else text[:37] + "..."


_RULES = {
    "missing": "is required",
    "model_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
    "list_type": "must be a list",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be text",
    "date_type": "must be a date like 2016-02-04",
    "date_parsing": "must be a date like 2016-02-04",
    "date_from_datetime_parsing": "must be a date like 2016-02-04",
    "string_pattern_mismatch": "must start with a letter and use only letters, digits and _",
}
_KIND_RULES = {  # the flow kinds are those registered when the error is reported
    "union_tag_not_found": "is required: one of {}",
    "union_tag_invalid": "unknown flow kind; use one of {}",
}


def _rule(err: ErrorDetails, path: FieldPath, vocabulary: set[str]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else ""
        close = difflib.get_close_matches(key, sorted(vocabulary - {key}), n=1, cutoff=0.6)
        if key.isdigit():
            hint = "; is this the end of a number with a thousands separator? write 1200, not 1,200"
        elif key in vocabulary:
            hint = " here (it is a field of another part of the file)"
        else:
            hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key {key!r}{hint}"
    ctx = err.get("ctx") or {}
    if kind == "string_pattern_mismatch" and str(ctx.get("pattern", "")).startswith("^[A-Za-z0-9]"):
        return "must be a plain folder name: letters, digits, _ . - (starting with a letter or digit)"
    if kind in _RULES:
        return _RULES[kind]
    if kind in _KIND_RULES:
        return _KIND_RULES[kind].format(", ".join(FLOW_KINDS))
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        op = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}
        bound = next(iter(ctx.values()), "")
        return f"must be {op[kind]} {bound}"
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return msg[:1].lower() + msg[1:]


def problem(located: Located, path: FieldPath, rule: str, *, show_value: bool = True) -> InputError:
    """An InputError for a cross-field rule found after the schema passed."""
    value = _value(located.data, path) if show_value and _exists(located.data, path) else NO_VALUE
    return InputError(located.origin(path), pretty_path(located.data, path), value, rule)
