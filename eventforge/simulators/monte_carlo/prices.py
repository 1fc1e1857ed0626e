"""Prices: tick-level price paths of a set of instruments under a regime-switching jump diffusion.

Instrument ``i`` (``entity_id = i``) trades at Poisson tick times (``tick_rate``, optionally shaped
by an hour-of-day ``intraday_profile`` read in UTC from the scenario's ``start``, by thinning).
Its log price moves *exactly* between any two instants (no Euler error): in regime ``r`` it is a
Brownian motion with drift ``mu_r - lambda kappa [compensated] - v_i^2 sigma_r^2 / 2`` and
volatility ``v_i sigma_r`` (``v_i`` = ``volatility_scale``), so over a stretch where the regime
changes, the step is one Gaussian with the integrated mean and variance. Merton jumps arrive per
instrument at rate ``lambda`` with log size ``J ~ N(m, delta^2)``.

Jump compensation: with ``jumps.compensate`` (the default) the drift is lowered by
``lambda kappa``, ``kappa = E[e^J] - 1 = exp(m + delta^2 / 2) - 1``, so ``E[S_t] = S_0 e^{mu t}``
whatever the jumps (Merton 1976); without it ``E[S_t] = S_0 e^{(mu + lambda kappa) t}``. In both
cases ``E[log(S_t / S_0)] = (mu - sigma^2/2 - [lambda kappa]) t + lambda m t``.

Regimes are market-wide: a continuous-time Markov chain with an exponential stay of mean
``mean_duration`` in each, then a jump to another regime by the ``to`` probabilities (uniform
over the others by default). The first regime is ``initial_regime`` or, by default, drawn from the
chain's stationary distribution, so occupancy has no start-up bias.

Log conventions: ``tick`` (``price``, ``log_return`` since the instrument's previous tick, or
since ``initial_price`` for its first, ``size``, ``spread``); ``jump`` (``price`` just after it,
``log_return`` = the jump's log size); ``regime_change`` is a market event with
``entity_id = -1``. The first tick after a jump has ``cause`` = that jump (the jump moved its
price). Every event carries the ``regime`` in force after it. Crash episodes (``rare_kind =
"crash"``): every event in a regime marked ``crash`` (a regime change *into* it included), a jump
whose log size is below ``rare_events.jump_threshold``, and the ticks of that instrument within
``rare_events.window`` after such a jump.

Time advances in windows of about ``batch_events`` expected events; each window's events come
from one kernel call (:func:`kernels.prices_ticks`) and are yielded in slices of at most
``batch_events`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Annotated, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, FiniteFloat, StringConstraints, model_validator

from eventforge.events import EventSpec, categorical, decoded, masked
from eventforge.scenario.types import NonNegativeFloat, PositiveFloat, Probability, StrictModel
from eventforge.scenario.units import Duration, NonNegativeDuration, NonNegativeRate, Rate
from eventforge.simulators.base import Simulator, Summary
from eventforge.simulators.monte_carlo import kernels

__all__ = ["Prices", "PricesParams", "PricesRareEvents", "price_regimes", "price_ticks"]

Name = Annotated[str, StringConstraints(min_length=1)]
_SUM_TOLERANCE = 1e-9
_TICK, _JUMP, _REGIME = 0, 1, 2


class Instrument(StrictModel):
    """One traded instrument."""

    symbol: Name = Field(description="Ticker symbol, unique; written in the `symbol` column.")
    initial_price: PositiveFloat = Field(description="Price at t = 0.")
    tick_rate: Rate = Field(
        description="Mean number of ticks per time unit (over a day, if intraday_profile is set)."
    )
    volatility_scale: PositiveFloat = Field(
        default=1.0, description="Multiplies every regime's sigma for this instrument (its beta)."
    )


class Regime(StrictModel):
    """One market regime: its drift and volatility, how long it lasts and where it goes next."""

    name: Name = Field(description="Regime name, unique; written in the `regime` column.")
    mu: FiniteFloat = Field(
        description="Drift of the price per quote_period (E[S_t] = S_0 e^{mu t})."
    )
    sigma: NonNegativeFloat = Field(description="Volatility per square root of quote_period.")
    mean_duration: Duration | None = Field(
        default=None,
        description="Mean stay in this regime (exponential); null: the regime is never left.",
    )
    to: dict[str, Probability] | None = Field(
        default=None,
        description="Probabilities of the next regime on leaving (sum 1, not itself); "
        "default: uniform over the other regimes.",
    )
    crash: bool = Field(default=False, description="Label every event in this regime as a crash.")
    spread_bps: NonNegativeFloat = Field(
        default=1.0, description="Bid-ask spread of ticks in this regime, in basis points of price."
    )


class Jumps(StrictModel):
    """Merton jumps of each instrument's log price."""

    rate: NonNegativeRate = Field(default=0.0, description="Jumps per instrument per time unit.")
    mean: FiniteFloat = Field(default=0.0, description="Mean m of the log jump size.")
    sd: NonNegativeFloat = Field(
        default=0.0, description="Standard deviation delta of the log jump."
    )
    compensate: bool = Field(
        default=True,
        description="Lower the drift by rate * (exp(m + sd^2/2) - 1) so E[S_t] = S_0 e^{mu t}.",
    )


class TickSize(StrictModel):
    """Traded size per tick: ceil of a lognormal, so at least 1 lot."""

    median: PositiveFloat = Field(default=1.0, description="Median of the lognormal size (lots).")
    sigma: NonNegativeFloat = Field(default=1.0, description="Sigma of the log size.")


class PricesParams(StrictModel):
    """The ``params:`` section of a prices scenario."""

    instruments: list[Instrument] = Field(min_length=1, description="The instruments traded.")
    quote_period: Duration = Field(
        default=1.0,
        description="The span mu and sigma are quoted for, e.g. 365d for annualised figures "
        "(a number is in the scenario's time unit).",
    )
    regimes: list[Regime] = Field(min_length=1, description="Market regimes (one: plain GBM).")
    initial_regime: Name | None = Field(
        default=None,
        description="The regime at t = 0; default: drawn from the chain's stationary distribution.",
    )
    jumps: Jumps = Field(default_factory=Jumps, description="Merton jumps (default: none).")
    size: TickSize = Field(default_factory=TickSize, description="Traded size per tick.")
    intraday_profile: list[NonNegativeFloat] | None = Field(
        default=None,
        min_length=24,
        max_length=24,
        description="Relative tick activity per UTC hour of day (hour 0 first), normalised to "
        "mean 1; default: flat.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PricesParams:
        symbols = [i.symbol for i in self.instruments]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"instruments: symbols must be unique (got {symbols})")
        names = [r.name for r in self.regimes]
        if len(set(names)) != len(names):
            raise ValueError(f"regimes: names must be unique (got {names})")
        if self.initial_regime is not None and self.initial_regime not in names:
            raise ValueError(f"initial_regime: {self.initial_regime!r} is not one of {names}")
        for r in self.regimes:
            if r.to is None:
                continue
            unknown = [k for k in r.to if k not in names or k == r.name]
            if unknown:
                raise ValueError(f"regimes.{r.name}.to: {unknown} are not other regimes {names}")
            if abs(sum(r.to.values()) - 1.0) > _SUM_TOLERANCE:
                raise ValueError(f"regimes.{r.name}.to: must sum to 1 (got {sum(r.to.values())})")
        if self.intraday_profile is not None and not any(self.intraday_profile):
            raise ValueError("intraday_profile: must not be all zero")
        if self.initial_regime is None and len(self.regimes) > 1:
            _stationary(*_chain(self))  # raises ValueError when it is not unique
        return self


class PricesRareEvents(StrictModel):
    """The ``rare_events:`` section: what counts as a crash besides a regime marked ``crash``."""

    jump_threshold: FiniteFloat = Field(
        default=-0.1, lt=0.0, description="A jump with log size below this is a crash (< 0)."
    )
    window: NonNegativeDuration = Field(
        default=0.0, description="Ticks of the instrument this long after a crash jump are crash."
    )


def _chain(params: PricesParams) -> tuple[np.ndarray, np.ndarray]:
    """(mean stay per regime in time units, inf = absorbing; jump-chain probability matrix)."""
    names = [r.name for r in params.regimes]
    n = len(names)
    stay = np.array(
        [math.inf if r.mean_duration is None else r.mean_duration for r in params.regimes]
    )
    jump = np.zeros((n, n))
    for a, r in enumerate(params.regimes):
        if r.to is None:
            jump[a] = [0.0 if b == a else 1.0 / (n - 1) for b in range(n)] if n > 1 else 0.0
        else:
            for name, p in r.to.items():
                jump[a, names.index(name)] = p
    return stay, jump


def _stationary(stay: np.ndarray, jump: np.ndarray) -> np.ndarray:
    """The stationary distribution pi of the chain (pi Q = 0, sum 1); ValueError if not unique.

    The generator is ``Q = diag(1/stay) (P - I)``; the chain has a unique stationary law iff it
    has one closed communicating class, i.e. ``rank(Q) = n - 1``.
    """
    n = stay.shape[0]
    q = (1.0 / stay)[:, None] * (jump - np.eye(n))
    if np.linalg.matrix_rank(q) != n - 1:
        raise ValueError(
            "regimes: the chain has no unique stationary distribution (an absorbing or "
            "unreachable regime); set initial_regime"
        )
    a = np.vstack([q.T, np.ones(n)])
    b = np.zeros(n + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    return np.clip(pi, 0.0, None) / np.clip(pi, 0.0, None).sum()


def price_regimes(
    t1: float,
    regime: int,
    next_switch: float,
    mean_stay: np.ndarray,
    jump_cum: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Typed wrapper of :func:`kernels.prices_regimes` (switch times, regimes, carried state)."""
    times, regimes, regime, next_switch = kernels.prices_regimes(
        float(t1),
        int(regime),
        float(next_switch),
        np.ascontiguousarray(mean_stay, dtype=np.float64),
        np.ascontiguousarray(jump_cum, dtype=np.float64),
        rng,
    )
    return times, regimes, int(regime), float(next_switch)


def price_ticks(
    t0: float,
    t1: float,
    seq0: int,
    seg_time: np.ndarray,
    seg_regime: np.ndarray,
    model: _Coefficients,
    state: _State,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """Typed wrapper of :func:`kernels.prices_ticks`; updates ``state`` in place."""
    return kernels.prices_ticks(
        float(t0),
        float(t1),
        int(seq0),
        np.ascontiguousarray(seg_time, dtype=np.float64),
        np.ascontiguousarray(seg_regime, dtype=np.int64),
        model.drift,
        model.variance,
        model.crash_regime,
        model.candidate_rate,
        model.vol2,
        model.accept,
        model.hour0,
        model.hours_per_unit,
        model.jump_rate,
        model.jump_mean,
        model.jump_sd,
        model.size_log_median,
        model.size_sigma,
        model.crash_threshold,
        model.crash_window,
        state.log_price,
        state.last_tick_log,
        state.pending_jump,
        state.crash_until,
        rng,
    )


class _Coefficients:
    """The model's constants as the kernel wants them (contiguous arrays, time-unit floats)."""

    def __init__(self, p: PricesParams, r: PricesRareEvents, start_hour: float, unit_s: float):
        per = p.quote_period
        k = p.jumps
        kappa = math.expm1(k.mean + 0.5 * k.sd**2)
        compensation = k.rate * kappa if k.compensate else 0.0
        self.drift = np.array([g.mu / per - compensation for g in p.regimes])
        self.variance = np.array([g.sigma**2 / per for g in p.regimes])
        self.crash_regime = np.array([g.crash for g in p.regimes], dtype=np.bool_)
        profile = np.ones(24) if p.intraday_profile is None else np.array(p.intraday_profile)
        peak = profile.max() / profile.mean()
        self.accept = profile / profile.max()
        self.candidate_rate = np.array([i.tick_rate * peak for i in p.instruments])
        self.vol2 = np.array([i.volatility_scale**2 for i in p.instruments])
        self.hour0 = start_hour
        self.hours_per_unit = unit_s / 3600.0
        self.jump_rate, self.jump_mean, self.jump_sd = k.rate, k.mean, k.sd
        self.size_log_median, self.size_sigma = math.log(p.size.median), p.size.sigma
        self.crash_threshold, self.crash_window = r.jump_threshold, r.window


class _State:
    """Per-instrument state carried from one window to the next (see the kernel)."""

    def __init__(self, initial_prices: np.ndarray):
        self.log_price = np.log(initial_prices)
        self.last_tick_log = self.log_price.copy()
        self.pending_jump = np.full(initial_prices.shape[0], -1, dtype=np.int64)
        self.crash_until = np.full(initial_prices.shape[0], -np.inf)


class Prices(Simulator):
    """Tick-level prices: Poisson ticks, exact GBM steps, Merton jumps, Markov regimes."""

    name: ClassVar[str] = "prices"
    description: ClassVar[str] = (
        "tick-level prices of K instruments: GBM with Merton jumps and Markov regimes, crashes"
    )
    Params = PricesParams
    RareEvents = PricesRareEvents
    spec: ClassVar[EventSpec] = EventSpec(
        vocabulary=("tick", "jump", "regime_change"),
        rare_kinds=("crash",),
        columns=(
            pa.field("symbol", pa.dictionary(pa.int32(), pa.string()), nullable=True),
            pa.field("price", pa.float64(), nullable=True),
            pa.field("log_return", pa.float64(), nullable=True),
            pa.field("size", pa.int64(), nullable=True),
            pa.field("spread", pa.float64(), nullable=True),
            pa.field("regime", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        ),
        descriptions={
            "symbol": "the instrument's symbol (null for market events)",
            "price": "price after the event (ticks and jumps)",
            "log_return": "tick: log return since the previous tick; jump: its log size",
            "size": "traded size of a tick, in lots",
            "spread": "bid-ask spread of a tick, in price units",
            "regime": "market regime in force after the event",
        },
    )

    def run(self) -> Iterator[pa.RecordBatch]:
        p: PricesParams = self.params  # type: ignore[assignment]
        r: PricesRareEvents = self.rare_events  # type: ignore[assignment]
        ctx, rng = self.ctx, self.rng
        start = ctx.start if ctx.start.tzinfo else ctx.start.replace(tzinfo=UTC)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        model = _Coefficients(p, r, (start - midnight).total_seconds() / 3600.0, ctx.time_unit_s)
        state = _State(np.array([i.initial_price for i in p.instruments]))
        self._symbols = [i.symbol for i in p.instruments]
        self._regimes = [g.name for g in p.regimes]
        spread = np.array([g.spread_bps * 1e-4 for g in p.regimes])
        stay, jump = _chain(p)
        jump_cum = np.cumsum(jump, axis=1)
        for row, probs in zip(jump_cum, jump, strict=True):
            if probs.any():  # the last reachable regime takes any rounding slack
                row[np.flatnonzero(probs)[-1] :] = 1.0
        if p.initial_regime is not None:
            regime = self._regimes.index(p.initial_regime)
        elif len(p.regimes) == 1:
            regime = 0
        else:
            regime = int(
                np.searchsorted(np.cumsum(_stationary(stay, jump))[:-1], rng.random(), side="right")
            )
        next_switch = rng.exponential(stay[regime]) if math.isfinite(stay[regime]) else math.inf

        self._counts = np.zeros(3, dtype=np.int64)
        self._ticks = np.zeros(len(p.instruments), dtype=np.int64)
        self._crash = 0
        self._volume = 0
        self._regime = regime
        self._last_tick_log = state.last_tick_log
        # Expected events per time unit at the peak hour: windows hold ~batch_events or fewer.
        peak_rate = model.candidate_rate.sum() + len(p.instruments) * model.jump_rate
        peak_rate += float(np.max(1.0 / stay))
        span = ctx.batch_events / peak_rate if peak_rate > 0 else ctx.horizon
        w = 0
        t0 = 0.0
        while t0 < ctx.horizon:
            t1 = min(ctx.horizon, (w + 1) * span)
            first = self._regime
            sw_time, sw_regime, self._regime, next_switch = price_regimes(
                t1, self._regime, next_switch, stay, jump_cum, rng
            )
            seg_time = np.concatenate([[t0], sw_time])
            seg_regime = np.concatenate([[first], sw_regime])
            out = price_ticks(
                t0, t1, self.builder.next_seq, seg_time, seg_regime, model, state, rng
            )
            time, entity, event, price, log_return, size, reg, cause, crash = out
            tick = event == _TICK
            self._counts += np.bincount(event, minlength=3)
            self._ticks += np.bincount(entity[tick], minlength=len(p.instruments))
            self._crash += int(crash.sum())
            self._volume += int(size[tick].sum())
            for a in range(0, time.shape[0], ctx.batch_events):
                b = a + ctx.batch_events
                yield self.builder.build(
                    time[a:b],
                    entity[a:b],
                    event[a:b],
                    cause=cause[a:b],
                    rare_kind=np.where(crash[a:b], 0, -1),
                    columns={
                        "symbol": categorical(entity[a:b], self._symbols),
                        "price": masked(price[a:b], np.isnan(price[a:b])),
                        "log_return": masked(log_return[a:b], np.isnan(log_return[a:b])),
                        "size": masked(size[a:b], ~tick[a:b]),
                        "spread": masked(price[a:b] * spread[reg[a:b]], ~tick[a:b]),
                        "regime": categorical(reg[a:b], self._regimes),
                    },
                )
            w += 1
            t0 = t1

    def summary(self) -> Summary:
        """Event counts, crash-labelled events, volume, ticks and last traded price per symbol
        that ticked, and ``final_regime.<name>: 1`` for the regime at the horizon (if the log is
        not empty), all as the model tracked them."""
        out: Summary = {
            "events.tick": int(self._counts[_TICK]),
            "events.jump": int(self._counts[_JUMP]),
            "events.regime_change": int(self._counts[_REGIME]),
            "rare.crash": self._crash,
            "volume": self._volume,
        }
        if self.builder.rows:  # every switch is an event: the regime after the last one
            out[f"final_regime.{self._regimes[self._regime]}"] = 1
        for i, symbol in enumerate(self._symbols):
            if self._ticks[i]:
                out[f"ticks.{symbol}"] = int(self._ticks[i])
                out[f"last_price.{symbol}"] = math.exp(float(self._last_tick_log[i]))
        return out

    @classmethod
    def replay(cls, batches: Iterable[pa.RecordBatch]) -> Summary:
        """The summary recomputed from the log: counts by ``event``, ``rare`` and ``size`` sums,
        ticks and the last tick's ``price`` per ``symbol``, the ``regime`` after the last event.

        Reads categories by value, not by dictionary code, so a log whose dictionaries were
        re-encoded (e.g. by a Parquet round trip) replays the same. An empty log has no regime.
        """
        counts = dict.fromkeys(cls.spec.vocabulary, 0)
        crash = volume = 0
        ticks: dict[str, int] = {}
        last: dict[str, float] = {}
        final_regime: str | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            event = decoded(batch.column("event"))
            names, n = np.unique(event, return_counts=True)
            for name, c in zip(names, n, strict=True):
                counts[str(name)] += int(c)
            crash += int(np.count_nonzero(batch.column("rare").to_numpy(zero_copy_only=False)))
            tick = event == "tick"
            volume += int(batch.column("size").to_numpy(zero_copy_only=False)[tick].sum())
            symbol = decoded(batch.column("symbol"))[tick]
            price = batch.column("price").to_numpy(zero_copy_only=False)[tick]
            names, n = np.unique(symbol, return_counts=True)
            for name, c in zip(names, n, strict=True):
                ticks[str(name)] = ticks.get(str(name), 0) + int(c)
            # The last tick of each symbol in this batch: first occurrence in the reversed batch.
            names, first = np.unique(symbol[::-1], return_index=True)
            for name, k in zip(names, first, strict=True):
                last[str(name)] = float(price[::-1][k])
            final_regime = str(decoded(batch.column("regime"))[-1])
        out: Summary = {
            "events.tick": counts["tick"],
            "events.jump": counts["jump"],
            "events.regime_change": counts["regime_change"],
            "rare.crash": crash,
            "volume": volume,
        }
        if final_regime is not None:
            out[f"final_regime.{final_regime}"] = 1
        for symbol in sorted(ticks):
            out[f"ticks.{symbol}"] = ticks[symbol]
            out[f"last_price.{symbol}"] = last[symbol]
        return out
