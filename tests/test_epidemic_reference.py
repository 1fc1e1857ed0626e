"""The ``epidemic`` model agrees with an independent plain Mesa model of the same rules.

``benchmarks/mesa_epidemic.py`` implements the rules with Python agents (no kernels, no shared
code but the contact generators), so agreement of the outcome distributions on one scenario is
evidence that the kernels implement the rules. Each side runs ``REPS`` independent replications
(a fresh population and network each) of 3,000 agents in households plus an Erdos-Renyi layer
(mean degree 8) and a random-mixing layer, R0 about 2; compared: the mean final attack rate, the
mean peak day of daily infections, the mean day of infection (the centre of the epidemic curve,
a less noisy timing than the peak) and the mean number of hospitalisations. The bare kernel of
``benchmarks/bare_epidemic.py`` is held to the same reference, so that the benchmark compares the
model with a kernel of the same rules.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.bare_epidemic import run_bare
from benchmarks.mesa_epidemic import EpidemicRules, PlainEpidemic
from eventforge.simulators.agent_based.contacts import build_contacts, build_population
from eventforge.simulators.agent_based.epidemic import Epidemic
from eventforge.simulators.agent_based.epidemic_params import EpidemicParams
from tests.simulate import columns, run_simulator

UNIT_S = 3600.0  # hours, so that both sides convert durations to days
DAYS = 120  # the outbreak is mostly over by then (peak about day 55)
REPS = 12
N = 3000

PARAMS = {
    "population": {"size": N, "age_groups": {"adults": 0.7, "elderly": 0.3}},
    "contacts": {
        "home": {"kind": "household", "transmission": 0.1, "sizes": [0.3, 0.35, 0.2, 0.15]},
        "community": {"kind": "erdos_renyi", "transmission": 0.035, "mean_degree": 8},
        "market": {"kind": "random", "transmission": 0.03, "contacts_per_day": 2.0},
    },
    "disease": {
        "latent": {"dist": "gamma", "mean": "3d", "cv": 0.5},
        "infectious": {"dist": "gamma", "mean": "5d", "cv": 0.4},
        "onset_to_hospital": {"dist": "lognormal", "mean": "5d", "cv": 0.5},
        "hospital_stay": {"dist": "exponential", "mean": "8d"},
        "by_age": {
            "adults": {"p_asymptomatic": 0.4, "p_hospital": 0.04, "p_death": 0.05},
            "elderly": {
                "susceptibility": 0.8,
                "p_asymptomatic": 0.25,
                "p_hospital": 0.2,
                "p_death": 0.25,
            },
        },
    },
    "initial_infected": 10,
}


Outcomes = tuple[float, float, float, float]


def _outcomes(exposures_by_day: np.ndarray, admissions: int) -> Outcomes:
    """(attack rate, peak day, mean day of infection, admissions) of one run."""
    total = exposures_by_day.sum()
    mean_day = float(exposures_by_day @ np.arange(len(exposures_by_day)) / total)
    return total / N, float(np.argmax(exposures_by_day)), mean_day, float(admissions)


def _ours(seed: int) -> Outcomes:
    _, batches = run_simulator(Epidemic, PARAMS, horizon=DAYS * 24.0, seed=seed, unit_s=UNIT_S)
    log = columns(batches)
    infected = log["event"] == "exposure"
    day = (log["time"][infected] // 24.0).astype(np.int64)
    admissions = int(np.count_nonzero(log["event"] == "hospitalisation"))
    return _outcomes(np.bincount(day, minlength=DAYS), admissions)


def _params() -> EpidemicParams:
    return EpidemicParams.model_validate(PARAMS, context={"time_unit_s": UNIT_S})


def _plain(seed: int) -> Outcomes:
    model = PlainEpidemic.from_params(_params(), np.random.default_rng(seed), DAYS)
    for _ in range(DAYS):
        model.step()
    model.release()
    return _outcomes(np.array(model.exposures_by_day[:DAYS]), model.hospitalisations)


def _bare(seed: int) -> Outcomes:
    params, rng = _params(), np.random.default_rng(seed)
    age = build_population(params.population, rng)
    network = build_contacts(params.population, params.contacts, age, rng)
    _, exposures, admissions = run_bare(network, age, EpidemicRules.from_params(params), DAYS, rng)
    return _outcomes(exposures, admissions)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, np.ndarray]:
    """``REPS x 4`` outcomes of each implementation, seeds disjoint between them."""
    return {
        "ours": np.array([_ours(seed) for seed in range(REPS)]),
        "plain": np.array([_plain(1000 + seed) for seed in range(REPS)]),
        "bare": np.array([_bare(2000 + seed) for seed in range(REPS)]),
    }


OUTCOMES = ["attack rate", "peak day", "mean day of infection", "hospitalisations"]


@pytest.mark.parametrize("side", ["ours", "bare"])
@pytest.mark.parametrize("column", range(len(OUTCOMES)), ids=OUTCOMES)
def test_agrees_with_plain_mesa(outcomes: dict[str, np.ndarray], side: str, column: int) -> None:
    # The model (and the bare kernel the benchmark compares it with) against the plain Mesa
    # reference. Two independent samples of REPS runs: the difference of the means has the
    # combined standard error sqrt(s1^2 / REPS + s2^2 / REPS) (sample standard deviations,
    # ddof=1); they must agree within 4 of it (false alarm rate ~6e-5 per outcome if normal).
    ours, plain = outcomes[side][:, column], outcomes["plain"][:, column]
    se = math.sqrt(ours.var(ddof=1) / REPS + plain.var(ddof=1) / REPS)
    assert abs(ours.mean() - plain.mean()) < 4 * se, (ours.mean(), plain.mean(), se)


def test_scenario_is_an_outbreak(outcomes: dict[str, np.ndarray]) -> None:
    # The comparison only means something if the scenario produces large outbreaks with a
    # clear peak: every run of each implementation infects over a third of the population and
    # peaks after the seeding day.
    for side in outcomes.values():
        assert side[:, 0].min() > 1 / 3
        assert side[:, 1].min() > 0
