"""Bad epidemic scenarios: each refused with every problem at its key's line, by the loader and
by ``eventforge validate`` (exit 2, one line per problem on stderr, no traceback).

Each case edits one valid base file (lines replaced by text) and lists the problem lines it
must produce, in the loader's order (file, line, key, message); each regex is searched in its
line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from eventforge.scenario import load_scenario
from eventforge.simulators.agent_based.epidemic_params import EpidemicParams
from tests.edited_scenarios import assert_refused, write_edited

BASE = """\
name: bad_epidemic
model: epidemic
horizon: 60d
params:
  population:
    size: 1000
    age_groups: {kids: 0.3, adults: 0.7}
  contacts:
    home:
      kind: household
      transmission: 0.1
      sizes: [0.5, 0.5]
    school:
      kind: school
      transmission: 0.05
      school_size: 200
      class_size: 20
      ages: [kids]
  disease:
    latent: {dist: exponential, mean: 2d}
    infectious: {dist: exponential, mean: 4d}
    onset_to_hospital: {dist: fixed, value: 3d}
    hospital_stay: {dist: fixed, value: 5d}
    by_age:
      kids: {p_asymptomatic: 0.5, p_hospital: 0.01, p_death: 0.01}
      adults: {p_asymptomatic: 0.3, p_hospital: 0.05, p_death: 0.05}
  interventions:
    lockdown:
      layers: {school: 0.5}
      start: 10d
      end: 20d
  initial_infected: 5
rare_events:
  hospital_capacity: 10
"""

# (case id, {old line: new line}, expected problem lines)
CASES: list[tuple[str, dict[str, str], list[str]]] = [
    ("probability_above_one", {"      transmission: 0.1": "      transmission: 1.5"}, [
        r":11: params\.contacts\.home\.transmission: must be <= 1\.0 \(got 1\.5\)",
    ]),
    ("nan_probability", {"      transmission: 0.05": "      transmission: .nan"}, [
        r":15: params\.contacts\.school\.transmission: numbers must be finite \(got \.nan\)",
    ]),
    ("population_zero", {"    size: 1000": "    size: 0"}, [
        r":6: params\.population\.size: must be >= 1 \(got 0\)",
    ]),
    ("layer_with_no_members", {"      ages: [kids]": "      ages: []"}, [
        r":13: params\.contacts\.school: no members \(ages \[\] are 0 of 1000 agents\)",
    ]),
    ("layer_of_an_unknown_age_group", {"      ages: [kids]": "      ages: [teens]"}, [
        r":18: params\.contacts\.school\.ages: unknown age group 'teens' \(age groups: kids, "
        r"adults\)",
    ]),
    ("classes_larger_than_schools", {"      class_size: 20": "      class_size: 300"}, [
        r":16: params\.contacts\.school\.school_size: 200 is smaller than class_size 300",
    ]),
    ("date_after_the_horizon", {"      end: 20d": "      end: 90d"}, [
        r":31: params\.interventions\.lockdown\.end: day 90 is after the horizon \(day 60\)",
    ]),
    ("horizon_under_a_day", {"horizon: 60d": "horizon: 12h"}, [
        r":3: horizon: the horizon \(0\.5 days\) is under one day: the model steps in days",
    ]),
    ("age_groups_of_the_disease", {
        "      kids: {p_asymptomatic: 0.5, p_hospital: 0.01, p_death: 0.01}":
        "      kid: {p_asymptomatic: 0.5, p_hospital: 0.01, p_death: 0.01}",
    }, [
        r":24: params\.disease\.by_age: missing age groups \['kids'\] \(every group is needed\)",
        r":25: params\.disease\.by_age\.kid: unknown age group \(age groups: \['kids', "
        r"'adults'\]\)",
    ]),
    ("lockdown_of_an_unknown_layer", {"      layers: {school: 0.5}": "      layers: {work: 0.5}"}, [
        r":29: params\.interventions\.lockdown\.layers\.work: unknown layer \(layers: home, "
        r"school\)",
    ]),
    ("lockdown_multiplier_above_one", {
        "      layers: {school: 0.5}": "      layers: {school: 2}",
    }, [
        r":29: params\.interventions\.lockdown\.layers\.school: must be <= 1\.0 \(got 2\)",
    ]),
    ("dates_and_trigger", {"      end: 20d": "      end: 20d\n      trigger: {metric: "
                           "detected, above: 10, below: 2}"}, [
        r":28: params\.interventions\.lockdown: give either start and end, or trigger, not both",
    ]),
    ("end_before_start", {"      end: 20d": "      end: 5d"}, [
        r":28: params\.interventions\.lockdown: end \(120\) must be after start \(240\)",
    ]),
    ("trigger_bounds_reversed", {
        "      start: 10d": "      trigger: {metric: infectious, above: 10, below: 20}",
        "      end: 20d": "",
    }, [
        r":30: params\.interventions\.lockdown\.trigger: below \(20\) must be < above \(10\)",
    ]),
    ("more_seeds_than_agents", {"  initial_infected: 5": "  initial_infected: 5000"}, [
        r":32: params\.initial_infected: 5000 exceeds population\.size 1000",
    ]),
    ("negative_beds", {"  hospital_capacity: 10": "  hospital_capacity: -1"}, [
        r":34: rare_events\.hospital_capacity: must be >= 0 \(got -1\)",
    ]),
    ("unknown_distribution", {"    latent: {dist: exponential, mean: 2d}":
                              "    latent: {dist: weibull, mean: 2d}"}, [
        r":20: params\.disease\.latent: input tag 'weibull' .* expected tags: 'exponential', "
        r"'gamma', 'lognormal', 'fixed'",
    ]),
]  # fmt: skip


def test_the_base_file_is_valid(tmp_path: Path) -> None:
    sc = load_scenario(write_edited(BASE, tmp_path, "base", {}))
    assert sc.model == "epidemic"


@pytest.mark.parametrize(("name", "edits", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_reports_each_problem_at_its_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    edits: dict[str, str],
    expected: list[str],
) -> None:
    assert_refused(write_edited(BASE, tmp_path, name, edits), expected, capsys)


def test_params_model_names_the_key_without_a_file() -> None:
    # Validating the params alone (as tests and the API do) locates the problem just as well.
    params = YAML(typ="safe").load(BASE)["params"]
    params["contacts"]["school"]["ages"] = ["elders"]
    with pytest.raises(ValidationError, match=r"contacts\.school\.ages\n.*unknown age group"):
        EpidemicParams.model_validate(params, context={"time_unit_s": 3600.0})
