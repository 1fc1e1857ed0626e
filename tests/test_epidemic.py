"""epidemic: kernels vs references, log invariants (causes, lifecycle, waning, replay, batching),
the model's compartments vs the log day by day, interventions, rare episodes, Mesa agents.

Statistical checks use fixed seeds and 4-standard-error tolerances, the SE stated at each.
"""

from __future__ import annotations

import copy
import gc
import math
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import eventforge as ef
from eventforge._lifecycle import OK, LifecycleTables, LifecycleTracker
from eventforge.check import check_dataset
from eventforge.simulators.agent_based import epidemic_kernels as K
from eventforge.simulators.agent_based import epidemic_reference
from eventforge.simulators.agent_based.epidemic import Epidemic
from eventforge.simulators.agent_based.epidemic_model import EpidemicModel, Person
from eventforge.simulators.agent_based.epidemic_params import EpidemicParams, EpidemicRareEvents
from tests.simulate import columns, run_simulator

HOURS = {"time_unit_s": 3600.0}
GROUPS = {"children": 0.25, "adults": 0.55, "elderly": 0.2}


def _rich(n: int = 3000, **override: Any) -> dict[str, Any]:
    """Every feature on: four kinds of layers, asymptomatic cases, hospital, waning, testing,
    vaccination, a triggered lockdown, dated school closure, importations."""
    params: dict[str, Any] = {
        "population": {"size": n, "age_groups": GROUPS},
        "contacts": {
            "home": {"kind": "household", "transmission": 0.1, "sizes": [0.3, 0.35, 0.2, 0.15]},
            "school": {
                "kind": "school", "transmission": 0.04, "school_size": 300, "class_size": 25,
                "ages": ["children"],
            },
            "work": {"kind": "workplace", "transmission": 0.04, "mean_size": 8, "contacts": 4,
                     "ages": ["adults"]},
            "friends": {"kind": "erdos_renyi", "transmission": 0.03, "mean_degree": 4},
            "town": {"kind": "random", "transmission": 0.03, "contacts_per_day": 6},
        },
        "disease": {
            "latent": {"dist": "gamma", "mean": "3d", "cv": 0.5},
            "infectious": {"dist": "exponential", "mean": "5d"},
            "onset_to_hospital": {"dist": "lognormal", "mean": "4d", "cv": 0.6},
            "hospital_stay": {"dist": "fixed", "value": "6d"},
            "waning": {"dist": "exponential", "mean": "30d"},
            "by_age": {
                "children": {"susceptibility": 0.7, "p_asymptomatic": 0.5, "p_hospital": 0.01,
                             "p_death": 0.01},
                "adults": {"p_asymptomatic": 0.3, "p_hospital": 0.05, "p_death": 0.05},
                "elderly": {"susceptibility": 1.2, "p_asymptomatic": 0.2, "p_hospital": 0.25,
                            "p_death": 0.3},
            },
        },
        "interventions": {
            "lockdown": {"layers": {"work": 0.3, "town": 0.2},
                         "trigger": {"metric": "infectious", "above": 30, "below": 10}},
            "school_closure": {"start": "20d", "end": "35d"},
            "testing": {"p_test": 0.6, "delay": {"dist": "exponential", "mean": "1d"},
                        "sensitivity": 0.9, "result_delay": {"dist": "fixed", "value": "12h"},
                        "contact_reduction": 0.2},
            "vaccination": {"start": "10d", "doses_per_day": 20, "efficacy": 0.8},
        },
        "initial_infected": 10,
        "importations_per_day": 0.3,
    }  # fmt: skip
    params.update(override)
    return params


RARE = {
    "superspreading": {"rate_per_day": "1/3d", "size": 40, "transmission": 0.15},
    "hospital_capacity": 3,
}


def _model(params: dict[str, Any], rare: dict[str, Any] | None = None, seed: int = 1,
           **kw: Any) -> EpidemicModel:  # fmt: skip
    p = EpidemicParams.model_validate(params, context=HOURS)
    r = EpidemicRareEvents.model_validate(rare or {}, context=HOURS)
    return EpidemicModel(p, r, np.random.default_rng(seed), 24.0, **kw)


# --- kernels vs references --------------------------------------------------------------------


def test_kernels_equal_their_references_over_a_run_with_every_feature() -> None:
    params, rare = _rich(1200), {**RARE, "hospital_capacity": 1}
    params["disease"]["by_age"]["elderly"]["p_death"] = 0.6
    fast = _model(params, rare, seed=5)
    slow = _model(params, rare, seed=5, kernels=epidemic_reference)
    seen: set[int] = set()
    for _ in range(120):
        fast.step()
        slow.step()
        a, b = fast.day_events, slow.day_events
        assert a is not None and b is not None
        for field in ("time", "entity", "event", "cause", "rare", "layer", "infector", "state"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
        seen |= set(a.event.tolist()) | {100 + r for r in a.rare.tolist()}
        # due_day (what the due scan reads) follows every change of the clocks.
        earliest = fast.times.min(axis=1).tolist()
        assert fast.due_day.tolist() == [epidemic_reference.day_of(t) for t in earliest]
    for name in ("state", "times", "due_day", "next_ev", "refs", "vaccinated", "isolated"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)
    assert fast.rng.bit_generator.state == slow.rng.bit_generator.state
    # Every kind of event, with and without each rare kind, happened: every branch ran.
    assert set(range(13)) | {99, 100 + K.RARE_SUPERSPREADING, 100 + K.RARE_OVERFLOW} <= seen


def test_single_kernels_equal_their_references() -> None:
    # The kernels one by one from one mid-epidemic state (the run above compares whole days).
    model = _model(_rich(800), RARE, seed=2)
    for _ in range(25):
        model.step()
    cap = 50_000

    def fresh() -> dict[str, Any]:
        keys = ("state", "times", "due_day", "next_ev", "refs", "vaccinated", "isolated")
        state = {k: copy.deepcopy(getattr(model, k)) for k in keys}
        state["counts"] = np.bincount(state["state"], minlength=len(K.STATES))
        state["ev_time"], state["ev"] = np.zeros(cap), np.zeros((cap, K.N_COLS), np.int64)
        state["rng"] = np.random.default_rng(11)
        return state

    net = model.network
    mult = np.linspace(0.5, 1.0, len(net.names))
    for module_a, module_b in ((K, epidemic_reference),):
        outs = []
        for mod in (module_a, module_b):
            s = fresh()
            n = mod.transmit(
                25, s["state"], s["counts"], model.age, s["vaccinated"], s["isolated"],
                net.indptr, net.indices, net.layer, net.transmission, mult, model.household,
                model.random_layers, net.random_ptr, net.random_members, model.random_mask,
                net.contacts_per_day, model.age_par, 0.5, 0.6, 0.3, s["times"], s["next_ev"],
                s["refs"], model.dists, s["ev_time"], s["ev"], 0, s["rng"],
            )  # fmt: skip
            n = mod.gatherings(
                25, 3.0, 30.0, 0.2, 5, s["state"], s["counts"], model.age, s["vaccinated"],
                s["isolated"], model.age_par, 0.5, 0.6, 0.3, s["times"], s["next_ev"], s["refs"],
                model.dists, s["ev_time"], s["ev"], n, s["rng"],
            )  # fmt: skip
            n = mod.importations(25, 5.0, 6, s["state"], s["counts"], s["times"], s["next_ev"],
                                 s["refs"], model.dists, s["ev_time"], s["ev"], n,
                                 s["rng"])  # fmt: skip
            ptr, n = mod.vaccinate(25, np.arange(800), 100, 40, s["state"], s["vaccinated"],
                                   s["ev_time"], s["ev"], n)  # fmt: skip
            due = np.empty(800, dtype=np.int64)
            mod.refresh_due_day(s["ev"], 0, n, s["times"], s["due_day"])
            m = mod.due_agents(25, s["due_day"], due)
            n = mod.progress(
                25, due[:m], s["state"], s["counts"], model.age, s["isolated"], s["times"],
                s["due_day"], s["next_ev"], s["refs"], model.age_par, model.dists, 0.7, 0.8, 2,
                3.0, s["ev_time"], s["ev"], n, s["rng"],
            )  # fmt: skip
            order = np.argsort(s["ev_time"][:n], kind="stable")
            seq = np.empty(n, dtype=np.int64)
            mod.resolve_day(order, 1000, s["ev"], s["refs"], seq)
            outs.append((n, ptr, m, s, seq))
        (n1, p1, m1, s1, q1), (n2, p2, m2, s2, q2) = outs
        assert (n1, p1, m1) == (n2, p2, m2) and n1 > 50 and m1 > 0
        np.testing.assert_array_equal(q1, q2)
        for key in ("state", "times", "due_day", "next_ev", "refs", "vaccinated", "isolated",
                    "ev_time"):  # fmt: skip
            np.testing.assert_array_equal(s1[key], s2[key], err_msg=key)
        # The counts followed every change of state.
        np.testing.assert_array_equal(s1["counts"], s2["counts"])
        np.testing.assert_array_equal(
            s1["counts"], np.bincount(s1["state"], minlength=len(K.STATES))
        )
        np.testing.assert_array_equal(s1["ev"][:n1], s2["ev"][:n2])
        assert s1["rng"].bit_generator.state == s2["rng"].bit_generator.state


def test_transmit_over_a_random_layer_of_some_agents_equals_its_reference() -> None:
    # A random layer of all agents draws its contacts by index, with no member lookup; here the
    # layer keeps every other agent (the lookup path), against the reference and its contract.
    model = _model(_rich(800), RARE, seed=2)
    for _ in range(25):
        model.step()
    net = model.network
    (code,) = model.random_layers
    members = np.arange(0, 800, 2, dtype=net.random_members.dtype)
    ptr = net.random_ptr.copy()
    ptr[code + 1 :] += len(members) - (ptr[code + 1] - ptr[code])
    mask = np.zeros_like(model.random_mask)
    mask[0, members] = True
    outs = []
    for mod in (K, epidemic_reference):
        state, times = model.state.copy(), model.times.copy()
        next_ev, refs = model.next_ev.copy(), model.refs.copy()
        counts = np.bincount(state, minlength=len(K.STATES))
        ev_time, ev = np.zeros(800), np.zeros((800, K.N_COLS), np.int64)
        rng = np.random.default_rng(7)
        n = mod.transmit(
            25, state, counts, model.age, model.vaccinated, model.isolated, net.indptr,
            net.indices, net.layer, net.transmission, np.ones(len(net.names)), model.household,
            model.random_layers, ptr, members, mask, net.contacts_per_day, model.age_par, 0.5,
            0.6, 0.3, times, next_ev, refs, model.dists, ev_time, ev, 0, rng,
        )  # fmt: skip
        outs.append((n, state, times, ev[:n], rng.bit_generator.state))
    (n1, state1, times1, ev1, rng1), (n2, state2, times2, ev2, rng2) = outs
    assert n1 == n2 and rng1 == rng2
    for x, y in ((state1, state2), (times1, times2), (ev1, ev2)):
        np.testing.assert_array_equal(x, y)
    # Random-layer exposures happened, all between members.
    in_layer = ev1[ev1[:, K.C_LAYER] == code]
    assert len(in_layer) > 0
    assert (in_layer[:, K.C_ENTITY] % 2 == 0).all() and (in_layer[:, K.C_INFECTOR] % 2 == 0).all()


# --- the log ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rich_run() -> tuple[Epidemic, list[pa.RecordBatch], dict[str, np.ndarray]]:
    sim, batches = run_simulator(
        Epidemic, _rich(), RARE, horizon=150 * 24.0, seed=3, batch_events=2000
    )
    return sim, batches, columns(batches)


def test_log_order_batches_and_determinism(rich_run: Any) -> None:
    _, batches, c = rich_run
    assert max(b.num_rows for b in batches) <= 2000 and len(batches) > 3
    assert (np.diff(c["time"]) >= 0).all() and c["time"].max() < 150 * 24.0
    np.testing.assert_array_equal(c["seq"], np.arange(len(c["seq"])))
    _, again = run_simulator(
        Epidemic, _rich(), RARE, horizon=150 * 24.0, seed=3, batch_events=1 << 20
    )
    assert len(again) == 1 and pa.Table.from_batches(again).equals(pa.Table.from_batches(batches))


def test_summary_equals_replay(rich_run: Any) -> None:
    sim, batches, c = rich_run
    summary = sim.summary()
    assert summary == Epidemic.replay(batches)
    assert summary["events.exposure"] == (c["event"] == "exposure").sum() > 500
    assert summary["rare.superspreading"] > 0 and summary["rare.hospital_overflow"] > 0


def test_causes_follow_the_natural_history(rich_run: Any) -> None:
    _, _, c = rich_run
    ev, ent, cause, layer, inf = c["event"], c["entity_id"], c["cause"], c["layer"], c["infector"]
    has = ~np.isnan(cause) if cause.dtype.kind == "f" else np.array([x is not None for x in cause])
    cz = np.where(has, np.nan_to_num(cause.astype(float), nan=-1), -1).astype(np.int64)
    # Exposures: the cause is the infector's exposure, so causes form a forest rooted at seeds
    # and importations (whose cause and infector are null).
    exp = np.flatnonzero(ev == "exposure")
    rooted = np.isin(layer[exp], ["seed", "import"])
    assert (cz[exp[rooted]] < 0).all()
    assert (cz[exp[~rooted]] >= 0).all()
    parents = cz[exp[~rooted]]
    assert (ev[parents] == "exposure").all()
    np.testing.assert_array_equal(ent[parents], inf[exp[~rooted]].astype(np.int64))
    # Every other caused event points at the right kind of event of the same agent.
    allowed = {
        "onset": {"exposure"}, "hospitalisation": {"onset"}, "death": {"hospitalisation"},
        "recovery": {"exposure", "onset", "hospitalisation"}, "test": {"onset"},
        "positive": {"test"}, "isolation": {"positive"},
    }  # fmt: skip
    for name, kinds in allowed.items():
        rows = np.flatnonzero(ev == name)
        assert len(rows) > 0, name
        assert (cz[rows] >= 0).all() and (cz[rows] < rows).all()
        assert set(ev[cz[rows]].tolist()) <= kinds, name
        np.testing.assert_array_equal(ent[cz[rows]], ent[rows])
    gathering = layer == "gathering"
    assert gathering.any()
    np.testing.assert_array_equal(gathering, c["rare_kind"] == "superspreading")


def test_lifecycle_and_reinfection_only_after_waning(rich_run: Any) -> None:
    _, _, c = rich_run
    agent = c["entity_id"] >= 0
    tables = LifecycleTables.build(Epidemic.spec.lifecycle, Epidemic.spec.vocabulary)  # type: ignore[arg-type]
    codes = np.array([Epidemic.spec.code(e) for e in c["event"][agent]], dtype=np.int32)
    status, _ = LifecycleTracker(tables).step(c["entity_id"][agent], codes)
    assert (status == OK).all()
    # A second exposure of an agent comes after a recovery of it (immunity waned).
    ent, ev, time = c["entity_id"][agent], c["event"][agent], c["time"][agent]
    order = np.lexsort((np.arange(len(ent)), ent))
    ent, ev, time = ent[order], ev[order], time[order]
    disease = np.isin(ev, ["exposure", "recovery", "death"])
    ent, ev, time = ent[disease], ev[disease], time[disease]
    again = (ev[1:] == "exposure") & (ent[1:] == ent[:-1])
    assert again.sum() > 10, "waning should give reinfections"
    assert (ev[:-1][again] == "recovery").all() and (time[1:][again] > time[:-1][again]).all()


def test_without_waning_nobody_is_exposed_twice() -> None:
    params = _rich()
    del params["disease"]["waning"]
    _, batches = run_simulator(Epidemic, params, RARE, horizon=120 * 24.0, seed=4)
    c = columns(batches)
    exposed = c["entity_id"][c["event"] == "exposure"]
    assert len(exposed) > 300 and len(np.unique(exposed)) == len(exposed)


def _log_counts(last: np.ndarray) -> dict[str, int]:
    return {s: int((last == k).sum()) for k, s in enumerate(K.STATES)}


@pytest.mark.parametrize("simple", [True, False])
def test_log_replays_the_model_compartments_every_day(simple: bool) -> None:
    # simple: no asymptomatic cases, no waning: every transition has an event, so the states
    # replayed from the log equal the model's compartments exactly. Otherwise the log cannot see
    # the end of an asymptomatic latent period nor waning: E_log = E + A, R_log = R + waned.
    params = _rich(2000)
    if simple:
        del params["disease"]["waning"]
        for age in params["disease"]["by_age"].values():
            age["p_asymptomatic"] = 0.0
    model = _model(params, RARE, seed=6)
    last = np.zeros(2000, dtype=np.int64)  # S until an event says otherwise
    ever = np.zeros(2000, dtype=bool)
    for _ in range(100):
        model.step()
        day = model.day_events
        assert day is not None
        has = day.state >= 0
        last[day.entity[has]] = day.state[has]  # in seq order: the last write wins per agent
        ever[day.entity[day.event == K.EXPOSURE]] = True
        log, true = _log_counts(last), model.counts()
        assert log["A"] == 0 and sum(true.values()) == 2000
        for s in ("I", "H", "D"):
            assert log[s] == true[s]
        assert log["E"] == true["E"] + true["A"]
        assert log["S"] + log["R"] == true["S"] + true["R"]
        if simple:
            assert log == true
        else:
            assert int((~ever).sum()) <= true["S"]


# --- interventions and rare episodes ----------------------------------------------------------


def _plain(n: int = 3000, **override: Any) -> dict[str, Any]:
    params = _rich(n, **override)
    params["interventions"] = override.get("interventions", {})
    return params


def test_dated_lockdown_to_zero_stops_transmission_in_its_layers() -> None:
    layers = {name: 0.0 for name in ("home", "school", "work", "friends", "town")}
    lockdown = {"layers": layers, "start": "15d", "end": "25.5d"}
    params = _plain(interventions={"lockdown": lockdown}, importations_per_day=0.0)
    _, batches = run_simulator(Epidemic, params, horizon=40 * 24.0, seed=8)
    c = columns(batches)
    system = c["entity_id"] < 0
    assert c["event"][system].tolist() == ["lockdown_start", "lockdown_end"]
    # Days d with 15 <= d < 25.5 are locked down: day 15 to day 25; it ends at the start of 26.
    np.testing.assert_array_equal(c["time"][system], [15 * 24.0, 26 * 24.0])
    exposure_day = np.floor(c["time"][c["event"] == "exposure"] / 24.0)
    assert not ((exposure_day >= 15) & (exposure_day <= 25)).any()
    assert (exposure_day > 25).any() or (exposure_day < 15).sum() > 20


def test_triggered_lockdown_follows_its_metric() -> None:
    params = _plain(interventions={"lockdown": {
        "layers": {"town": 0.1}, "trigger": {"metric": "infectious", "above": 40, "below": 10},
    }})  # fmt: skip
    del params["disease"]["waning"]  # the epidemic ends, so the lockdown ends too
    model = _model(params, seed=9)
    on, switches = False, 0
    for _ in range(150):
        counts = model.counts()  # the state at the start of the day
        infectious = counts["A"] + counts["I"]
        model.step()
        expected = infectious > 10 if on else infectious >= 40
        assert model.lockdown_on == expected
        switches += expected != on
        on = expected
    assert switches >= 2


def test_school_closure_stops_school_transmission() -> None:
    params = _plain(interventions={"school_closure": {"start": "5d", "end": "40d"}})
    _, batches = run_simulator(Epidemic, params, horizon=60 * 24.0, seed=10)
    c = columns(batches)
    school = (c["event"] == "exposure") & (c["layer"] == "school")
    day = np.floor(c["time"][school] / 24.0)
    assert not ((day >= 5) & (day < 40)).any() and len(day) > 0


def test_vaccination_oldest_first_and_full_efficacy() -> None:
    vaccination = {"start": "3d", "doses_per_day": 50, "efficacy": 1.0}
    params = _plain(interventions={"vaccination": vaccination})
    _, batches = run_simulator(Epidemic, params, horizon=60 * 24.0, seed=11)
    c = columns(batches)
    vac = c["event"] == "vaccination"
    days = np.floor(c["time"][vac] / 24.0).astype(int)
    # 50 doses a day from day 3 while unvaccinated, uninfected agents remain.
    assert days.min() == 3 and (np.bincount(days)[3:20] == 50).all()
    rank = {"elderly": 0, "adults": 1, "children": 2}
    ranks = np.array([rank[a] for a in c["age_group"][vac]])
    assert (np.diff(ranks) >= 0).all() and ranks[0] == 0
    # Efficacy 1: nobody is infected by a contact after their dose (importations pick
    # susceptible-state agents from outside the model's contacts, vaccinated or not).
    when = dict(zip(c["entity_id"][vac].tolist(), c["time"][vac].tolist(), strict=True))
    exp = (c["event"] == "exposure") & (c["layer"] != "import")
    later = [t > when.get(e, math.inf) for e, t in zip(c["entity_id"][exp], c["time"][exp],
                                                         strict=True)]  # fmt: skip
    assert not any(later)


def test_isolated_agents_only_infect_their_household() -> None:
    testing = {"p_test": 1.0, "delay": {"dist": "fixed", "value": 0}, "sensitivity": 1.0,
               "result_delay": {"dist": "fixed", "value": 0}, "contact_reduction": 0.0}  # fmt: skip
    params = _plain(interventions={"testing": testing})
    del params["disease"]["waning"]
    _, batches = run_simulator(Epidemic, params, horizon=80 * 24.0, seed=12)
    c = columns(batches)
    iso = c["event"] == "isolation"
    isolated_at = dict(zip(c["entity_id"][iso].tolist(), c["time"][iso].tolist(), strict=True))
    assert len(isolated_at) > 50
    exp = np.flatnonzero((c["event"] == "exposure") & ~np.isin(c["layer"], ["seed", "import"]))
    for k in exp.tolist():
        t_iso = isolated_at.get(int(c["infector"][k]), math.inf)
        if np.floor(c["time"][k] / 24.0) * 24.0 >= t_iso:  # isolated at the start of the day
            assert c["layer"][k] == "home"


def test_hospital_overflow_labels_and_importations_rate() -> None:
    params = _plain(importations_per_day=2.0)
    for layer in params["contacts"].values():
        layer["transmission"] = 0.0
    for age in params["disease"]["by_age"].values():
        age["p_hospital"] = 0.5
    _, batches = run_simulator(
        Epidemic, params, {"hospital_capacity": 0}, horizon=100 * 24.0, seed=13
    )
    c = columns(batches)
    imported = (c["layer"] == "import").sum()
    # Poisson(2/day) over 100 days (nearly everyone susceptible): mean 200, SD sqrt(200).
    assert abs(imported - 200) < 4 * math.sqrt(200)
    hosp = c["event"] == "hospitalisation"
    assert hosp.sum() > 10 and (c["rare_kind"][hosp] == "hospital_overflow").all()
    assert (c["layer"][c["event"] == "exposure"] != "home").all()


# --- units, Mesa agents, scenarios -----------------------------------------------------------


def test_time_unit_does_not_change_the_epidemic() -> None:
    _, hours = run_simulator(Epidemic, _rich(1000), RARE, horizon=40 * 24.0, seed=14)
    _, days = run_simulator(Epidemic, _rich(1000), RARE, horizon=40.0, seed=14, unit_s=86400.0)
    h, d = columns(hours), columns(days)
    np.testing.assert_array_equal(h["entity_id"], d["entity_id"])
    np.testing.assert_array_equal(h["event"], d["event"])
    np.testing.assert_allclose(h["time"], d["time"] * 24.0, rtol=1e-12)


def test_agents_are_mesa_views_of_the_arrays() -> None:
    model = _model(_rich(500), seed=15)
    for _ in range(30):
        model.step()
    assert len(model.agents) == 500
    people = list(model.agents)
    assert all(isinstance(p, Person) for p in people)
    states = [p.state for p in people]
    assert states == [K.STATES[s] for s in model.state]
    sick = model.agents.select(lambda p: p.state in ("A", "I"))
    assert len(sick) == model.counts()["A"] + model.counts()["I"] > 0
    p = people[7]
    assert p.age_group == tuple(GROUPS)[model.age[7]]
    p.vaccinated = True
    assert model.vaccinated[7] and p.vaccinated
    assert set(p.contacts.tolist()) <= set(range(500)) and 7 not in p.contacts.tolist()


def test_a_released_model_is_garbage_collected() -> None:
    # Mesa 3.3 keeps a per-model id counter in a class-level dict: without release() every
    # model (and its million agents) would live as long as the process.
    model = _model(_rich(300), seed=16)
    assert len(model.agents) == 300
    ref = weakref.ref(model)
    model.release()
    del model
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("name", ["flu_town", "school_outbreak", "novel_pathogen_city"])
def test_builtin_scenarios_run_and_pass_check(name: str, tmp_path: Path) -> None:
    sc = ef.load_scenario(name, overrides=["horizon=40d", "params.population.size=4000"])
    ef.run(sc, tmp_path / name, executor="serial")
    report = check_dataset(tmp_path / name)
    assert report.violations == [], report.violations
