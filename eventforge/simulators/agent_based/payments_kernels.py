"""The payments model's per-day hot loops, as Numba kernels over the arrays the model owns.

Conventions shared with :mod:`payments_reference` (which draws the same numbers in the same order):

- An *owner* is a row of the balance array: customer ``i`` is owner ``i``, merchant ``m`` is
  owner ``N + m``; -1 is outside the bank (salary and cash-in come from it, ATM cash goes to it).
  Account ids are a separate permutation the model applies when it writes the log.
- A day's transactions go to ``tx_time[k]`` (in days from t = 0) and the int64 rows ``tx[k]``
  (columns ``C_*``); amounts are integer cents. The legitimate ledger's rows have ``C_CAUSE``,
  ``C_RARE``, ``C_DECOY`` and ``C_STEP`` -1 and ``C_FRAC`` 0. The rows of fraud, laundering and
  decoy episodes (planned for the whole run by :mod:`payments_typologies`) are *steps* of a plan:
  ``C_STEP`` is the step's index in the plan, ``C_CAUSE`` its cause's step (-1: none), ``C_RARE``
  / ``C_DECOY`` the typology or decoy code, and ``C_FRAC`` makes the amount depend on the ledger
  when the step is applied (see :func:`apply_day`). ``C_TYPE`` beyond the transaction types is
  ``ALERT`` or ``FREEZE``: the bank's actions on account ``C_FROM``.
- :func:`generate_day` grows the buffers itself (the number of transactions is random) and
  returns them; :func:`apply_day` sorts the day by time (stable) and applies it in that order.
"""

from __future__ import annotations

import math

import numpy as np

from eventforge._numba import inline, kernel, prefetch_row

# Transaction types: the order of the log's ``tx_type`` dictionary.
TX_TYPES = ("card", "bill", "p2p", "salary", "atm", "cash_in")
CARD, BILL, P2P, SALARY, ATM, CASH_IN = range(6)
# Channels: the order of the log's ``channel`` dictionary (card payments use the first three).
CHANNEL_NAMES = ("pos", "online", "mobile", "atm", "branch", "transfer")
POS, ONLINE, MOBILE, CH_ATM, BRANCH, TRANSFER = range(6)
#: Row kinds after the transaction types: the bank's alert on, and freeze of, account C_FROM.
ALERT, FREEZE = 6, 7
# Event codes: the vocabulary order of the simulator's EventSpec.
ACCOUNT_OPEN, TRANSACTION, DECLINE, ACCOUNT_FREEZE, ALERT_EVENT = range(5)
# Columns of the int64 rows.
(C_TYPE, C_FROM, C_TO, C_MERCHANT, C_CATEGORY, C_CHANNEL, C_DEVICE, C_CENTS, C_CAUSE, C_RARE,
 C_DECOY, C_FRAC, C_STEP) = range(13)  # fmt: skip
N_COLS = 13
#: ``C_FRAC`` is a fraction in parts per million: > 0 of the payer's available funds (balance +
#: overdraft) when the step is applied, < 0 of the amount its cause step moved.
PPM = 1_000_000
#: Cash comes out of an ATM in notes: a withdrawal whose amount is a fraction is rounded down
#: to a multiple of this (in cents).
NOTE_CENTS = 2000
#: Fractions of a day at which salaries (06:00) and bills (08:00) start arriving; each lands
#: uniformly within the next hour.
SALARY_HOUR, BILL_HOUR = 6.0, 8.0


@inline
def to_cents(amount: float) -> int:
    """An amount rounded to the cent, at least one cent (a payment of 0 is no payment)."""
    return max(1, math.floor(amount * 100.0 + 0.5))


@inline
def draw_in(cum: np.ndarray, lo: int, hi: int, rng: np.random.Generator) -> int:
    """An index in ``[0, hi - lo)`` drawn by the normalised cumulative weights ``cum[lo:hi]``
    (last 1.0): one ``U[0, 1)``, then the first ``k`` with ``cum[lo + k] > U``
    (``searchsorted(side='right')``, written out: Numba's ``np.searchsorted`` on a scalar cost
    ~0.3 us a call). Bounds rather than a slice: a slice passed to an inlined helper builds an
    array object and counts references at every draw."""
    u = rng.random()
    a, b = lo, hi - 1  # cum[hi - 1] = 1.0 > u: the answer is in [a, b]
    while a < b:
        mid = (a + b) >> 1
        if cum[mid] > u:
            b = mid
        else:
            a = mid + 1
    return a - lo


@inline
def draw_row(cum: np.ndarray, row: int, rng: np.random.Generator) -> int:
    """:func:`draw_in` over row ``row`` of the 2-D ``cum`` (no row view: see there)."""
    u = rng.random()
    a, b = 0, cum.shape[1] - 1
    while a < b:
        mid = (a + b) >> 1
        if cum[row, mid] > u:
            b = mid
        else:
            a = mid + 1
    return a


@inline
def draw_index(cum: np.ndarray, rng: np.random.Generator) -> int:
    """:func:`draw_in` over all of the 1-D ``cum``."""
    return draw_in(cum, 0, cum.shape[0], rng)


@kernel
def guide_table(cum: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """The guide table of the cumulative weights ``cum``, cut into segments ``ptr[i] ..
    ptr[i + 1]`` (each ending in 1.0): ``g[lo + j]`` is the first ``k`` with ``cum[lo + k] >
    j / m`` in the segment ``lo .. lo + m``, where a draw's search can start
    (:func:`draw_guided`)."""
    g = np.zeros(cum.shape[0], dtype=np.int64)
    for i in range(ptr.shape[0] - 1):
        lo, m = ptr[i], ptr[i + 1] - ptr[i]
        k = 0
        for j in range(m):
            while k < m - 1 and cum[lo + k] <= j / m:
                k += 1
            g[lo + j] = k
    return g


@inline
def _rows(cum: np.ndarray) -> np.ndarray:
    """The segments of :func:`guide_table` that are the rows of the 2-D ``cum``."""
    return np.arange(cum.shape[0] + 1) * cum.shape[1]


#: ``2**-53``: a 64-bit output's top 53 bits as a double in ``[0, 1)``.
_UNIT = 1.0 / 9007199254740992.0
_MASK = (1 << 64) - 1


class Uniforms:
    """The daily draws' random numbers: SFC64 (Doty-Humphrey's small fast counting generator,
    as in NumPy's ``SFC64``), seeded from the model's generator, stepped inline by the kernels
    on its four words of ``state`` (``a, b, c, counter``), each output's top 53 bits a double
    in ``[0, 1)``.

    Why not the model's ``np.random.Generator``: each of its draws is a call through the bit
    generator's pointer, 7-8 ns here whatever the algorithm (NumPy's own bulk fill is no
    faster), against ~1.5 ns for a few additions and shifts in the kernel; a customer's day
    makes ~20 draws. :meth:`random` steps the same generator in Python, for the references.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        sfc = np.random.SFC64(np.random.SeedSequence(rng.integers(0, 1 << 63, size=4)))
        # NumPy's seeding (SeedSequence, then 12 warm-up steps); its state is (a, b, c, counter).
        self.state = np.array(sfc.state["state"]["state"], dtype=np.uint64)

    def random(self) -> float:
        """The next number, in Python (for the references)."""
        a, b, c, w = (int(x) for x in self.state)
        out = (a + b + w) & _MASK
        self.state[:] = (
            b ^ (b >> 11),
            (c + (c << 3)) & _MASK,
            ((((c << 24) | (c >> 40)) & _MASK) + out) & _MASK,
            (w + 1) & _MASK,
        )
        return (out >> 11) * _UNIT


@inline
def uniform(state: np.ndarray) -> float:
    """The next number of :class:`Uniforms` ``state`` (uint64 arithmetic wraps mod 2**64)."""
    a, b, c, w = state[0], state[1], state[2], state[3]
    out = a + b + w
    state[0] = b ^ (b >> np.uint64(11))
    state[1] = c + (c << np.uint64(3))
    state[2] = ((c << np.uint64(24)) | (c >> np.uint64(40))) + out
    state[3] = w + np.uint64(1)
    return float(out >> np.uint64(11)) * _UNIT


@inline
def pick(m: int, state: np.ndarray) -> int:
    """A uniform index in ``[0, m)``."""
    return int(uniform(state) * m)


@inline
def poisson(parts: int, exp_neg: float, state: np.ndarray) -> int:
    """A Poisson count of mean ``lam``, as the sum of ``parts`` counts of mean ``lam / parts``
    (``exp_neg = exp(-lam / parts)``; :func:`poisson_parts`), each by the multiplication
    method: uniforms multiplied until the product falls to ``exp_neg``."""
    x = 0
    for _ in range(parts):
        prod = uniform(state)
        while prod > exp_neg:
            x += 1
            prod *= uniform(state)
    return x


def poisson_parts(lam: float) -> tuple[int, float]:
    """``(parts, exp(-lam / parts))`` of :func:`poisson`: parts of mean at most 8, where the
    multiplication method's ~``lam + 1`` uniforms stay few and ``exp(-lam)`` far from 0."""
    parts = max(1, math.ceil(lam / 8.0))
    return parts, math.exp(-lam / parts)


@inline
def lognormal(mu: float, sigma: float, state: np.ndarray) -> float:
    """``exp(mu + sigma Z)``, ``Z`` standard normal by Marsaglia's polar method (a point
    uniform in the unit disc; only ``log`` and ``sqrt``, which Python computes alike)."""
    while True:
        x = 2.0 * uniform(state) - 1.0
        y = 2.0 * uniform(state) - 1.0
        r2 = x * x + y * y
        if 0.0 < r2 < 1.0:
            return math.exp(mu + sigma * (x * math.sqrt(-2.0 * math.log(r2) / r2)))


@inline
def draw_guided(cum: np.ndarray, guide: np.ndarray, lo: int, hi: int, state: np.ndarray) -> int:
    """:func:`draw_in`'s index for the next uniform ``U`` (the first ``k`` with ``cum[lo + k]
    > U``), found from the segment's :func:`guide_table` (Chen and Asau's indexed search): the
    guess for ``U`` in ``[j/m, (j+1)/m)`` is at most a step or two from the answer, where a
    bisection over a category's hundreds of merchants took ~9 mispredicted branches (70 ns of
    a card payment's ~270 ns). Both walks make the answer exact whatever the guess."""
    u = uniform(state)
    m = hi - lo
    k = guide[lo + min(int(u * m), m - 1)]
    while cum[lo + k] <= u:
        k += 1
    while k > 0 and cum[lo + k - 1] > u:
        k -= 1
    return k


@inline
def draw_time(day: float, hour_cum: np.ndarray, hour_guide: np.ndarray, state: np.ndarray) -> float:
    """A time in day ``day``: the hour by the hourly weights, then uniform within it."""
    h = draw_guided(hour_cum, hour_guide, 0, hour_cum.shape[0], state)
    return day + (h + uniform(state)) / 24.0


@inline
def _put(
    tx_time: np.ndarray,
    tx: np.ndarray,
    n: int,
    t: float,
    kind: int,
    frm: int,
    to: int,
    merchant: int,
    category: int,
    channel: int,
    device: int,
    cents: int,
) -> int:
    """Write legitimate transaction ``n``; return ``n + 1``."""
    tx_time[n] = t
    tx[n, C_TYPE] = kind
    tx[n, C_FROM] = frm
    tx[n, C_TO] = to
    tx[n, C_MERCHANT] = merchant
    tx[n, C_CATEGORY] = category
    tx[n, C_CHANNEL] = channel
    tx[n, C_DEVICE] = device
    tx[n, C_CENTS] = cents
    tx[n, C_CAUSE] = -1
    tx[n, C_RARE] = -1
    tx[n, C_DECOY] = -1
    tx[n, C_FRAC] = 0
    tx[n, C_STEP] = -1
    return n + 1


def grow(tx_time: np.ndarray, tx: np.ndarray, n: int, need: int) -> tuple[np.ndarray, np.ndarray]:
    """The buffers with room for ``need`` rows (doubling), the first ``n`` rows kept (NumPy's
    arrays: see :func:`apply_day`)."""
    cap = tx_time.shape[0]
    if need <= cap:
        return tx_time, tx
    while cap < need:
        cap *= 2
    new_time = np.empty(cap)
    new_tx = np.empty((cap, N_COLS), dtype=np.int64)
    new_time[:n] = tx_time[:n]
    new_tx[:n] = tx[:n]
    return new_time, new_tx


@inline
def _fits(need: int, cap: int) -> None:
    """The guard of ``reserve`` (see :func:`generate_day`), never expected to fire."""
    if need > cap:
        raise RuntimeError("payments: a customer's day outgrew the reserved buffer rows")


@kernel
def _fill(
    i0: int,
    reserve: int,
    day: int,
    seg: np.ndarray,
    salary_today: np.ndarray,
    salary: np.ndarray,
    bill_ptr: np.ndarray,
    bill_due: np.ndarray,
    bill_mu: np.ndarray,
    bill_sigma: np.ndarray,
    payee: np.ndarray,
    merchant_cat: np.ndarray,
    card_rate: np.ndarray,
    cat_cum: np.ndarray,
    merch_ptr: np.ndarray,
    merch_cum: np.ndarray,
    amount_mu: np.ndarray,
    amount_sigma: np.ndarray,
    channel_cum: np.ndarray,
    hour_cum: np.ndarray,
    dev_ptr: np.ndarray,
    dev_ids: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    p2p_rate: np.ndarray,
    p2p_mu: np.ndarray,
    p2p_sigma: np.ndarray,
    atm_rate: np.ndarray,
    atm_cum: np.ndarray,
    atm_cents: np.ndarray,
    cash_rate: np.ndarray,
    cash_mu: np.ndarray,
    cash_sigma: np.ndarray,
    parts: np.ndarray,
    exp_neg: np.ndarray,
    guides: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    tx_time: np.ndarray,
    tx: np.ndarray,
    n: int,
    state: np.ndarray,
) -> tuple[int, int]:
    """Customers ``i0, i0 + 1, ...`` of :func:`generate_day` while ``reserve`` rows are free
    when a customer starts; returns the next customer and the row count. A function of its own
    so that no loop reassigns the buffers: a loop that may replace its arrays pays
    reference-count updates at every iteration (measured 3x slower)."""
    n_customers = seg.shape[0]
    d = float(day)
    cap = tx_time.shape[0]
    cat_guide, merch_guide, channel_guide, hour_guide, atm_guide = guides
    cat_flat, channel_flat, atm_flat = cat_cum.ravel(), channel_cum.ravel(), atm_cum.ravel()
    n_cat, n_channel, n_atm = cat_cum.shape[1], channel_cum.shape[1], atm_cum.shape[1]
    for i in range(i0, n_customers):
        if cap - n < reserve:
            return i, n
        s = seg[i]
        if salary_today[s]:
            t = d + (SALARY_HOUR + uniform(state)) / 24.0
            n = _put(tx_time, tx, n, t, SALARY, -1, i, -1, -1, TRANSFER, -1, salary[i])
        b0 = bill_ptr[s]
        for b in range(b0, bill_ptr[s + 1]):
            if bill_due[b]:
                t = d + (BILL_HOUR + uniform(state)) / 24.0
                cents = to_cents(lognormal(bill_mu[b], bill_sigma[b], state))
                m = payee[i, b - b0]
                n = _put(
                    tx_time, tx, n, t, BILL, i, n_customers + m, m, merchant_cat[m], TRANSFER,
                    -1, cents,
                )  # fmt: skip
        if card_rate[s] > 0.0:
            k = poisson(parts[0, s], exp_neg[0, s], state)
            _fits(n + k, cap)
            for _ in range(k):
                c = draw_guided(cat_flat, cat_guide, s * n_cat, (s + 1) * n_cat, state)
                lo = merch_ptr[c]
                m = lo + draw_guided(merch_cum, merch_guide, lo, merch_ptr[c + 1], state)
                cents = to_cents(lognormal(amount_mu[c], amount_sigma[c], state))
                channel = draw_guided(
                    channel_flat, channel_guide, c * n_channel, (c + 1) * n_channel, state
                )
                t = draw_time(d, hour_cum, hour_guide, state)
                device = -1
                if channel != POS:
                    dlo = dev_ptr[i]
                    device = dev_ids[dlo + pick(dev_ptr[i + 1] - dlo, state)]
                n = _put(tx_time, tx, n, t, CARD, i, n_customers + m, m, c, channel, device, cents)
        deg = indptr[i + 1] - indptr[i]
        if p2p_rate[s] > 0.0 and deg > 0:
            k = poisson(parts[1, s], exp_neg[1, s], state)
            _fits(n + k, cap)
            for _ in range(k):
                j = indices[indptr[i] + pick(deg, state)]
                cents = to_cents(lognormal(p2p_mu[s], p2p_sigma[s], state))
                t = draw_time(d, hour_cum, hour_guide, state)
                n = _put(tx_time, tx, n, t, P2P, i, j, -1, -1, TRANSFER, -1, cents)
        if atm_rate[s] > 0.0:
            k = poisson(parts[2, s], exp_neg[2, s], state)
            _fits(n + k, cap)
            for _ in range(k):
                cents = atm_cents[
                    s, draw_guided(atm_flat, atm_guide, s * n_atm, (s + 1) * n_atm, state)
                ]
                t = draw_time(d, hour_cum, hour_guide, state)
                n = _put(tx_time, tx, n, t, ATM, i, -1, -1, -1, CH_ATM, -1, cents)
        if cash_rate[s] > 0.0:
            k = poisson(parts[3, s], exp_neg[3, s], state)
            _fits(n + k, cap)
            for _ in range(k):
                cents = to_cents(lognormal(cash_mu[s], cash_sigma[s], state))
                t = draw_time(d, hour_cum, hour_guide, state)
                n = _put(tx_time, tx, n, t, CASH_IN, -1, i, -1, -1, BRANCH, -1, cents)
    return n_customers, n


def generate_day(
    day: int,
    seg: np.ndarray,
    salary_today: np.ndarray,
    salary: np.ndarray,
    bill_ptr: np.ndarray,
    bill_due: np.ndarray,
    bill_mu: np.ndarray,
    bill_sigma: np.ndarray,
    payee: np.ndarray,
    merchant_cat: np.ndarray,
    card_rate: np.ndarray,
    cat_cum: np.ndarray,
    merch_ptr: np.ndarray,
    merch_cum: np.ndarray,
    amount_mu: np.ndarray,
    amount_sigma: np.ndarray,
    channel_cum: np.ndarray,
    hour_cum: np.ndarray,
    dev_ptr: np.ndarray,
    dev_ids: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    p2p_rate: np.ndarray,
    p2p_mu: np.ndarray,
    p2p_sigma: np.ndarray,
    atm_rate: np.ndarray,
    atm_cum: np.ndarray,
    atm_cents: np.ndarray,
    cash_rate: np.ndarray,
    cash_mu: np.ndarray,
    cash_sigma: np.ndarray,
    tx_time: np.ndarray,
    tx: np.ndarray,
    n: int,
    reserve: int,
    uniforms: Uniforms,
) -> tuple[int, np.ndarray, np.ndarray]:
    """Every customer's legitimate transactions of day ``day``, appended after row ``n``.

    Per segment ``s``: ``salary_today[s]``, the day's card rate ``card_rate[s]`` (weekly and
    payday factors applied), ``p2p_rate``/``atm_rate``/``cash_rate`` and the lognormal
    ``(mu, sigma)`` of transfers and deposits, ``atm_cum[s]``/``atm_cents[s]`` (padded rows).
    Bills: segment ``s`` has bills ``bill_ptr[s]..bill_ptr[s+1]`` (``bill_due`` today or not),
    customer ``i`` pays bill ``b`` to merchant ``payee[i, b - bill_ptr[s]]``. Categories ``c``:
    merchants ``merch_ptr[c]..merch_ptr[c+1]`` chosen by ``merch_cum`` (cumulative within the
    category), amount lognormal ``(amount_mu[c], amount_sigma[c])``, channel by
    ``channel_cum[c]``. Customers in ascending order, each drawing: salary time; per due bill time
    then amount; Poisson card count, then per card category, merchant, amount, channel, hour,
    time in hour, device (online/mobile only); P2P (customers with a neighbour) count, then per
    transfer neighbour, amount, hour, time in hour; ATM count, then amount, hour, time in hour;
    cash-in count, then amount, hour, time in hour. A zero rate draws nothing.
    ``reserve`` bounds the rows one customer writes in a day (the model sets it so that a count
    beyond it has probability < 1e-30; exceeding it raises ``RuntimeError``). Random numbers
    come from ``uniforms`` (amounts by :func:`lognormal`, counts by :func:`poisson`). Returns
    ``(n, tx_time, tx)`` (the buffers may have grown)."""
    # The Poisson counts' parts and exp(-rate / parts), once a day rather than at every draw.
    rates = (card_rate, p2p_rate, atm_rate, cash_rate)
    terms = [[poisson_parts(float(lam)) for lam in rate] for rate in rates]
    parts = np.array([[p for p, _ in row] for row in terms], dtype=np.int64)
    exp_neg = np.array([[e for _, e in row] for row in terms])
    guides = (
        guide_table(cat_cum.ravel(), _rows(cat_cum)),
        guide_table(merch_cum, merch_ptr),
        guide_table(channel_cum.ravel(), _rows(channel_cum)),
        guide_table(hour_cum, np.array([0, hour_cum.shape[0]])),
        guide_table(atm_cum.ravel(), _rows(atm_cum)),
    )
    i = 0
    while True:
        i, n = _fill(
            i, reserve, day, seg, salary_today, salary, bill_ptr, bill_due, bill_mu,
            bill_sigma, payee, merchant_cat, card_rate, cat_cum, merch_ptr, merch_cum,
            amount_mu, amount_sigma, channel_cum, hour_cum, dev_ptr, dev_ids, indptr,
            indices, p2p_rate, p2p_mu, p2p_sigma, atm_rate, atm_cum, atm_cents,
            cash_rate, cash_mu, cash_sigma, parts, exp_neg, guides, tx_time, tx, n,
            uniforms.state,
        )  # fmt: skip
        if i >= seg.shape[0]:
            return n, tx_time, tx
        tx_time, tx = grow(tx_time, tx, n, max(2 * tx_time.shape[0], n + reserve))


@kernel
def time_order(t: np.ndarray) -> np.ndarray:
    """The stable argsort of the finite times ``t`` (``np.argsort(t, kind='stable')``), in
    expected linear time: a counting sort into ``n`` equal-width buckets over ``[min, max]``
    (the bucket of a time never decreases with it), then an insertion sort of each bucket that
    moves a row only past strictly later ones. Numba's merge sort took a quarter of a day's
    time; a day's times are spread over the day, so buckets hold about one row each."""
    n = t.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    lo, hi = t.min(), t.max()
    if hi <= lo:
        return np.arange(n)
    scale = n / (hi - lo)
    key = np.empty(n, dtype=np.int64)
    end = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        b = min(int((t[i] - lo) * scale), n - 1)
        key[i] = b
        end[b + 1] += 1
    for b in range(n):
        end[b + 1] += end[b]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):  # ascending i: each bucket holds its rows in written order
        order[end[key[i]]] = i
        end[key[i]] += 1
    start = 0
    for b in range(n):
        for x in range(start + 1, end[b]):
            v = order[x]
            y = x - 1
            while y >= start and t[order[y]] > t[v]:
                order[y + 1] = order[y]
                y -= 1
            order[y + 1] = v
        start = end[b]
    return order


#: Rows ahead whose owners :func:`apply_day` prefetches: far enough for memory's latency
#: (12 to 40 measured alike at a million customers; apply -20%).
PREFETCH = 24
#: Columns of the applied rows (``DayEvents.cols``): those the log needs.
N_OUT = C_DECOY + 1
#: Rows of :func:`apply_day`'s tally: written events by row kind (transactions for the
#: transaction types, then alerts and freezes), declines by type, cents moved by type, events by
#: typology code, events by decoy code. Eight columns hold every kind and code.
T_WRITTEN, T_DECLINED, T_CENTS, T_RARE, T_DECOY = range(5)
TALLY_WIDTH = 8
#: An owner's second word in :func:`_apply` (``own[i, 1]``) packs its account id (the low 32
#: bits), its frozen flag (``FROZEN``) and its overdraft limit in cents (from bit
#: ``LIMIT_SHIFT``), so that an owner is 16 bytes: four to a cache line, and a million
#: customers' owners are 16 MB, half of a 32 MB L3 instead of all of it (apply at a million
#: customers -9%, -12% and +2% in three interleaved A/B runs on a noisy 2-core machine).
ACCT_MASK = (1 << 32) - 1
FROZEN = 1 << 32
LIMIT_SHIFT = 33
#: The largest overdraft limit (cents) the packed word holds, with the word kept positive.
MAX_LIMIT_CENTS = (1 << 30) - 1


def apply_day(
    tx_time: np.ndarray,
    tx: np.ndarray,
    n: int,
    balance: np.ndarray,
    limit: np.ndarray,
    frozen: np.ndarray,
    acct: np.ndarray,
    first_seq: int,
    step_seq: np.ndarray,
    step_cents: np.ndarray,
    buffers: DayBuffers | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort the day's ``n`` rows by time (stable: rows written first stay first on a tie) and
    apply them in that order to ``balance`` (cents by owner).

    A debit succeeds iff the payer is not ``frozen`` and ``balance - amount >= -limit`` (its
    overdraft), else the row is declined and nothing moves; credits from outside always
    succeed. A plan step's amount is ``C_CENTS``, or with ``C_FRAC > 0`` that many parts per
    million of the payer's available funds now, or with ``C_FRAC < 0`` of the amount its cause
    step moved (an ATM's rounded down to notes); a step with nothing to move (no funds, a cause
    that did not succeed) is *dropped*, as is the freeze of an account already frozen. A dropped
    step writes no event and hands its own cause to the steps that follow from it, so that an
    episode stays connected. ``step_seq[s]`` / ``step_cents[s]`` receive each plan step's
    ``seq`` (its cause's when dropped) and the cents it moved (0 unless it succeeded); a row's
    ``seq`` is ``first_seq`` + its place among the rows written.

    Returns the applied day as the log needs it, in one pass: ``(time, cols, event,
    balance_after, entity, tally)``; ``cols[c]`` is column ``c < N_OUT`` of the written rows
    (column-major, so that each is contiguous) with ``C_FROM``/``C_TO`` as account ids
    (``acct[owner]``, -1 outside), ``C_CENTS`` the amount and ``C_CAUSE`` the cause's ``seq``;
    ``event`` is ``TRANSACTION``, ``DECLINE``, ``ACCOUNT_FREEZE`` or ``ALERT_EVENT``;
    ``balance_after`` the payer's balance after a successful debit, or the payee's after a
    credit from outside (0 otherwise); ``entity`` the payer's account (the payee's for credits
    from outside, the account acted on for alerts and freezes); ``tally`` the day's counts
    (rows ``T_*``), so that the simulator's summary needs no pass of its own over the day.

    ``buffers`` keeps the scratch arrays from one day to the next (a new set when None). Every
    array is allocated here, by NumPy, rather than in the kernel: NumPy asks Linux for
    transparent huge pages on large arrays, and at a million customers a day's ~600 MB of rows
    on 4 KiB pages missed the TLB at nearly every scattered row (apply -23% with huge pages and
    reused scratch; same output)."""
    if limit.shape[0] and (limit.max() > MAX_LIMIT_CENTS or acct.max() > ACCT_MASK):
        raise ValueError(
            f"apply_day packs overdraft limits up to {MAX_LIMIT_CENTS} cents and account ids "
            "below 2**32"
        )
    work = buffers if buffers is not None else DayBuffers()
    own, stage_t, stage, key, keep = work.scratch(n, balance.shape[0])
    return _apply(
        tx_time, tx, n, balance, limit, frozen, acct, first_seq, step_seq, step_cents,
        own, stage_t, stage, key, keep, np.empty(n), np.empty((N_COLS, n), dtype=np.int64),
        np.empty(n, dtype=np.int8), np.zeros(n, dtype=np.int64), np.empty(n, dtype=np.int64),
    )  # fmt: skip


class DayBuffers:
    """The scratch arrays of :func:`apply_day`, grown (by a quarter more than asked) and kept
    from one day to the next: ~4/5 of a day's working memory, which nothing outside the day
    holds on to."""

    def __init__(self) -> None:
        self._own = np.empty((0, 2), dtype=np.int64)
        self._stage_t = np.empty(0)
        self._stage = np.empty((0, N_COLS), dtype=np.int64)
        self._key = np.empty(0, dtype=np.int64)
        self._keep = np.empty(0, dtype=np.bool_)

    def scratch(
        self, n: int, owners: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(own, stage_t, stage, key, keep)`` with room for ``owners`` owners and ``n``
        rows."""
        if self._own.shape[0] < owners:
            self._own = np.empty((owners, 2), dtype=np.int64)
        if self._key.shape[0] < n:
            cap = n + n // 4
            self._stage_t = np.empty(cap)
            self._stage = np.empty((cap, N_COLS), dtype=np.int64)
            self._key = np.empty(cap, dtype=np.int64)
            self._keep = np.empty(cap, dtype=np.bool_)
        return self._own, self._stage_t, self._stage, self._key, self._keep


@kernel
def _apply(
    tx_time: np.ndarray,
    tx: np.ndarray,
    n: int,
    balance: np.ndarray,
    limit: np.ndarray,
    frozen: np.ndarray,
    acct: np.ndarray,
    first_seq: int,
    step_seq: np.ndarray,
    step_cents: np.ndarray,
    own: np.ndarray,
    stage_t: np.ndarray,
    stage: np.ndarray,
    key: np.ndarray,
    keep: np.ndarray,
    time: np.ndarray,
    rows: np.ndarray,
    event: np.ndarray,
    after: np.ndarray,
    entity: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`apply_day` on the arrays it allocates: scratch (``own`` to ``keep``, at least
    ``n`` rows and ``balance``'s owners) and the day's outputs (``time`` to ``entity``, ``n``
    rows, ``after`` zeros)."""
    _in_order(tx_time, tx, n, stage_t, stage, key, time, rows)
    tally = np.zeros((5, TALLY_WIDTH), dtype=np.int64)
    # Each owner's balance, then its packed account id, frozen flag and overdraft (FROZEN and
    # LIMIT_SHIFT): a row touches two owners at random, one cache line each instead of four
    # (the separate arrays of a large bank live in L3 at best).
    owners = balance.shape[0]
    for i in range(owners):
        own[i, 0] = balance[i]
        own[i, 1] = (limit[i] << LIMIT_SHIFT) | (FROZEN if frozen[i] else 0) | acct[i]
    w = 0
    for r in range(n):
        keep[r] = True
        if r + PREFETCH < n:  # -1 (outside the bank) prefetches owner 0, harmlessly
            ahead = rows[C_FROM, r + PREFETCH]
            prefetch_row(own, ahead if ahead >= 0 else 0)
            ahead = rows[C_TO, r + PREFETCH]
            prefetch_row(own, ahead if ahead >= 0 else 0)
        kind, frm, to = rows[C_TYPE, r], rows[C_FROM, r], rows[C_TO, r]
        cents, frac = rows[C_CENTS, r], rows[C_FRAC, r]
        step, cause = rows[C_STEP, r], rows[C_CAUSE, r]
        cause_seq = step_seq[cause] if cause >= 0 else -1
        code = TRANSACTION
        if kind == FREEZE:
            code = ACCOUNT_FREEZE
            if own[frm, 1] & FROZEN:
                cents = 0  # dropped
            else:
                own[frm, 1] |= FROZEN
                cents = 1  # kept
        elif kind == ALERT:
            code = ALERT_EVENT
            cents = 1  # kept
        else:
            if frac > 0:
                cents = (own[frm, 0] + (own[frm, 1] >> LIMIT_SHIFT)) * frac // PPM
            elif frac < 0:
                cents = step_cents[cause] * -frac // PPM
                if kind == ATM:
                    cents -= cents % NOTE_CENTS
            if cents > 0:
                if frm < 0:
                    own[to, 0] += cents
                    after[r] = own[to, 0]
                elif (own[frm, 1] & FROZEN) == 0 and (
                    own[frm, 0] - cents >= -(own[frm, 1] >> LIMIT_SHIFT)
                ):
                    own[frm, 0] -= cents
                    after[r] = own[frm, 0]
                    if to >= 0:
                        own[to, 0] += cents
                else:
                    code = DECLINE
        if cents <= 0:  # dropped
            keep[r] = False
            if step >= 0:
                step_seq[step] = cause_seq
                step_cents[step] = 0
            continue
        if step >= 0:
            step_seq[step] = first_seq + w
            step_cents[step] = cents if code == TRANSACTION else 0
        if code == DECLINE:
            tally[T_DECLINED, kind] += 1
        else:
            tally[T_WRITTEN, kind] += 1
            if kind < ALERT:
                tally[T_CENTS, kind] += cents
        if rows[C_RARE, r] >= 0:
            tally[T_RARE, rows[C_RARE, r]] += 1
        if rows[C_DECOY, r] >= 0:
            tally[T_DECOY, rows[C_DECOY, r]] += 1
        rows[C_FROM, r] = own[frm, 1] & ACCT_MASK if frm >= 0 else -1
        rows[C_TO, r] = own[to, 1] & ACCT_MASK if to >= 0 else -1
        rows[C_CENTS, r] = cents if kind < ALERT else 0  # alerts and freezes move nothing
        rows[C_CAUSE, r] = cause_seq
        entity[r] = (own[frm, 1] if frm >= 0 else own[to, 1]) & ACCT_MASK
        event[r] = code
        w += 1
    for i in range(owners):
        balance[i], frozen[i] = own[i, 0], (own[i, 1] & FROZEN) != 0
    if w == n:  # nothing dropped (every day without episodes): no copy
        return time, rows[:N_OUT], event, after, entity, tally
    kept = keep[:n]
    return (time[kept], _kept(rows, kept, w), event[kept], after[kept], entity[kept], tally)


@kernel
def _in_order(
    tx_time: np.ndarray,
    tx: np.ndarray,
    n: int,
    stage_t: np.ndarray,
    stage: np.ndarray,
    key: np.ndarray,
    out_t: np.ndarray,
    out: np.ndarray,
) -> None:
    """The first ``n`` rows in time order (stable: ``np.argsort(kind='stable')``'s order):
    their times into ``out_t``, their columns column-major into ``out`` (``out[c, r]``), through
    the scratch ``stage_t``, ``stage`` and ``key`` (at least ``n`` rows each).

    A permutation gathered or scattered a row at a time misses the cache at every row once a
    day's rows outgrow it (1.4 M rows, 160 MB, at a million customers). So the rows move in two
    cache-friendly steps: first into ~n/1024 buckets of equal time width, in written order
    (one sequential stream per bucket), then each bucket, small enough to stay in cache, is put
    in order by :func:`time_order` and copied out. A bucket never decreases with time and
    keeps its rows in written order, so the result is the global stable order. (Measured at a
    million customers: 0.65 s a day for a global sort and gather, ~0.1 s like this.)"""
    if n == 0:
        return
    lo, hi = tx_time[:n].min(), tx_time[:n].max()
    nb = max(1, n >> 10) if hi > lo else 1
    scale = nb / (hi - lo) if hi > lo else 0.0
    start = np.zeros(nb + 1, dtype=np.int64)
    for i in range(n):
        b = min(int((tx_time[i] - lo) * scale), nb - 1)
        key[i] = b
        start[b + 1] += 1
    for b in range(nb):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    for i in range(n):
        j = fill[key[i]]
        fill[key[i]] = j + 1
        stage_t[j] = tx_time[i]
        for col in range(N_COLS):
            stage[j, col] = tx[i, col]
    for b in range(nb):
        first, end = start[b], start[b + 1]
        local = time_order(stage_t[first:end])
        for r in range(end - first):
            k = first + local[r]
            out_t[first + r] = stage_t[k]
            for col in range(N_COLS):
                out[col, first + r] = stage[k, col]


@kernel
def _kept(rows: np.ndarray, keep: np.ndarray, w: int) -> np.ndarray:
    """Columns ``c < N_OUT`` of ``rows`` at the ``w`` places where ``keep`` is true."""
    out = np.empty((N_OUT, w), dtype=np.int64)
    for col in range(N_OUT):
        j = 0
        for r in range(rows.shape[1]):
            if keep[r]:
                out[col, j] = rows[col, r]
                j += 1
    return out
