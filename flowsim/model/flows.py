"""Flow kinds: what a scenario may write under `flows:` and how each one moves persons.

Each kind is one pydantic model, registered once with `@register`. The class says
everything the rest of flowsim needs to know about the kind:

- `kind: Literal["..."]`, the name a scenario writes after `kind:`;
- its fields, with their types and rules (`Name`, `Rate`, `Share`, `Delay`; `Rate` and `Share`
  may change over time, see timeline.py);
- `numeric`: the fields that are numbers a parameter path names (`flows.NAME.FIELD`):
  they may be distributions, drawn per replicate, set by `--set` and events, swept
  and calibrated. An optional number (`Share | None = None`, such as `loss`) is a
  parameter only in a flow that gives it;
- `refers`: the fields that name a region (`"region"`) or a source flow such as a
  recruitment (`"source"`), for the cross-field checks once all names are known;
- `compile()`: the primitives of `network.py` (Source, Split, Exit) it moves persons
  by; both engines only know these. Each primitive carries the flow's name, so
  `flows.csv` counts the persons it moves on the flow's own row. A delayed Split or
  Exit may carry a `loss` (the parameter path of the share lost in transit): those
  losses are counted on the row `NAME_lost` (`network.lost_counter`).

Everything else is taken from the registry: the discriminated union of the
scenario schema (rebuilt when a kind is registered, so `flowsim schema` and
validation see it), the parameter paths, the tags in located error messages, the
"did you mean" vocabulary, and the table of kinds in docs/scenario-format.md
(`kinds_table()`; tests/test_flow_kinds.py checks that the docs hold it).

To add a kind, write one class here (or in any importable module, imported before
the scenario is loaded; worker processes unpickle flows by importing it):

    @register
    class Emigration(FlowBase):
        \"\"\"Per-capita exit from `region` to outside the modelled world, at `rate` per time unit.\"\"\"

        kind: Literal["emigration"]
        region: Name
        rate: Rate
        numeric = ("rate",)
        refers = {"region": "region"}

        def compile(self) -> list[Primitive]:
            return [Exit(self.name, self.region, self.path("rate"))]

(outside this module, write `refers: ClassVar[Mapping[str, Target]] = {...}`, which
ruff's RUF012 wants for a mapping on a class it cannot tell is a pydantic model),
then regenerate the published schema (`flowsim schema > docs/scenario.schema.json`)
and paste `kinds_table()` over the table in docs/scenario-format.md. `unregister`
removes a kind again (for tests).
"""

from __future__ import annotations

import operator
import re
import types
from collections.abc import Callable, Mapping
from functools import reduce
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema

from flowsim.model.distributions import Number
from flowsim.model.network import Exit, Primitive, Source, Split
from flowsim.model.timeline import Rate, Share, Varying

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)]
Delay = Annotated[int, Field(ge=0, le=3650, description="days in transit")]
Target = Literal["region", "source"]


class Reference(BaseModel):
    """A field naming another region or flow, checked once all names are known.

    `source`: a flow whose persons arrive from outside (it compiles to a `Source`),
    such as a recruitment; only those can be diverted.
    """

    field: str
    target: Target
    name: str


class FlowBase(BaseModel):
    """What every kind has: a unique `name`; see the module docstring for what a kind adds."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    numeric: ClassVar[tuple[str, ...]] = ()
    """Fields that are parameters (may be drawn, set by events, swept), as attribute names."""
    refers: ClassVar[Mapping[str, Target]] = {}
    """Fields (as written in the file) that name a region or a source flow."""

    name: Name
    kind: str  # each kind narrows it to its own Literal

    @staticmethod
    def kind_of(flow_class: type[FlowBase]) -> str:
        """The literal a scenario writes after `kind:` for this class."""
        field = flow_class.model_fields["kind"]
        args = get_args(field.annotation) if get_origin(field.annotation) is Literal else ()
        if len(args) != 1 or not isinstance(args[0], str):
            raise TypeError(f"{flow_class.__name__} needs a field `kind: Literal[\"<name>\"]` with one name")
        return args[0]

    def references(self) -> list[Reference]:
        return [Reference(field=written, target=target, name=getattr(self, _attribute(type(self), written)))
                for written, target in self.refers.items()]

    def compile(self) -> list[Primitive]:
        raise NotImplementedError

    def path(self, field: str) -> str:
        return f"flows.{self.name}.{field}"

    def optional_path(self, field: str) -> str | None:
        """The parameter path of an optional number, or None when the flow does not give it."""
        return None if getattr(self, field) is None else self.path(field)


def _is_number(annotation: Any) -> bool:
    """A number field: `Number` or `Varying` (`Rate`, `Share`), or an optional one (`Share | None`)."""
    if annotation in (Number, Varying):
        return True
    if get_origin(annotation) not in (Union, types.UnionType):
        return False
    args = [a for a in get_args(annotation) if a is not type(None)]
    if len(args) != 1 or len(args) == len(get_args(annotation)):
        return False
    inner = args[0]
    return (get_args(inner)[0] if get_origin(inner) is Annotated else inner) in (Number, Varying)


def _attribute(cls: type[BaseModel], written: str) -> str:
    """The attribute of a field as written in the file (`from` is `from_`)."""
    for attr, info in cls.model_fields.items():
        if written in (attr, info.alias):
            return attr
    raise KeyError(written)


_KINDS: dict[str, type[FlowBase]] = {}
_NUMERIC: dict[str, tuple[str, ...]] = {}
_LISTENERS: list[Callable[[], None]] = []

FLOW_KINDS: Mapping[str, type[FlowBase]] = MappingProxyType(_KINDS)
"""Every registered kind by the name a scenario writes, in the order registered."""
NUMERIC_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(_NUMERIC)
"""Fields of each kind that are parameters (may be drawn, set by events, swept)."""

_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
F = TypeVar("F", bound=type[FlowBase])


def register(cls: F) -> F:
    """Make `cls` a flow kind a scenario may use; a class decorator. Checks the class first."""
    if not (isinstance(cls, type) and issubclass(cls, FlowBase)):
        raise TypeError(f"a flow kind must subclass FlowBase, not {cls!r}")
    _check(cls)
    kind = FlowBase.kind_of(cls)
    _KINDS[kind] = cls
    _NUMERIC[kind] = tuple(cls.numeric)
    try:
        _changed()
    except Exception:  # a schema that does not build: leave the registry as it was
        unregister(kind)
        raise
    return cls


def _check(cls: type[FlowBase]) -> None:
    kind = FlowBase.kind_of(cls)
    where = f"flow kind {kind!r} ({cls.__name__})"
    if not _KIND_NAME.match(kind):
        raise ValueError(f"{where}: a kind is lower-case letters, digits and _")
    if kind in _KINDS:
        raise ValueError(f"{where}: the kind is already registered, by {_KINDS[kind].__name__}")
    keys = {info.alias or attr for c in (*_KINDS.values(), cls) for attr, info in c.model_fields.items()}
    if kind in keys or any(key in _KINDS for key in keys):
        raise ValueError(f"{where}: kinds and the keys of flows must differ (error messages tell them apart)")
    numbers = {attr for attr, info in cls.model_fields.items() if _is_number(info.annotation)}
    if set(cls.numeric) != numbers:
        raise TypeError(f"{where}: `numeric` must list exactly its number fields {sorted(numbers)}, "
                        f"not {list(cls.numeric)}")
    for written, target in cls.refers.items():
        try:
            _attribute(cls, written)
        except KeyError:
            raise TypeError(f"{where}: `refers` names {written!r}, which is not a field") from None
        if target not in get_args(Target):
            raise TypeError(f"{where}: `refers` target {target!r} must be one of {get_args(Target)}")
    if cls.compile is FlowBase.compile:
        raise TypeError(f"{where}: define compile() -> list[Primitive]")


def unregister(kind: str) -> None:
    """Remove a registered kind (for tests that register their own)."""
    del _KINDS[kind]
    del _NUMERIC[kind]
    _changed()


def on_change(listener: Callable[[], None]) -> None:
    """Call `listener` whenever a kind is registered or removed (the scenario model rebuilds its schema)."""
    _LISTENERS.append(listener)


def _changed() -> None:
    for listener in _LISTENERS:
        listener()


class _RegisteredKinds:
    """The schema of one flow: the union of the registered kinds, told apart by `kind`.

    Built when a model using `Flow` builds its schema, so a model rebuilt after
    `register` (see `on_change`) takes the new kind.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        union: Any = reduce(operator.or_, _KINDS.values())  # A | B | ..., known only at run time
        return handler.generate_schema(Annotated[union, Field(discriminator="kind")])


Flow = Annotated[FlowBase, _RegisteredKinds]
"""A flow as a scenario writes it: one of the registered kinds."""


def summary(cls: type[FlowBase]) -> str:
    """The first paragraph of a kind's docstring, on one line."""
    first = (cls.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(first.split())


def kinds_table() -> str:
    """The markdown table of registered kinds, as docs/scenario-format.md shows it."""
    rows = ["| kind | fields | meaning |", "|---|---|---|"]
    for kind, cls in _KINDS.items():
        fields = [info.alias or attr for attr, info in cls.model_fields.items() if attr not in ("name", "kind")]
        rows.append(f"| `{kind}` | {', '.join(f'`{f}`' for f in fields)} | {summary(cls)} |")
    return "\n".join(rows) + "\n"


@register
class Recruitment(FlowBase):
    """Arrivals from outside: a Poisson stream of `rate` persons per time unit into `to`."""

    kind: Literal["recruitment"]
    to: Name
    rate: Rate
    delay: Delay = 0
    numeric = ("rate",)
    refers = {"to": "region"}

    def compile(self) -> list[Primitive]:
        return [Source(self.name, self.to, self.path("rate"), self.delay)]


@register
class Attrition(FlowBase):
    """Per-capita exit from `region` (killed, deserted, arrested) at `rate` per time unit."""

    kind: Literal["attrition"]
    region: Name
    rate: Rate
    numeric = ("rate",)
    refers = {"region": "region"}

    def compile(self) -> list[Primitive]:
        return [Exit(self.name, self.region, self.path("rate"))]


@register
class Diversion(FlowBase):
    """A `fraction` of recruitment flow `of` arrives in `to` instead of its own region."""

    kind: Literal["diversion"]
    of: Name
    to: Name
    fraction: Share
    delay: Delay | None = Field(None, description="days in transit; default: that of the flow `of`")
    loss: Share | None = Field(None, description="share lost in transit (needs a delay); "
                                  "counted on the row NAME_lost")
    numeric = ("fraction", "loss")
    refers = {"of": "source", "to": "region"}

    def compile(self) -> list[Primitive]:
        delay = -1 if self.delay is None else self.delay  # -1: the source's delay (Scenario.network)
        return [Split(self.name, self.of, self.to, self.path("fraction"), delay, self.optional_path("loss"))]


@register
class Transfer(FlowBase):
    """Per-capita movement from `from` to `to` at `rate` per time unit; persons land at a midnight.

    They travel `delay` whole days after the day they leave (so a transfer with no
    delay lands at the end of its day), which keeps both engines exact.
    """

    kind: Literal["transfer"]
    from_: Name = Field(alias="from")
    to: Name
    rate: Rate
    delay: Delay = 0
    loss: Share | None = Field(None, description="share lost in transit (needs a delay); "
                                  "counted on the row NAME_lost")
    numeric = ("rate", "loss")
    refers = {"from": "region", "to": "region"}

    def compile(self) -> list[Primitive]:
        return [Exit(self.name, self.from_, self.path("rate"), self.to, self.delay, self.optional_path("loss"))]
