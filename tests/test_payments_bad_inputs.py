"""Bad payments scenarios: each refused with every problem at its key's line, by the loader and
by ``eventforge validate`` (exit 2, one line per problem on stderr, no traceback).

Each case edits one valid base file (lines replaced by text) and lists the problem lines it
must produce, in the loader's order; each regex is searched in its line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from eventforge.scenario import load_scenario
from eventforge.simulators.agent_based.payments_params import PaymentsParams
from tests.edited_scenarios import assert_refused, write_edited

BASE = """\
name: bad_payments
model: payments
horizon: 30d
params:
  currency: EUR
  customers:
    size: 500
    segments:
      worker:
        share: 0.7
        salary: {mean: 2500, cv: 0.3}
        payday: 25
        card_per_day: 1.0
        categories: {grocery: 2, web: 1}
        overdraft: 500
        opening_balance: {mean: 2000, cv: 1.0}
        bills:
          - {category: housing, day: 1, amount: {mean: 700, cv: 0.3}}
        p2p_per_day: 0.2
        p2p_amount: {mean: 50, cv: 1.0}
        atm_per_day: 0.1
        atm_amounts: [{amount: 20, weight: 1}, {amount: 50, weight: 2}]
      student:
        share: 0.3
        salary: {mean: 700, cv: 0.3}
        payday: 1
        card_per_day: 1.5
        categories: {grocery: 1}
        overdraft: 0
        opening_balance: {mean: 300, cv: 0.5}
  merchants:
    categories:
      grocery: {count: 20, amount: {median: 25, sigma: 0.8}, channels: {pos: 0.9, mobile: 0.1}}
      web: {count: 5, amount: {median: 30, sigma: 0.9}, popularity: 1.5, channels: {online: 1}}
      housing: {count: 10}
  social: {kind: watts_strogatz, transmission: 0, degree: 4, rewire: 0.1}
  seasonality:
    weekly: [1, 1, 1, 1, 1.2, 1.3, 0.6]
    payday_boost: 1.3
    payday_days: 3
rare_events:
  account_takeover: {share: 0.01, mules: [1, 3], drain: [0.5, 0.9]}
  cycle: {share: 0.005, ring: [2, 4]}
  family_fan_out: {share: 0.02}
  mules: 0.05
  scripted:
    - {kind: cycle, subject: 3, accounts: [10, 11, 12], start: 2d}
"""

_SEG = r"params\.customers\.segments\."
_SOCIAL = "  social: {kind: watts_strogatz, transmission: 0, degree: 4, rewire: 0.1}"
_FAMILY = "  family_fan_out: {share: 0.02}"
_WEB = "      web: {count: 5, amount: {median: 30, sigma: 0.9}, popularity: 1.5, " + (
    "channels: {online: 1}}"
)
_SCRIPTED = "    - {kind: cycle, subject: 3, accounts: [10, 11, 12], start: 2d}"

# (case id, {old line: new line}, expected problem lines)
CASES: list[tuple[str, dict[str, str], list[str]]] = [
    ("negative_salary", {"        salary: {mean: 2500, cv: 0.3}":
                         "        salary: {mean: -2500, cv: 0.3}"}, [
        rf":11: {_SEG}worker\.salary\.mean: must be > 0\.0 \(got -2500\)",
    ]),
    ("negative_atm_amount_and_weight", {
        "        atm_amounts: [{amount: 20, weight: 1}, {amount: 50, weight: 2}]":
        "        atm_amounts: [{amount: -20, weight: 1}, {amount: 50, weight: -2}]",
    }, [
        rf":22: {_SEG}worker\.atm_amounts\.0\.amount: must be > 0\.0 \(got -20\)",
        rf":22: {_SEG}worker\.atm_amounts\.1\.weight: must be >= 0\.0 \(got -2\)",
    ]),
    ("negative_overdraft", {"        overdraft: 0": "        overdraft: -100"}, [
        rf":29: {_SEG}student\.overdraft: must be >= 0\.0 \(got -100\)",
    ]),
    ("overdraft_beyond_the_packed_limit", {"        overdraft: 0": "        overdraft: 2e7"}, [
        rf":29: {_SEG}student\.overdraft: must be <= 10000000\.0 \(got 20000000\.0\)",
    ]),
    ("shares_not_summing_to_one", {"        share: 0.3": "        share: 0.2"}, [
        r":8: params\.customers\.segments: segment share probabilities must sum to 1 \(got "
        r"0\.9: worker=0\.7, student=0\.2\)",
    ]),
    ("bill_of_an_unknown_category", {
        "          - {category: housing, day: 1, amount: {mean: 700, cv: 0.3}}":
        "          - {category: rent, day: 1, amount: {mean: 700, cv: 0.3}}",
    }, [
        rf":18: {_SEG}worker\.bills\.0\.category: no such merchant category 'rent' \(known: "
        r"grocery, web, housing\)",
    ]),
    ("spending_in_an_unknown_category", {
        "        categories: {grocery: 1}": "        categories: {grocery: 1, travel: 2}",
    }, [
        rf":28: {_SEG}student\.categories\.travel: no such merchant category \(known: grocery, "
        r"web, housing\)",
    ]),
    ("card_spending_where_no_purchase_amount", {
        "      web: {count: 5, amount: {median: 30, sigma: 0.9}, popularity: 1.5, channels: "
        "{online: 1}}": "      web: {count: 5, popularity: 1.5, channels: {online: 1}}",
    }, [
        rf":14: {_SEG}worker\.categories\.web: merchants\.categories\.web has no amount of a "
        r"card purchase",
    ]),
    ("negative_category_weight", {
        "        categories: {grocery: 2, web: 1}": "        categories: {grocery: -2, web: 1}",
    }, [
        rf":14: {_SEG}worker\.categories\.grocery: must be >= 0\.0 \(got -2\)",
    ]),
    ("negative_rate", {"        card_per_day: 1.5": "        card_per_day: -1"}, [
        rf":27: {_SEG}student\.card_per_day: must be >= 0\.0 \(got -1\)",
    ]),
    ("nan_rate", {"        card_per_day: 1.5": "        card_per_day: .nan"}, [
        rf":27: {_SEG}student\.card_per_day: numbers must be finite \(got \.nan\)",
    ]),
    ("payday_not_in_every_month", {"        payday: 1": "        payday: 31"}, [
        rf":26: {_SEG}student\.payday: must be <= 28 \(got 31\)",
    ]),
    ("transfers_without_an_amount", {"        p2p_amount: {mean: 50, cv: 1.0}": ""}, [
        rf":9: {_SEG}worker: required when p2p_per_day > 0",
    ]),
    ("category_without_merchants", {"      housing: {count: 10}": "      housing: {count: 0}"}, [
        r":35: params\.merchants\.categories\.housing\.count: must be >= 1 \(got 0\)",
    ]),
    ("negative_popularity", {
        "      housing: {count: 10}": "      housing: {count: 10, popularity: -1}",
    }, [
        r":35: params\.merchants\.categories\.housing\.popularity: must be >= 0\.0 \(got -1\)",
    ]),
    ("card_channel_atm", {
        "      housing: {count: 10}": "      housing: {count: 10, channels: {atm: 1}}",
    }, [
        r":35: params\.merchants\.categories\.housing\.channels\.atm: must be one of 'pos', "
        r"'online' or 'mobile' \(got 'atm'\)",
    ]),
    ("negative_payday_boost", {"    payday_boost: 1.3": "    payday_boost: -1"}, [
        r":39: params\.seasonality\.payday_boost: must be >= 0\.0 \(got -1\)",
    ]),
    ("six_weekdays", {
        "    weekly: [1, 1, 1, 1, 1.2, 1.3, 0.6]": "    weekly: [1, 1, 1, 1, 1.2, 1.3]",
    }, [
        r":38: params\.seasonality\.weekly: must have at least 7 item",
    ]),
    ("boost_longer_than_a_month", {"    payday_days: 3": "    payday_days: 40"}, [
        r":40: params\.seasonality\.payday_days: must be <= 28 \(got 40\)",
    ]),
    ("currency_not_a_code", {"  currency: EUR": "  currency: euro"}, [
        r":5: params\.currency: must match \^\[A-Z\]\{3\}\$ \(got 'euro'\)",
    ]),
    ("random_social_layer", {
        _SOCIAL: "  social: {kind: random, transmission: 0, contacts_per_day: 3}",
    }, [
        r":36: params\.social: kind 'random' has no fixed neighbours to send transfers to",
    ]),
    ("odd_lattice_degree", {_SOCIAL: _SOCIAL.replace("degree: 4", "degree: 5")}, [
        r":36: params\.social\.degree: must be even \(got 5; k/2 neighbours per side\)",
    ]),
    ("horizon_under_a_day", {"horizon: 30d": "horizon: 12h"}, [
        r":3: horizon: the horizon \(0\.5 days\) is under one day: the model steps in days",
        r":47: rare_events\.scripted\.0\.start: 48 is past the horizon \(12\)",
    ]),
    ("typology_shares_over_one", {_FAMILY: "  family_fan_out: {share: 0.99}"}, [
        r":41: rare_events: the shares of typologies, decoys and mules sum to 1\.055, over 1 "
        r"\(a customer plays one role\): account_takeover 0\.01, cycle 0\.005, "
        r"family_fan_out 0\.99, mules 0\.05",
    ]),
    ("typologies_without_mules", {"  mules: 0.05": "  mules: 0"}, [
        r":45: rare_events\.mules: must be > 0: account_takeover, cycle move money through mules",
    ]),
    ("negative_typology_amount", {
        "  cycle: {share: 0.005, ring: [2, 4]}":
        "  cycle: {share: 0.005, ring: [2, 4], amount: {median: -5000, sigma: 0.5}}"}, [
        r":43: rare_events\.cycle\.amount\.median: must be > 0\.0 \(got -5000\)",
    ]),
    ("reversed_range_and_negative_count", {
        "  account_takeover: {share: 0.01, mules: [1, 3], drain: [0.5, 0.9]}":
        "  account_takeover: {share: 0.01, mules: [-1, 3], drain: [0.9, 0.5]}"}, [
        r":42: rare_events\.account_takeover\.drain: must be \[low, high\] with low <= high "
        r"\(got \[0\.9, 0\.5\]\)",
        r":42: rare_events\.account_takeover\.mules\.0: must be >= 1 \(got -1\)",
    ]),
    ("scripted_accounts_that_do_not_exist", {
        _SCRIPTED: "    - {kind: cycle, subject: 700, accounts: [10, 11, 500], start: 2d}"}, [
        r":47: rare_events\.scripted\.0\.accounts\.2: no customer 500 \(customers: 0 \.\. 499\)",
        r":47: rare_events\.scripted\.0\.subject: no customer 700 \(customers: 0 \.\. 499\)",
    ]),
    ("scripted_unknown_kind", {_SCRIPTED: _SCRIPTED.replace("kind: cycle", "kind: ponzi")}, [
        r":47: rare_events\.scripted\.0\.kind: no such typology or decoy 'ponzi' \(known: "
        r"account_takeover, .*invoice_fan_in\)",
    ]),
    ("scripted_kind_not_configured", {
        _SCRIPTED: _SCRIPTED.replace("kind: cycle", "kind: card_testing")}, [
        r":47: rare_events\.scripted\.0\.kind: rare_events\.card_testing must be configured "
        r"\(share may be 0\)",
    ]),
    ("scripted_subject_among_accounts", {
        _SCRIPTED: _SCRIPTED.replace("[10, 11, 12]", "[10, 3, 12]")}, [
        r":47: rare_events\.scripted\.0\.accounts: must be distinct, and not the subject",
    ]),
    ("card_testing_without_online_merchants", {
        _WEB: _WEB.replace("{online: 1}", "{pos: 1}"),
        _FAMILY: "  card_testing: {share: 0.01}"}, [
        r":44: rare_events\.card_testing: needs merchants that sell online \(a category with an "
        r"online channel weight > 0\)",
    ]),
    ("scripted_start_past_the_horizon", {_SCRIPTED: _SCRIPTED.replace("2d", "40d")}, [
        r":47: rare_events\.scripted\.0\.start: 960 is past the horizon \(720\)",
    ]),
]  # fmt: skip


def test_the_base_file_is_valid(tmp_path: Path) -> None:
    sc = load_scenario(write_edited(BASE, tmp_path, "base", {}))
    assert sc.model == "payments"


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
    params["customers"]["segments"]["worker"]["bills"][0]["category"] = "rent"
    with pytest.raises(
        ValidationError, match=r"segments\.worker\.bills\.0\.category\n.*no such merchant"
    ):
        PaymentsParams.model_validate(params, context={"time_unit_s": 3600.0})
