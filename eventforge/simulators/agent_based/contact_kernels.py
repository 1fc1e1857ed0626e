"""Kernels of the contact layers: the generators that need loops, and the CSR assembly.

Generators work on local indices ``0..n-1`` of a layer's (shuffled) members and return the
undirected edges as two int32 arrays ``(u, v)``, ``u != v``; the caller maps them to agent ids.
Random draws are ``rng.random()`` only (an integer in ``[0, n)`` is ``int(rng.random() * n)``),
so the plain references in ``contact_reference`` draw the same numbers in the same order.
Each kernel's wrapper in ``contacts`` is its only caller.
"""

from __future__ import annotations

import math

import numpy as np

from eventforge._numba import kernel
from eventforge.simulators.monte_carlo.kernels._arrays import grown


@kernel
def clique_edges(order: np.ndarray, group_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs within consecutive groups of ``order`` (households, classes).

    ``order`` (int32 agent ids) is cut into groups of ``group_sizes`` (summing to its length);
    returns ``(u, v)`` with ``u`` before ``v`` in ``order``, group by group.
    """
    total = 0
    for s in group_sizes:
        total += s * (s - 1) // 2
    u = np.empty(total, dtype=np.int32)
    v = np.empty(total, dtype=np.int32)
    e = 0
    start = 0
    for s in group_sizes:
        for a in range(start, start + s):
            for b in range(a + 1, start + s):
                u[e] = order[a]
                v[e] = order[b]
                e += 1
        start += s
    return u, v


@kernel
def workplace_edges(
    order: np.ndarray, group_sizes: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each member of each workplace links to ``min(k, size - 1)`` distinct co-workers.

    Workplaces are consecutive groups of ``order``. A member at position ``a`` of a workplace of
    size ``s`` picks co-workers by Floyd's sampling of ``c`` distinct values from ``0..s-2``
    (Bentley & Floyd, CACM 30(9), 1987: exactly ``c`` draws, uniform over subsets), value ``x``
    meaning position ``x`` if ``x < a`` else ``x + 1`` (skipping itself). Returns the directed
    links ``(member, co-worker)``; a pair chosen from both sides appears twice (the CSR
    assembly removes duplicates).
    """
    total = 0
    for s in group_sizes:
        total += s * min(k, s - 1)
    u = np.empty(total, dtype=np.int32)
    v = np.empty(total, dtype=np.int32)
    chosen = np.empty(k, dtype=np.int64)
    e = 0
    start = 0
    for s in group_sizes:
        c = min(k, s - 1)
        for a in range(s):
            for q in range(c):
                j = s - 1 - c + q
                t = int(rng.random() * (j + 1))
                for r in range(q):
                    if chosen[r] == t:
                        t = j
                        break
                chosen[q] = t
            for q in range(c):
                x = chosen[q]
                u[e] = order[start + a]
                v[e] = order[start + x + (1 if x >= a else 0)]
                e += 1
        start += s
    return u, v


@kernel
def erdos_renyi_edges(n: int, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """G(n, p) for ``0 < p < 1`` in O(n + edges) by geometric skips over the pairs ``w < v``
    (Batagelj & Brandes, Phys. Rev. E 71, 036113 (2005), algorithm G(n, p)).

    Returns ``(v, w)`` with ``v > w``, in the order the pairs are enumerated.
    """
    expected = p * n * (n - 1) / 2.0
    cap = int(expected + 6.0 * math.sqrt(expected + 1.0)) + 16
    u = np.empty(cap, dtype=np.int32)
    w_out = np.empty(cap, dtype=np.int32)
    log_q = math.log(1.0 - p)
    e = 0
    v = 1
    w = -1
    while v < n:
        # Skip a geometric number of non-edges: P(skip >= s) = (1 - p)^s.
        w += 1 + math.floor(math.log(1.0 - rng.random()) / log_q)
        while w >= v and v < n:
            w -= v
            v += 1
        if v < n:
            if e == u.shape[0]:
                u = grown(u, 2 * e)
                w_out = grown(w_out, 2 * e)
            u[e] = v
            w_out[e] = w
            e += 1
    return u[:e].copy(), w_out[:e].copy()


@kernel
def watts_strogatz_edges(
    n: int, k: int, rewire: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A ring lattice (each node linked to its ``k/2`` successors and predecessors) whose edges
    are rewired (Watts & Strogatz, Nature 393, 440 (1998)); requires even ``2 <= k < n``.

    Edge slot ``(u, u + j mod n)`` is visited for ``j = 1..k/2`` (outer) and ``u = 0..n-1``
    (inner); with probability ``rewire`` its far end is replaced by a uniform node ``w`` that is
    neither ``u`` nor already linked to ``u`` (redrawn until so; the slot is kept if ``u`` is
    linked to everyone). The degree sum stays ``n * k``: no edge is lost or duplicated.
    """
    half = k // 2
    m = n * half
    a = np.empty(m, dtype=np.int32)
    b = np.empty(m, dtype=np.int32)
    degree = np.full(n, k, dtype=np.int64)
    present = set()
    for j in range(1, half + 1):
        for x in range(n):
            y = (x + j) % n
            a[(j - 1) * n + x] = x
            b[(j - 1) * n + x] = y
            present.add(min(x, y) * n + max(x, y))
    for j in range(1, half + 1):
        for x in range(n):
            if rng.random() >= rewire or degree[x] >= n - 1:
                continue
            w = int(rng.random() * n)
            while w == x or (min(x, w) * n + max(x, w)) in present:
                w = int(rng.random() * n)
            slot = (j - 1) * n + x
            old = b[slot]
            present.remove(min(x, old) * n + max(x, old))
            present.add(min(x, w) * n + max(x, w))
            degree[old] -= 1
            degree[w] += 1
            b[slot] = w
    return a, b


@kernel
def barabasi_albert_edges(
    n: int, m: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Preferential attachment (Barabasi & Albert, Science 286, 509 (1999)); requires
    ``1 <= m < n - 1``.

    Starts from a clique of nodes ``0..m``; each later node ``t`` links to ``m`` distinct
    earlier nodes, each drawn with probability proportional to its degree by picking a uniform
    entry of the list of all edge endpoints so far (a duplicate pick is redrawn), the new edges
    added to that list only after all ``m`` are chosen. Returns ``(u, v)``, ``m(m+1)/2 +
    (n-m-1)m`` edges.
    """
    n_edges = m * (m + 1) // 2 + (n - m - 1) * m
    u = np.empty(n_edges, dtype=np.int32)
    v = np.empty(n_edges, dtype=np.int32)
    ends = np.empty(2 * n_edges, dtype=np.int32)
    e = 0
    for x in range(m + 1):
        for y in range(x + 1, m + 1):
            u[e] = x
            v[e] = y
            ends[2 * e] = x
            ends[2 * e + 1] = y
            e += 1
    targets = np.empty(m, dtype=np.int32)
    for t in range(m + 1, n):
        n_ends = 2 * e
        for q in range(m):
            dup = True
            while dup:
                pick = ends[int(rng.random() * n_ends)]
                dup = False
                for r in range(q):
                    if targets[r] == pick:
                        dup = True
                        break
            targets[q] = pick
        for q in range(m):
            u[e] = t
            v[e] = targets[q]
            ends[2 * e] = t
            ends[2 * e + 1] = targets[q]
            e += 1
    return u, v


#: Rows up to this length are insertion-sorted: most rows are short, and a library sort's
#: per-call overhead dominates on them.
_SHORT_ROW = 32


@kernel
def _insertion_sort(a: np.ndarray) -> None:
    for i in range(1, a.shape[0]):
        x = a[i]
        j = i - 1
        while j >= 0 and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@kernel
def edges_to_csr(
    n: int, u: np.ndarray, v: np.ndarray, layer: np.ndarray, n_layers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One CSR over ``n`` agents from undirected edges ``(u, v, layer)``.

    Both directions of each edge are stored; self loops and duplicate ``(i, j, layer)`` are
    dropped; within a row entries ascend by neighbour, then by layer. Counting sort by row (a
    pass to count, one to scatter), then each short row sorted on its own, which is O(E log d)
    instead of a global O(E log E) sort. Returns ``(indptr int64[n+1], indices int32,
    layer int8)``.
    """
    start = np.zeros(n + 1, dtype=np.int64)
    for e in range(u.shape[0]):
        if u[e] != v[e]:
            start[u[e] + 1] += 1
            start[v[e] + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
    fill = start[:-1].copy()
    keys = np.empty(start[n], dtype=np.int64)
    for e in range(u.shape[0]):
        a = u[e]
        b = v[e]
        if a != b:
            keys[fill[a]] = np.int64(b) * n_layers + layer[e]
            fill[a] += 1
            keys[fill[b]] = np.int64(a) * n_layers + layer[e]
            fill[b] += 1
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices = np.empty(start[n], dtype=np.int32)
    codes = np.empty(start[n], dtype=np.int8)
    w = 0
    for i in range(n):
        row = keys[start[i] : start[i + 1]]
        if row.shape[0] > _SHORT_ROW:
            row.sort()
        else:
            _insertion_sort(row)
        for q in range(row.shape[0]):
            if q == 0 or row[q] != row[q - 1]:
                indices[w] = row[q] // n_layers
                codes[w] = row[q] % n_layers
                w += 1
        indptr[i + 1] = w
    return indptr, indices[:w].copy(), codes[:w].copy()
