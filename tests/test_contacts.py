"""Population and contact layers: validation, structure against graph theory, CSR invariants,
determinism, and each kernel against its plain reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from scipy import stats

from eventforge.simulators.agent_based import contact_kernels as kernels
from eventforge.simulators.agent_based import contact_reference as reference
from eventforge.simulators.agent_based.contacts import (
    ContactNetwork,
    Layer,
    PopulationSpec,
    build_contacts,
    build_population,
    contact_problems,
)

LAYERS = TypeAdapter(dict[str, Layer])
AGES = {"children": 0.2, "adults": 0.6, "elderly": 0.2}
HOUSEHOLD_SIZES = [0.28, 0.35, 0.15, 0.13, 0.06, 0.03]


def population(size: int, ages: dict[str, float] | None = None) -> PopulationSpec:
    return PopulationSpec.model_validate({"size": size, "age_groups": ages or AGES})


def layers(d: dict) -> dict[str, Layer]:
    return LAYERS.validate_python(d, strict=True)


def build(size: int, d: dict, seed: int = 1) -> ContactNetwork:
    pop = population(size)
    rng = np.random.default_rng(seed)
    return build_contacts(pop, layers(d), build_population(pop, rng), rng)


def layer_edges(net: ContactNetwork, name: str) -> np.ndarray:
    """The layer's entries as sorted ``(row, neighbour)`` pairs."""
    rows = np.repeat(np.arange(net.n_agents), np.diff(net.indptr))
    keep = net.layer == net.names.index(name)
    return np.stack([rows[keep], net.indices[keep]], axis=1)


def assert_csr_invariants(net: ContactNetwork) -> None:
    n = net.n_agents
    assert net.indptr[0] == 0 and net.indptr[-1] == net.n_edges
    assert np.all(np.diff(net.indptr) >= 0)
    assert net.indices.dtype == np.int32 and net.layer.dtype == np.int8
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(net.indptr))
    assert np.all(rows != net.indices), "self loop"
    key = (rows * n + net.indices) * len(net.names) + net.layer
    assert np.all(np.diff(key) > 0), "rows not sorted by (neighbour, layer) or duplicates"
    mirrored = np.sort((net.indices.astype(np.int64) * n + rows) * len(net.names) + net.layer)
    assert np.array_equal(key, mirrored), "not symmetric"
    static = [i for i, k in enumerate(net.kinds) if k != "random"]
    assert np.all(np.isin(net.layer, static))
    for code, kind in enumerate(net.kinds):
        members = net.random_members[net.random_ptr[code] : net.random_ptr[code + 1]]
        if kind == "random":
            assert members.shape[0] == net.members[code]
            assert np.all(np.diff(members) > 0)
        else:
            assert members.shape[0] == 0 and net.contacts_per_day[code] == 0.0


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"size": 0, "age_groups": {"a": 1.0}}, "size"),
        ({"size": True, "age_groups": {"a": 1.0}}, "size"),
        ({"size": 10, "age_groups": {}}, "age_groups"),
        ({"size": 10, "age_groups": {"a": 0.5, "b": 0.4}}, "age_groups"),
        ({"size": 10, "age_groups": {"a": 1.0, "b": 0.0}}, "age_groups"),
        ({"size": 10, "age_groups": {"a": math.nan}}, "age_groups"),
    ],
)
def test_population_spec_rejects(spec: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        PopulationSpec.model_validate(spec)


def test_age_shares_tolerance_is_1e_6() -> None:
    PopulationSpec.model_validate({"size": 10, "age_groups": {"a": 0.3333333, "b": 0.6666666}})


@pytest.mark.parametrize(
    ("layer", "field"),
    [
        ({"kind": "household", "transmission": 0.1, "sizes": [0.5, 0.4]}, "sizes"),
        ({"kind": "household", "transmission": 1.5, "sizes": [1.0]}, "transmission"),
        ({"kind": "household", "transmission": math.nan, "sizes": [1.0]}, "transmission"),
        ({"kind": "school", "transmission": 0.1, "school_size": 0, "class_size": 1}, "school_size"),
        ({"kind": "workplace", "transmission": 0.1, "mean_size": 0.5, "contacts": 2}, "mean_size"),
        ({"kind": "workplace", "transmission": 0.1, "mean_size": 5.0, "contacts": 0}, "contacts"),
        ({"kind": "erdos_renyi", "transmission": 0.1, "mean_degree": -1.0}, "mean_degree"),
        ({"kind": "watts_strogatz", "transmission": 0.1, "degree": 4, "rewire": 2.0}, "rewire"),
        ({"kind": "barabasi_albert", "transmission": 0.1, "m": 0}, "m"),
        ({"kind": "random", "transmission": 0.1, "contacts_per_day": math.inf}, "contacts_per_day"),
        ({"kind": "random", "transmission": 0.1, "contacts_per_day": 1.0, "extra": 1}, "extra"),
        ({"kind": "ring", "transmission": 0.1}, "ring"),
    ],
)
def test_layer_rejects(layer: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        layers({"x": layer})


def _problems(size: int, d: dict, ages: dict[str, float] | None = None) -> list[str]:
    return contact_problems(population(size, ages), layers(d))


KIDS = {"children": 0.2, "adults": 0.8}


@pytest.mark.parametrize(
    ("size", "layer", "message"),
    [
        (
            1000,
            {"kind": "random", "transmission": 0.1, "contacts_per_day": 1.0, "ages": ["kids"]},
            "contacts.x.ages: unknown age group 'kids' (age groups: children, adults)",
        ),
        (
            4,
            {"kind": "random", "transmission": 0.1, "contacts_per_day": 1.0, "ages": ["children"]},
            "contacts.x: no members (ages ['children'] are 0.8 of 4 agents)",
        ),
        (
            1000,
            {"kind": "random", "transmission": 0.1, "contacts_per_day": 1.0, "ages": []},
            "contacts.x: no members (ages [] are 0 of 1000 agents)",
        ),
        (
            1000,
            {"kind": "random", "transmission": 0.1, "contacts_per_day": 1, "ages": ["adults"] * 2},
            "contacts.x.ages: age groups listed twice: ['adults']",
        ),
        (
            1000,
            {"kind": "watts_strogatz", "transmission": 0.1, "degree": 3, "rewire": 0.1},
            "contacts.x.degree: must be even (got 3",
        ),
        (
            20,
            {
                "kind": "watts_strogatz",
                "transmission": 0.1,
                "degree": 4,
                "ages": ["children"],
                "rewire": 0.1,
            },
            "contacts.x.degree: 4 must be < the expected members (4)",
        ),
        (
            20,
            {"kind": "barabasi_albert", "transmission": 0.1, "m": 5, "ages": ["children"]},
            "contacts.x.m: 5 must be < the expected members (4)",
        ),
        (
            20,
            {"kind": "erdos_renyi", "transmission": 0.1, "mean_degree": 4.0, "ages": ["children"]},
            "contacts.x.mean_degree: 4 must be < the expected members (4)",
        ),
        (
            1000,
            {"kind": "school", "transmission": 0.1, "school_size": 20, "class_size": 25},
            "contacts.x.school_size: 20 is smaller than class_size 25",
        ),
    ],
)
def test_contact_problems_each_message(size: int, layer: dict, message: str) -> None:
    problems = _problems(size, {"x": layer}, KIDS)
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_contact_problems_empty_and_too_many_and_valid() -> None:
    assert _problems(100, {}) == ["contacts: no layers (at least one is required)"]
    many = {
        f"l{i}": {"kind": "random", "transmission": 0.1, "contacts_per_day": 1.0}
        for i in range(128)
    }
    assert _problems(100, many) == ["contacts: 128 layers (at most 127)"]
    assert _problems(1000, {"h": {"kind": "household", "transmission": 0.2, "sizes": [1.0]}}) == []


def test_build_contacts_raises_problems_and_bad_age_shape() -> None:
    pop = population(100)
    rng = np.random.default_rng(0)
    bad = layers({"w": {"kind": "watts_strogatz", "transmission": 0.1, "degree": 3, "rewire": 0}})
    with pytest.raises(ValueError, match=r"contacts\.w\.degree: must be even"):
        build_contacts(pop, bad, build_population(pop, rng), rng)
    ok = layers({"r": {"kind": "random", "transmission": 0.1, "contacts_per_day": 1.0}})
    with pytest.raises(ValueError, match=r"age: shape \(99,\), expected \(100,\)"):
        build_contacts(pop, ok, np.zeros(99, dtype=np.int8), rng)


# --- population -----------------------------------------------------------------------------


def test_population_age_shares_and_shuffle() -> None:
    n = 200_000
    age = build_population(population(n), np.random.default_rng(3))
    assert age.dtype == np.int8 and age.shape == (n,)
    counts = np.bincount(age, minlength=3)
    for count, p in zip(counts, AGES.values(), strict=True):
        # Multinomial marginal: Binomial(n, p), SE sqrt(n p (1 - p)).
        assert abs(count - n * p) < 4 * math.sqrt(n * p * (1 - p))
    # The permutation spreads each group over all ids: the first half holds half of the
    # children up to a hypergeometric SE < sqrt(n p / 4).
    kids_first = np.count_nonzero(age[: n // 2] == 0)
    assert abs(kids_first - counts[0] / 2) < 4 * math.sqrt(counts[0] / 4)


# --- structure against theory ---------------------------------------------------------------


def test_household_sizes_match_the_distribution() -> None:
    net = build(
        100_000, {"h": {"kind": "household", "transmission": 0.1, "sizes": HOUSEHOLD_SIZES}}
    )
    assert_csr_invariants(net)
    deg = net.degree("h")
    # Households are disjoint cliques: a member of a household of size s has degree s - 1, so
    # there are count(deg == s - 1) / s households of size s.
    per_size = np.bincount(deg, minlength=len(HOUSEHOLD_SIZES))
    households = per_size / np.arange(1, len(per_size) + 1)
    assert np.allclose(households, np.round(households))
    observed = np.round(households).astype(np.int64)
    assert observed.shape[0] == len(HOUSEHOLD_SIZES)
    expected = observed.sum() * np.array(HOUSEHOLD_SIZES)
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < stats.chi2.ppf(1 - 1e-4, df=len(HOUSEHOLD_SIZES) - 1)
    # Each member's neighbourhood plus itself is the same set for every member: a clique.
    rows = layer_edges(net, "h")
    first = rows[rows[:, 0] == rows[0, 0], 1]
    for j in first:
        assert set(rows[rows[:, 0] == j, 1]) | {j} == set(first) | {rows[0, 0]}


def test_school_classes_are_cliques_of_class_size() -> None:
    net = build(
        50_000,
        {
            "s": {
                "kind": "school",
                "transmission": 0.1,
                "ages": ["children"],
                "school_size": 100,
                "class_size": 25,
            }
        },
        seed=2,
    )
    assert_csr_invariants(net)
    pop = population(50_000)
    age = build_population(pop, np.random.default_rng(2))
    deg = net.degree("s")
    assert np.all(deg[age != 0] == 0)
    # Classes are full (25 - 1 contacts) except the last class of the last (partial) school.
    short = deg[(age == 0) & (deg != 24)]
    assert short.shape[0] < 25 and np.all(short == short.shape[0] - 1)
    assert net.members[0] == np.count_nonzero(age == 0)


def test_workplace_degrees_are_size_biased_poisson_when_k_covers_the_workplace() -> None:
    # mean_size 2: sizes 1 + Poisson(1); k = 20 exceeds every size here, so workplaces are
    # cliques and a member's degree d = s - 1 has the size-biased law (d + 1) Pois(d; 1) / 2.
    net = build(
        60_000,
        {
            "w": {
                "kind": "workplace",
                "transmission": 0.1,
                "ages": ["adults"],
                "mean_size": 2.0,
                "contacts": 20,
            }
        },
        seed=4,
    )
    assert_csr_invariants(net)
    deg = net.degree("w")
    pop_age = build_population(population(60_000), np.random.default_rng(4))
    deg = deg[pop_age == 1]
    d = np.arange(5)
    p = (d + 1) * stats.poisson.pmf(d, 1.0) / 2.0
    observed = np.bincount(np.minimum(deg, 4), minlength=5)
    expected = deg.shape[0] * np.append(p[:4], 1.0 - p[:4].sum())
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < stats.chi2.ppf(1 - 1e-4, df=4)


def test_workplace_links_k_distinct_coworkers_and_mean_degree() -> None:
    n_work, size, k = 3000, 30, 5
    order = np.random.default_rng(0).permutation(n_work * size).astype(np.int32)
    sizes = np.full(n_work, size, dtype=np.int64)
    u, v = kernels.workplace_edges(order, sizes, k, np.random.default_rng(1))
    assert u.shape[0] == n_work * size * k
    place = np.empty(n_work * size, dtype=np.int64)
    place[order] = np.repeat(np.arange(n_work), size)
    assert np.all(place[u] == place[v]) and np.all(u != v)
    out = np.unique(u.astype(np.int64) * order.shape[0] + v)
    assert out.shape[0] == u.shape[0], "a member picked the same co-worker twice"
    # Symmetrised: pair (a, b) is linked unless neither picks the other,
    # P = 1 - (1 - k/(s-1))^2; workplaces are independent, so the SE of the mean degree is the
    # std of the per-workplace mean degrees over sqrt(number of workplaces).
    n = order.shape[0]
    pairs = np.unique(np.minimum(u, v).astype(np.int64) * n + np.maximum(u, v))
    deg = np.bincount(np.concatenate([pairs // n, pairs % n]), minlength=n)
    per_place = np.bincount(place, weights=deg) / size
    theory = (size - 1) * (1 - (1 - k / (size - 1)) ** 2)
    assert abs(per_place.mean() - theory) < 4 * per_place.std() / math.sqrt(n_work)


def test_erdos_renyi_edge_count_and_degree_variance() -> None:
    n, c = 20_000, 8.0
    net = build(n, {"g": {"kind": "erdos_renyi", "transmission": 0.1, "mean_degree": c}}, seed=5)
    assert_csr_invariants(net)
    deg = net.degree("g")
    # Edges ~ Binomial(n(n-1)/2, p) with p = c/(n-1): mean n c / 2, SD sqrt(mean (1 - p)).
    edges = deg.sum() / 2
    p = c / (n - 1)
    mean = n * (n - 1) / 2 * p
    assert abs(edges - mean) < 4 * math.sqrt(mean * (1 - p))
    # Degrees are Binomial(n - 1, p): variance c (1 - p); the sample variance's SE is about
    # sqrt(2/n) var for near-Poisson degrees (plus a 1/c excess-kurtosis term, < 20% here).
    var = c * (1 - p)
    assert abs(deg.var() - var) < 4 * var * math.sqrt((2 + 1 / c) / n)


def test_watts_strogatz_lattice_clustering_and_rewiring() -> None:
    n, k = 20_000, 6
    lattice = build(
        2_000, {"g": {"kind": "watts_strogatz", "transmission": 0.1, "degree": k, "rewire": 0.0}}
    )
    assert_csr_invariants(lattice)
    assert np.all(lattice.degree("g") == k)
    assert clustering(lattice, "g") == pytest.approx(3 * (k - 2) / (4 * (k - 1)), abs=1e-12)
    p = 0.2
    a, b = kernels.watts_strogatz_edges(n, k, p, np.random.default_rng(6))
    assert np.bincount(np.concatenate([a, b]), minlength=n).sum() == n * k
    assert np.unique(np.sort(np.stack([a, b], axis=1), axis=1), axis=0).shape[0] == n * k // 2
    # Rewired slots ~ Binomial(n k / 2, p); a rewired edge lands back within ring distance k/2
    # with probability < k/n, so the count of far edges is lower by at most that bias.
    ring = np.minimum((a - b) % n, (b - a) % n)
    far = np.count_nonzero(ring > k // 2)
    slots = n * k // 2
    assert abs(far - slots * p) < 4 * math.sqrt(slots * p * (1 - p)) + slots * p * k / n


def clustering(net: ContactNetwork, name: str) -> float:
    """Mean local clustering coefficient (Watts & Strogatz 1998) over agents of degree >= 2."""
    edges = layer_edges(net, name)
    nbrs: dict[int, set[int]] = {}
    for i, j in edges:
        nbrs.setdefault(int(i), set()).add(int(j))
    values = []
    for s in nbrs.values():
        d = len(s)
        if d >= 2:
            links = sum(len(nbrs[j] & s) for j in s) / 2
            values.append(links / (d * (d - 1) / 2))
    return float(np.mean(values))


def test_barabasi_albert_mean_degree_and_power_law_tail() -> None:
    n, m = 20_000, 3
    net = build(n, {"g": {"kind": "barabasi_albert", "transmission": 0.1, "m": m}}, seed=7)
    assert_csr_invariants(net)
    deg = net.degree("g")
    # Exactly m(m+1)/2 + (n-m-1)m edges: mean degree 2m - m(m+1)/n.
    assert deg.sum() == 2 * (m * (m + 1) // 2 + (n - m - 1) * m)
    assert deg.min() == m
    # P(K >= k) = m(m+1) / (k(k+1)) (Bollobas, Riordan, Spencer & Tusnady 2001); counts above
    # k are near Poisson, SE sqrt(expected). A Poisson graph of mean 2m has none above 30.
    for k in (10, 30):
        expected = n * m * (m + 1) / (k * (k + 1))
        assert abs(np.count_nonzero(deg >= k) - expected) < 4 * math.sqrt(expected)


def test_dense_layers_over_few_actual_members_become_cliques() -> None:
    # The checks use the expected member count; when the draw leaves fewer members than a graph
    # needs, the builders cap rather than fail: 3 members here for every layer.
    pop = population(40, {"a": 0.5, "b": 0.5})
    age = np.ones(40, dtype=np.int8)
    age[:3] = 0
    net = build_contacts(
        pop,
        layers(
            {
                "ws": {
                    "kind": "watts_strogatz",
                    "transmission": 0.1,
                    "degree": 4,
                    "rewire": 0.5,
                    "ages": ["a"],
                },
                "ba": {"kind": "barabasi_albert", "transmission": 0.1, "m": 3, "ages": ["a"]},
                "er": {
                    "kind": "erdos_renyi",
                    "transmission": 0.1,
                    "mean_degree": 5.0,
                    "ages": ["a"],
                },
            }
        ),
        age,
        np.random.default_rng(0),
    )
    assert_csr_invariants(net)
    for name in net.names:
        assert np.array_equal(net.degree(name), np.where(age == 0, 2, 0))


# --- CSR and determinism --------------------------------------------------------------------

MIXED = {
    "home": {"kind": "household", "transmission": 0.2, "sizes": HOUSEHOLD_SIZES},
    "school": {
        "kind": "school",
        "transmission": 0.1,
        "ages": ["children"],
        "school_size": 200,
        "class_size": 20,
    },
    "work": {
        "kind": "workplace",
        "transmission": 0.05,
        "ages": ["adults"],
        "mean_size": 8.0,
        "contacts": 4,
    },
    "town": {
        "kind": "random",
        "transmission": 0.01,
        "contacts_per_day": 3.0,
        "ages": ["adults", "elderly"],
    },
    "er": {"kind": "erdos_renyi", "transmission": 0.02, "mean_degree": 2.0},
}


def test_mixed_network_invariants_and_layer_arrays() -> None:
    net = build(20_000, MIXED, seed=8)
    assert_csr_invariants(net)
    assert net.names == tuple(MIXED)
    assert net.kinds == ("household", "school", "workplace", "random", "erdos_renyi")
    assert np.array_equal(net.transmission, [0.2, 0.1, 0.05, 0.01, 0.02])
    assert np.array_equal(net.contacts_per_day, [0.0, 0.0, 0.0, 3.0, 0.0])
    age = build_population(population(20_000), np.random.default_rng(8))
    town = net.random_members[net.random_ptr[3] : net.random_ptr[4]]
    assert np.array_equal(town, np.flatnonzero(age != 0))
    assert net.members.tolist() == [
        20_000,
        np.count_nonzero(age == 0),
        np.count_nonzero(age == 1),
        town.shape[0],
        20_000,
    ]
    assert np.array_equal(net.degree(2), net.degree("work"))
    assert net.degree("work").sum() > 0 and np.all(net.degree("work")[age != 1] == 0)


def test_same_seed_same_network_and_appending_a_layer_keeps_the_others() -> None:
    a = build(5_000, MIXED, seed=9)
    b = build(5_000, MIXED, seed=9)
    for field in ("indptr", "indices", "layer", "random_ptr", "random_members", "members"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    extra = dict(MIXED, ba={"kind": "barabasi_albert", "transmission": 0.1, "m": 2})
    c = build(5_000, extra, seed=9)
    assert c.degree("ba").sum() > 0
    for name in MIXED:
        assert np.array_equal(layer_edges(a, name), layer_edges(c, name))
    assert not np.array_equal(layer_edges(a, "home"), layer_edges(build(5_000, MIXED, 10), "home"))


# --- kernels against references ---------------------------------------------------------------


def _same(kernel_out: tuple, reference_out: tuple) -> None:
    assert len(kernel_out) == len(reference_out)
    for k, r in zip(kernel_out, reference_out, strict=True):
        assert k.dtype == r.dtype and np.array_equal(k, r)


def _with_rng(name: str, *args: object) -> None:
    """Kernel and reference on the same seed: equal output and the same draws consumed."""
    rk, rr = np.random.default_rng(11), np.random.default_rng(11)
    _same(getattr(kernels, name)(*args, rk), getattr(reference, name)(*args, rr))
    assert rk.random() == rr.random()


def test_clique_kernel_matches_reference() -> None:
    order = np.random.default_rng(0).permutation(60).astype(np.int32)
    sizes = np.array([1, 5, 3, 0, 20, 2, 29], dtype=np.int64)
    _same(kernels.clique_edges(order, sizes), reference.clique_edges(order, sizes))


def test_workplace_kernel_matches_reference() -> None:
    order = np.random.default_rng(0).permutation(200).astype(np.int32)
    _with_rng("workplace_edges", order, np.array([1, 2, 7, 40, 100, 50], dtype=np.int64), 6)


@pytest.mark.parametrize(("n", "p"), [(300, 0.05), (50, 0.9), (2, 0.5)])
def test_erdos_renyi_kernel_matches_reference(n: int, p: float) -> None:
    _with_rng("erdos_renyi_edges", n, p)


@pytest.mark.parametrize(("n", "k", "rewire"), [(200, 6, 0.3), (9, 8, 0.9), (30, 2, 1.0)])
def test_watts_strogatz_kernel_matches_reference(n: int, k: int, rewire: float) -> None:
    _with_rng("watts_strogatz_edges", n, k, rewire)


@pytest.mark.parametrize(("n", "m"), [(500, 3), (10, 8)])
def test_barabasi_albert_kernel_matches_reference(n: int, m: int) -> None:
    _with_rng("barabasi_albert_edges", n, m)


def test_csr_kernel_matches_reference() -> None:
    rng = np.random.default_rng(12)
    n, e = 300, 5_000  # dense enough for duplicates, self loops and rows longer than 32
    u = rng.integers(0, n, e).astype(np.int32)
    v = rng.integers(0, n, e).astype(np.int32)
    code = rng.integers(0, 3, e).astype(np.int8)
    _same(kernels.edges_to_csr(n, u, v, code, 3), reference.edges_to_csr(n, u, v, code, 3))
    assert np.count_nonzero(u == v) > 0


def test_random_only_network_has_no_edges() -> None:
    net = build(1_000, {"all": {"kind": "random", "transmission": 0.3, "contacts_per_day": 2.0}})
    assert_csr_invariants(net)
    assert net.n_agents == 1_000 and net.n_edges == 0 and np.all(net.indptr == 0)
    assert np.array_equal(net.random_members, np.arange(1_000))
