"""Flow kinds: what a scenario may write under `flows:` and how each one moves persons.

Each kind is one pydantic model that (1) validates its fields, (2) names the
regions and flows it refers to, and (3) compiles to primitives in `network.py`.
To add a kind, add a class here and list it in `Flow`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowsim.model.distributions import Fraction, NonNegative
from flowsim.model.network import Exit, Primitive, Source, Split

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)]
Delay = Annotated[int, Field(ge=0, le=3650, description="days in transit")]


class Reference(BaseModel):
    """A field naming another region or flow, checked once all names are known."""

    field: str
    target: Literal["region", "recruitment"]
    name: str


class FlowBase(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Name

    def references(self) -> list[Reference]:
        return []

    def compile(self) -> list[Primitive]:
        raise NotImplementedError

    def path(self, field: str) -> str:
        return f"flows.{self.name}.{field}"


class Recruitment(FlowBase):
    """Arrivals from outside: a Poisson stream of `rate` persons per time unit into `to`."""

    kind: Literal["recruitment"]
    to: Name
    rate: NonNegative
    delay: Delay = 0

    def references(self) -> list[Reference]:
        return [Reference(field="to", target="region", name=self.to)]

    def compile(self) -> list[Primitive]:
        return [Source(self.name, self.to, self.path("rate"), self.delay)]


class Attrition(FlowBase):
    """Per-capita exit from `region` (killed, deserted, arrested) at `rate` per time unit."""

    kind: Literal["attrition"]
    region: Name
    rate: NonNegative

    def references(self) -> list[Reference]:
        return [Reference(field="region", target="region", name=self.region)]

    def compile(self) -> list[Primitive]:
        return [Exit(self.name, self.region, self.path("rate"))]


class Diversion(FlowBase):
    """A `fraction` of recruitment flow `of` arrives in `to` instead of its own region."""

    kind: Literal["diversion"]
    of: Name
    to: Name
    fraction: Fraction
    delay: Delay | None = Field(None, description="days in transit; default: that of the flow `of`")

    def references(self) -> list[Reference]:
        return [
            Reference(field="of", target="recruitment", name=self.of),
            Reference(field="to", target="region", name=self.to),
        ]

    def compile(self) -> list[Primitive]:
        delay = -1 if self.delay is None else self.delay
        return [Split(self.name, self.of, self.to, self.path("fraction"), delay)]


class Transfer(FlowBase):
    """Per-capita movement from `from` to `to`; transferred persons land at a midnight.

    They travel `delay` whole days after the day they leave (so a transfer with no
    delay lands at the end of its day), which keeps both engines exact.
    """

    kind: Literal["transfer"]
    from_: Name = Field(alias="from")
    to: Name
    rate: NonNegative
    delay: Delay = 0

    def references(self) -> list[Reference]:
        return [
            Reference(field="from", target="region", name=self.from_),
            Reference(field="to", target="region", name=self.to),
        ]

    def compile(self) -> list[Primitive]:
        return [Exit(self.name, self.from_, self.path("rate"), self.to, self.delay)]


Flow = Annotated[
    Recruitment | Attrition | Diversion | Transfer, Field(discriminator="kind")
]
FLOW_KINDS: dict[str, type[FlowBase]] = {
    "recruitment": Recruitment,
    "attrition": Attrition,
    "diversion": Diversion,
    "transfer": Transfer,
}
NUMERIC_FIELDS: dict[str, tuple[str, ...]] = {
    "recruitment": ("rate",),
    "attrition": ("rate",),
    "diversion": ("fraction",),
    "transfer": ("rate",),
}
"""Fields of each kind that are parameters (may be drawn, set by events, swept)."""
