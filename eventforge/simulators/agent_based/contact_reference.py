"""Plain references of the contact kernels, written for clarity, for tests to compare against.

Each function takes the same arguments as its kernel in ``contact_kernels`` and, given a
Generator in the same state, draws the same numbers in the same order, so results are equal.
"""

from __future__ import annotations

import math

import numpy as np


def _pairs(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.array(pairs, dtype=np.int32).reshape(-1, 2)
    return arr[:, 0].copy(), arr[:, 1].copy()


def clique_edges(order: np.ndarray, group_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs within consecutive groups of ``order``."""
    pairs = []
    start = 0
    for s in group_sizes:
        group = [int(x) for x in order[start : start + s]]
        pairs += [(group[a], group[b]) for a in range(s) for b in range(a + 1, s)]
        start += s
    return _pairs(pairs)


def workplace_edges(
    order: np.ndarray, group_sizes: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each member links to ``min(k, size - 1)`` distinct co-workers (Floyd's sampling)."""
    pairs = []
    start = 0
    for s in group_sizes:
        c = min(k, s - 1)
        for a in range(s):
            chosen: list[int] = []
            for j in range(s - 1 - c, s - 1):
                t = int(rng.random() * (j + 1))
                chosen.append(j if t in chosen else t)
            others = [x for x in range(s) if x != a]
            pairs += [(int(order[start + a]), int(order[start + others[x]])) for x in chosen]
        start += s
    return _pairs(pairs)


def erdos_renyi_edges(n: int, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """G(n, p): pairs ``(v, w)``, ``w < v``, enumerated row by row, skipping a geometric number
    of non-edges between two edges."""
    pairs = []
    v, w = 1, -1
    while v < n:
        w += 1 + math.floor(math.log(1.0 - rng.random()) / math.log(1.0 - p))
        while w >= v and v < n:
            w -= v
            v += 1
        if v < n:
            pairs.append((v, w))
    return _pairs(pairs)


def watts_strogatz_edges(
    n: int, k: int, rewire: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ring lattice of degree ``k``, slot ``(u, u + j)`` rewired with probability ``rewire``."""
    slots = [(x, (x + j) % n) for j in range(1, k // 2 + 1) for x in range(n)]
    linked = {frozenset(s) for s in slots}
    degree = [k] * n
    for i, (x, old) in enumerate(slots):
        if rng.random() >= rewire or degree[x] >= n - 1:
            continue
        w = int(rng.random() * n)
        while w == x or frozenset((x, w)) in linked:
            w = int(rng.random() * n)
        linked.remove(frozenset((x, old)))
        linked.add(frozenset((x, w)))
        degree[old] -= 1
        degree[w] += 1
        slots[i] = (x, w)
    return _pairs(slots)


def barabasi_albert_edges(
    n: int, m: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Clique of ``0..m``, then each node links to ``m`` distinct nodes picked by degree."""
    pairs = [(x, y) for x in range(m + 1) for y in range(x + 1, m + 1)]
    ends = [x for pair in pairs for x in pair]
    for t in range(m + 1, n):
        targets: list[int] = []
        while len(targets) < m:
            pick = ends[int(rng.random() * len(ends))]
            if pick not in targets:
                targets.append(pick)
        pairs += [(t, y) for y in targets]
        ends += [x for y in targets for x in (t, y)]
    return _pairs(pairs)


def edges_to_csr(
    n: int, u: np.ndarray, v: np.ndarray, layer: np.ndarray, n_layers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both directions, self loops dropped, unique ``(row, neighbour, layer)`` in sorted order."""
    keep = u != v
    src = np.concatenate([u[keep], v[keep]]).astype(np.int64)
    dst = np.concatenate([v[keep], u[keep]]).astype(np.int64)
    codes = np.concatenate([layer[keep], layer[keep]]).astype(np.int64)
    triples = np.unique(np.stack([src, dst, codes], axis=1), axis=0)  # sorted lexicographically
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(triples[:, 0], minlength=n), out=indptr[1:])
    return indptr, triples[:, 1].astype(np.int32), triples[:, 2].astype(np.int8)
