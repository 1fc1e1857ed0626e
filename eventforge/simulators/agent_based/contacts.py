"""Who can infect whom: the population's age groups and the layers of contacts between agents.

A layer is one setting of contacts (households, schools, workplaces, a random graph, or dynamic
random mixing) restricted to the agents whose age group takes part (``ages``). Static layers are
stored together as one CSR over all agents (``ContactNetwork``): row ``i`` lists ``i``'s
neighbours in ascending order, each entry tagged with its layer code, both directions of every
edge present, no self loops and no duplicate ``(i, j, layer)``. A ``random`` layer has no edges:
the epidemic draws its contacts each day among the layer's ``random_members``.

The params models validate one layer each; the checks that need the population as well (an
unknown age group, a layer with no members, a graph degree the expected members cannot hold) are
``contact_problems``, which the epidemic's params model raises from its own model validator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, FiniteFloat, field_validator

from eventforge.scenario.types import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Probability,
    StrictModel,
    check_distribution,
)
from eventforge.simulators.agent_based import contact_kernels as kernels

__all__ = [
    "BarabasiAlbertLayer",
    "ContactNetwork",
    "ErdosRenyiLayer",
    "HouseholdLayer",
    "Layer",
    "PopulationSpec",
    "RandomLayer",
    "SchoolLayer",
    "WattsStrogatzLayer",
    "WorkplaceLayer",
    "build_contacts",
    "build_population",
    "contact_problems",
]

#: How far from 1 the age shares may sum (shares are often quoted to a few decimals).
_AGE_SUM_TOLERANCE = 1e-6
#: Layer codes are int8 in the CSR.
_MAX_LAYERS = 127
#: Agent ids are int32 in the CSR.
_MAX_AGENTS = 2**31 - 1


class PopulationSpec(StrictModel):
    """The agents: how many, and the share of each age group (drawn i.i.d. per agent)."""

    size: Annotated[int, Field(ge=1, le=_MAX_AGENTS)] = Field(description="number of agents N")
    age_groups: dict[str, PositiveFloat] = Field(
        min_length=1,
        description="age group name -> share of the population (> 0, summing to 1); the order "
        "listed is the order of the age codes",
    )

    @field_validator("age_groups")
    @classmethod
    def _shares_sum_to_one(cls, groups: dict[str, float]) -> dict[str, float]:
        total = math.fsum(groups.values())
        if abs(total - 1.0) > _AGE_SUM_TOLERANCE:
            shown = ", ".join(f"{k}={v:g}" for k, v in groups.items())
            raise ValueError(f"age_groups shares must sum to 1 (got {total:.9g}: {shown})")
        return groups


class _LayerBase(StrictModel):
    transmission: Probability = Field(
        description="chance per contact-day that an infectious agent infects a susceptible "
        "contact, before multipliers"
    )
    ages: list[str] | None = Field(
        default=None, description="age groups taking part in this layer (null: all)"
    )


class HouseholdLayer(_LayerBase):
    """Households: members shuffled and cut into households of i.i.d. sizes; each a clique."""

    kind: Literal["household"] = Field(description="layer kind")
    sizes: list[Probability] = Field(
        min_length=1,
        description="probabilities of household size 1, 2, 3, ... (summing to 1)",
    )

    @field_validator("sizes")
    @classmethod
    def _sizes_sum_to_one(cls, sizes: list[float]) -> list[float]:
        check_distribution({str(i + 1): p for i, p in enumerate(sizes)}, "household sizes")
        return sizes


class SchoolLayer(_LayerBase):
    """Schools: members shuffled into schools, each cut into classes; each class a clique."""

    kind: Literal["school"] = Field(description="layer kind")
    school_size: PositiveInt = Field(description="pupils per school (the last one may be smaller)")
    class_size: PositiveInt = Field(
        description="pupils per class (the last class of a school may be smaller)"
    )


class WorkplaceLayer(_LayerBase):
    """Workplaces of size 1 + Poisson(mean_size - 1); each member links to k random co-workers."""

    kind: Literal["workplace"] = Field(description="layer kind")
    mean_size: Annotated[FiniteFloat, Field(ge=1.0)] = Field(
        description="mean workplace size (sizes are 1 + Poisson(mean_size - 1))"
    )
    contacts: PositiveInt = Field(
        description="k: each member links to min(k, size - 1) distinct random co-workers "
        "(links are symmetric, so degrees can exceed k)"
    )


class ErdosRenyiLayer(_LayerBase):
    """G(n, p) over the layer's members with p = mean_degree / (n - 1)."""

    kind: Literal["erdos_renyi"] = Field(description="layer kind")
    mean_degree: PositiveFloat = Field(description="expected number of contacts per member")


class WattsStrogatzLayer(_LayerBase):
    """Small world: a ring lattice of even degree whose edges are rewired with a probability."""

    kind: Literal["watts_strogatz"] = Field(description="layer kind")
    degree: PositiveInt = Field(description="k: each member's degree in the ring lattice (even)")
    rewire: Probability = Field(description="probability that each lattice edge is rewired")


class BarabasiAlbertLayer(_LayerBase):
    """Preferential attachment: each new member links to m members chosen by degree."""

    kind: Literal["barabasi_albert"] = Field(description="layer kind")
    m: PositiveInt = Field(description="edges each new member brings (mean degree about 2m)")


class RandomLayer(_LayerBase):
    """Dynamic mixing: no fixed edges; fresh uniform contacts among the members every day."""

    kind: Literal["random"] = Field(description="layer kind")
    contacts_per_day: NonNegativeFloat = Field(
        description="mean contacts an infectious member makes per day (Poisson)"
    )


#: Any layer, chosen by its ``kind`` key.
Layer = Annotated[
    HouseholdLayer
    | SchoolLayer
    | WorkplaceLayer
    | ErdosRenyiLayer
    | WattsStrogatzLayer
    | BarabasiAlbertLayer
    | RandomLayer,
    Field(discriminator="kind"),
]


def contact_problems(population: PopulationSpec, contacts: Mapping[str, Layer]) -> list[str]:
    """Every inconsistency between the layers and the population, one message each.

    Each message starts with the key it is about (``contacts.<layer>[.<field>]``) and shows the
    value and the rule. "Expected members" is ``N * (sum of the shares of the layer's age
    groups)``: the actual count is random, so the graph checks are against its expectation and
    the builders cope with any count (a graph too dense for its members becomes a clique).
    An empty list means the contacts can be built.
    """
    problems: list[str] = []
    if not contacts:
        return ["contacts: no layers (at least one is required)"]
    if len(contacts) > _MAX_LAYERS:
        problems.append(f"contacts: {len(contacts)} layers (at most {_MAX_LAYERS})")
    groups = population.age_groups
    known = ", ".join(groups)
    for name, layer in contacts.items():
        key = f"contacts.{name}"
        ages = list(groups) if layer.ages is None else layer.ages
        unknown = [a for a in ages if a not in groups]
        for a in unknown:
            problems.append(f"{key}.ages: unknown age group {a!r} (age groups: {known})")
        repeated = sorted({a for a in ages if ages.count(a) > 1})
        if repeated:
            problems.append(f"{key}.ages: age groups listed twice: {repeated}")
        if unknown:
            continue
        expected = population.size * math.fsum(groups[a] for a in set(ages))
        if expected < 1.0:
            problems.append(
                f"{key}: no members (ages {ages} are {expected:.3g} of {population.size} agents)"
            )
            continue
        problems.extend(_layer_problems(key, layer, expected))
    return problems


def _layer_problems(key: str, layer: Layer, expected: float) -> list[str]:
    """The checks of one layer against its expected number of members."""
    shown = f"{expected:.6g}"
    if isinstance(layer, SchoolLayer) and layer.school_size < layer.class_size:
        return [
            f"{key}.school_size: {layer.school_size} is smaller than class_size "
            f"{layer.class_size} (a school holds whole classes)"
        ]
    if isinstance(layer, WattsStrogatzLayer):
        if layer.degree % 2:
            return [f"{key}.degree: must be even (got {layer.degree}; k/2 neighbours per side)"]
        if layer.degree >= expected:
            return [
                f"{key}.degree: {layer.degree} must be < the expected members ({shown}) "
                "(a lattice of that degree needs more members)"
            ]
    if isinstance(layer, BarabasiAlbertLayer) and layer.m >= expected:
        return [
            f"{key}.m: {layer.m} must be < the expected members ({shown}) "
            "(each new member links to m earlier ones)"
        ]
    if isinstance(layer, ErdosRenyiLayer) and layer.mean_degree >= expected:
        return [
            f"{key}.mean_degree: {layer.mean_degree:g} must be < the expected members ({shown}) "
            "(a member has at most members - 1 contacts)"
        ]
    return []


def build_population(population: PopulationSpec, rng: np.random.Generator) -> np.ndarray:
    """Each agent's age code (int8 index into ``age_groups``): counts by multinomial(N, shares),
    then a uniform permutation, which is the same law as i.i.d. draws per agent."""
    shares = np.array(list(population.age_groups.values()), dtype=np.float64)
    counts = rng.multinomial(population.size, shares / shares.sum())
    codes = np.repeat(np.arange(len(shares), dtype=np.int8), counts)
    return rng.permutation(codes)


@dataclass(frozen=True)
class ContactNetwork:
    """All layers over ``N`` agents: static edges as one CSR, random layers as member lists.

    Row ``i`` is ``indices[indptr[i]:indptr[i+1]]`` (neighbours ascending, then by layer code)
    with ``layer`` giving each entry's layer (an index into ``names``); every undirected edge is
    stored in both rows, no self loops, no duplicate ``(i, j, layer)``. Per layer ``l``:
    ``transmission[l]``, ``contacts_per_day[l]`` (0 for static layers), ``members[l]`` (count),
    and for a random layer its members ``random_members[random_ptr[l]:random_ptr[l+1]]``
    (ascending ids; empty for static layers).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    indptr: np.ndarray
    indices: np.ndarray
    layer: np.ndarray
    transmission: np.ndarray
    contacts_per_day: np.ndarray
    random_ptr: np.ndarray
    random_members: np.ndarray
    members: np.ndarray

    @property
    def n_agents(self) -> int:
        """Number of agents N."""
        return int(self.indptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        """Stored CSR entries (each undirected edge counts twice, once per direction)."""
        return int(self.indices.shape[0])

    def degree(self, layer: int | str) -> np.ndarray:
        """int64[N]: each agent's number of contacts in ``layer`` (a code or a name)."""
        code = self.names.index(layer) if isinstance(layer, str) else layer
        in_layer = np.zeros(self.n_edges + 1, dtype=np.int64)
        np.cumsum(self.layer == code, out=in_layer[1:])
        return in_layer[self.indptr[1:]] - in_layer[self.indptr[:-1]]


def build_contacts(
    population: PopulationSpec,
    contacts: Mapping[str, Layer],
    age: np.ndarray,
    rng: np.random.Generator,
) -> ContactNetwork:
    """Build every layer over the agents whose age codes are ``age`` (from ``build_population``).

    Raises ``ValueError`` listing ``contact_problems`` if there are any. Layers are built in
    the mapping's order, each from its own Generator seeded by one draw of ``rng``, so appending
    a layer leaves the earlier layers' edges unchanged.
    """
    problems = contact_problems(population, contacts)
    if problems:
        raise ValueError("; ".join(problems))
    if age.shape != (population.size,):
        raise ValueError(f"age: shape {age.shape}, expected ({population.size},)")
    group_code = {g: c for c, g in enumerate(population.age_groups)}
    n_layers = len(contacts)
    us, vs, codes = [], [], []
    random_parts = []
    random_ptr = np.zeros(n_layers + 1, dtype=np.int64)
    members_count = np.zeros(n_layers, dtype=np.int64)
    for code, layer in enumerate(contacts.values()):
        layer_rng = np.random.default_rng(rng.integers(2**63))
        groups = population.age_groups if layer.ages is None else layer.ages
        members = np.flatnonzero(np.isin(age, [group_code[g] for g in groups])).astype(np.int32)
        members_count[code] = members.shape[0]
        if isinstance(layer, RandomLayer):
            random_parts.append(members)
            random_ptr[code + 1] = random_ptr[code] + members.shape[0]
            continue
        random_ptr[code + 1] = random_ptr[code]
        u, v = _layer_edges(layer, members, layer_rng)
        us.append(u)
        vs.append(v)
        codes.append(np.full(u.shape[0], code, dtype=np.int8))
    empty32 = np.empty(0, dtype=np.int32)
    u_all = np.concatenate(us) if us else empty32
    v_all = np.concatenate(vs) if vs else empty32
    del us, vs
    indptr, indices, layer_codes = kernels.edges_to_csr(
        population.size,
        u_all,
        v_all,
        np.concatenate(codes) if codes else np.empty(0, dtype=np.int8),
        n_layers,
    )
    layers = list(contacts.values())
    return ContactNetwork(
        names=tuple(contacts),
        kinds=tuple(layer.kind for layer in layers),
        indptr=indptr,
        indices=indices,
        layer=layer_codes,
        transmission=np.array([layer.transmission for layer in layers], dtype=np.float64),
        contacts_per_day=np.array(
            [layer.contacts_per_day if isinstance(layer, RandomLayer) else 0.0 for layer in layers],
            dtype=np.float64,
        ),
        random_ptr=random_ptr,
        random_members=np.concatenate(random_parts) if random_parts else empty32,
        members=members_count,
    )


def _layer_edges(
    layer: Layer, members: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The undirected edges ``(u, v)`` (int32 agent ids) of one static layer over ``members``.

    Graphs too dense for the actual member count (which is random, while ``contact_problems``
    checks the expected one) become cliques or cap their degree, rather than failing mid-run.
    """
    n = members.shape[0]
    if isinstance(layer, HouseholdLayer):
        p = np.array(layer.sizes) / math.fsum(layer.sizes)
        order = rng.permutation(members)
        sizes = _cut(
            n, float(np.arange(1, len(p) + 1) @ p), lambda k: rng.choice(len(p), k, p=p) + 1
        )
        return kernels.clique_edges(order, sizes)
    if isinstance(layer, SchoolLayer):
        order = rng.permutation(members)
        return kernels.clique_edges(order, _class_sizes(n, layer.school_size, layer.class_size))
    if isinstance(layer, WorkplaceLayer):
        order = rng.permutation(members)
        lam = layer.mean_size - 1.0
        sizes = _cut(n, layer.mean_size, lambda k: rng.poisson(lam, k) + 1)
        return kernels.workplace_edges(order, sizes, layer.contacts, rng)
    if isinstance(layer, ErdosRenyiLayer):
        if n < 2:
            return _no_edges()
        p = layer.mean_degree / (n - 1)
        if p >= 1.0:
            return kernels.clique_edges(members, np.array([n], dtype=np.int64))
        a, b = kernels.erdos_renyi_edges(n, p, rng)  # members are exchangeable: no shuffle
        return members[a], members[b]
    # Ring position and arrival order matter in these two graphs: shuffle so that they carry no
    # trace of agent ids.
    order = rng.permutation(members)
    if isinstance(layer, WattsStrogatzLayer):
        k = min(layer.degree, (n - 1) - (n - 1) % 2) if n > 0 else 0
        if k < 2:
            return _no_edges()
        a, b = kernels.watts_strogatz_edges(n, k, layer.rewire, rng)
        return order[a], order[b]
    assert isinstance(layer, BarabasiAlbertLayer)
    if n <= layer.m + 1:
        return kernels.clique_edges(order, np.array([n], dtype=np.int64))
    a, b = kernels.barabasi_albert_edges(n, layer.m, rng)
    return order[a], order[b]


def _no_edges() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32)


def _cut(n: int, mean: float, draw: Callable[[int], np.ndarray]) -> np.ndarray:
    """Group sizes (int64) of i.i.d. ``draw``s covering ``n`` members, the last one cut short.

    Draws in chunks of about ``n / mean`` (plus slack) so the usual case is one call.
    """
    chunks = []
    total = 0
    while total < n:
        chunk = draw(int(n / mean * 1.02) + 64).astype(np.int64)
        chunks.append(chunk)
        total += int(chunk.sum())
    if not chunks:
        return np.empty(0, dtype=np.int64)
    sizes = np.concatenate(chunks)
    ends = np.cumsum(sizes)
    last = int(np.searchsorted(ends, n))
    sizes = sizes[: last + 1]
    sizes[last] -= ends[last] - n
    return sizes


def _class_sizes(n: int, school_size: int, class_size: int) -> np.ndarray:
    """Sizes of the classes of ``n`` pupils in consecutive schools of ``school_size``."""

    def classes(pupils: int) -> list[int]:
        full, rest = divmod(pupils, class_size)
        return [class_size] * full + ([rest] if rest else [])

    full_schools, rest = divmod(n, school_size)
    one = np.array(classes(school_size), dtype=np.int64)
    return np.concatenate([np.tile(one, full_schools), np.array(classes(rest), dtype=np.int64)])
