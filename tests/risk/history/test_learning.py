"""``train``, ``eval``, ``backtest`` and ``models`` on an imported tenant, and the model in the live
path: the champion decides the tenant's next live payment and /metrics names it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dunpai.core.config import load_settings
from dunpai.risk.history.dataset import load
from dunpai.risk.history.store import HistoryStore
from dunpai.risk.history.training import cold_start_idle
from dunpai.risk.models.coldstart import (
    HIGH,
    LOOSEN_CAP,
    ColdStartScorer,
    _tails,
    fit_cold_start,
    rarity,
    tail_thresholds,
)
from dunpai.risk.models.policy import Thresholds, interrupt_rates, thresholds
from dunpai.risk.models.registry import Registry
from dunpai.risk.models.train import carried_over
from dunpai.risk.runtime import open_service
from tests.kdf import CHEAP_KEYSTORE
from tests.risk.history.conftest import dunpai, dunpai_json


@pytest.fixture(scope="module")
def bank(imported: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[type-arg]
    """A copy of the imported tenant that these tests may train on."""
    data = tmp_path_factory.mktemp("learning") / "d"
    shutil.copytree(imported[0], data)
    return data


def test_import_made_the_cold_start_score_the_champion(bank: Path) -> None:
    models = json.loads(dunpai("models", "list", "--data-dir", str(bank), "--json").stdout)
    assert [(m["kind"], m["role"]) for m in models] == [("habit-deviation", "champion")]


def test_train_registers_a_challenger_with_thresholds_for_the_budget_and_promote_makes_it_live(bank: Path) -> None:
    out = dunpai_json("train", "--data-dir", str(bank))
    assert out["kind"] == "lightgbm-binary" and out["role"] == "challenger"
    th = out["thresholds"]
    assert th["budget"] == 0.005 and th["verify"] is not None
    assert th["delay"] is None or th["verify"] <= th["delay"]  # a step the budget has no room for is never taken
    assert out["window"]["to"] < out["window"]["labels_as_of"]  # the labels' delay is left out of training
    promoted = dunpai("models", "promote", "--data-dir", str(bank))
    assert promoted.exit_code == 0, promoted.output
    assert Registry(bank / "models" / "default").role("champion") == out["version"]
    assert dunpai("models", "promote", "lgbm_nope", "--data-dir", str(bank)).exit_code == 2

    settings = load_settings(None, {"data_dir": str(bank), "keystore": CHEAP_KEYSTORE.model_dump()})
    service = open_service(settings)
    try:
        event = {"type": "card_not_present", "event_id": "live-1", "event_time": "2026-02-20T03:00:00-05:00",
                 "card_id": "card-live", "account_id": "acct-live", "customer_id": "cust-live",
                 "merchant_id": "Far_away_store_1", "amount": 90_000, "currency": "USD", "category": "electronics"}
        decision = service.submit("default", event).decision
        assert decision.model_version == out["version"] and decision.model_probability is not None
        metrics = service.metrics.registry.get_sample_value(
            "dunpai_model_info", {"tenant": "default", "version": out["version"], "kind": "lightgbm-binary"})
        assert metrics == 1.0
    finally:
        service.close()


def test_eval_split_reports_the_model_and_the_cold_start_score(bank: Path, tmp_path: Path) -> None:
    out = dunpai_json("eval", "--protocol", "split", "--data-dir", str(bank), "--out", str(tmp_path / "e.json"))
    (fold,) = out["folds"]
    assert fold["test_frauds"] > 0 and fold["auc_roc"] > 0.9 and fold["average_precision"] > 0.5
    assert {"legit_interrupted", "fraud_stopped"} <= set(fold["policy"]) and fold["cold_start"]["auc_roc"] > 0.5
    assert fold["cold_start"]["no_room"] == 0.0
    # Thresholds chosen for a 0.5 % budget hold on the later test days (the model they were measured on decides).
    assert fold["policy"]["legit_interrupted"] <= 0.02 and fold["policy"]["fraud_stopped"] > 0.5
    assert json.loads((tmp_path / "e.json").read_text())["mean"] == out["mean"]
    assert (tmp_path / "e-pr-roc.png").exists()


def test_eval_prequential_and_dated_split_take_their_windows(bank: Path) -> None:
    out = dunpai_json("eval", "--protocol", "prequential", "--folds", "2", "--train-days", "14", "--delay-days", "7",
                      "--test-days", "5", "--data-dir", str(bank))
    assert len(out["folds"]) == 2 and out["folds"][1]["test_to"] > out["folds"][0]["test_to"]
    dated = dunpai_json("eval", "--train-from", "2026-01-01", "--train-to", "2026-01-25", "--test-from",
                        "2026-01-26", "--test-to", "2026-02-09", "--data-dir", str(bank))
    assert dated["folds"][0]["test_from"].startswith("2026-01-26")
    # The cold-start score is the one the import would have put in place when the test starts,
    # whatever window the model trains on.
    shorter = dunpai_json("eval", "--train-from", "2026-01-12", "--train-to", "2026-01-25", "--test-from",
                          "2026-01-26", "--test-to", "2026-02-09", "--data-dir", str(bank))
    assert shorter["folds"][0]["train_from"] > dated["folds"][0]["train_from"]
    assert shorter["folds"][0]["cold_start"] == dated["folds"][0]["cold_start"]
    bad = dunpai("eval", "--train-from", "2026-01-01", "--data-dir", str(bank))
    assert bad.exit_code != 0


def test_backtest_reports_rules_noisy_ones_and_thresholds_that_meet_the_budget_on_held_back_days(
        bank: Path, tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    published = dunpai("backtest", "--data-dir", str(bank), "--json")
    assert published.exit_code == 0, published.output
    base = json.loads(published.stdout[published.stdout.index("{"):])
    draft.write_text("""name: draft
rules:
  - id: T.every_payment
    description: {zh: 每笔都拦, en: stop every payment}
    expression: amount >= 0.0
    action: verify
    score: 10
    reason: test.all
    customer_message: {zh: 测试, en: test}
""")
    out = dunpai_json("backtest", "--ruleset", str(draft), "--data-dir", str(bank))
    (rule,) = out["rules"]["rules"]
    assert rule["share_of_payments"] == 1.0 and rule["noisy"] and out["rules"]["noisy"] == ["T.every_payment"]
    assert out["rules"]["difference"]["extra_alerts"] > 0
    rec = base["recommended"]
    assert rec["held_back"]["legit_interrupted"] <= rec["budget"]
    assert rec["held_back"]["from"] > rec["chosen_on"]["to"]


def test_thresholds_keep_the_budget_and_stronger_steps_take_less() -> None:
    rng = np.random.default_rng(0)
    legit = rng.random(20_000)
    rules = rng.random(20_000) < 0.002
    th = thresholds(legit, 0.005, rules)
    rates = interrupt_rates(np.concatenate([legit, [0.999] * 10]), np.array([0] * 20_000 + [1] * 10), th,
                            np.concatenate([rules, [False] * 10]))
    assert rates["legit_interrupted"] <= 0.005 and rates["fraud_stopped"] == 1.0
    assert th.verify <= th.delay <= th.restrict
    assert np.mean(legit >= th.delay) <= 0.005 * 0.25 and np.mean(legit >= th.restrict) <= 0.005 * 0.05
    assert thresholds(legit, 0.005, rng.random(20_000) < 0.01).verify == float("inf")  # rules spent the budget


def test_thresholds_carried_to_a_retrained_model_interrupt_as_many_recent_payments() -> None:
    rng = np.random.default_rng(1)
    old = rng.random(8_000)
    new = np.sqrt(old) * 0.5 + rng.normal(0, 0.01, 8_000)  # another scale, nearly the same order
    th = Thresholds(0.99, 0.997, float("inf"), 0.005)
    moved = carried_over(th, old, new)
    assert np.sum(new >= moved.verify) == np.sum(old >= th.verify)
    assert np.sum(new >= moved.delay) == np.sum(old >= th.delay)
    assert moved.restrict == float("inf") and moved.verify < 0.51  # a closed step stays closed; new scale
    floor = np.where(old < 0.99, 1e-9, old)  # a confident model gives most payments one score
    assert np.sum(floor >= carried_over(th, old, floor).verify) == np.sum(old >= th.verify)


def test_the_cold_start_score_keeps_the_budget_and_ranks_unusual_payments_first(bank: Path) -> None:
    ds = _dataset(bank)
    names = ds.feature_columns()
    rows = np.arange(len(ds.frame))
    scorer = fit_cold_start(ds.matrix(names, rows), names, 0.01)
    scores = scorer.predict_batch(ds.matrix(list(scorer.features), rows))
    y = ds.labels()
    alert = scores >= scorer.policy.verify
    # The window's frauds crowd its top: the thresholds reach past the budget of all payments, not of
    # the legitimate ones, and not past the cap.
    assert np.mean(alert[y == 0]) <= 0.01 < np.mean(alert) <= LOOSEN_CAP * 0.01
    assert scores[y == 1].mean() > scores[y == 0].mean() + 0.2
    live = dict(zip(scorer.features, ds.matrix(list(scorer.features), rows[:1])[0], strict=True))
    assert scorer.predict(live) == pytest.approx(scores[0])


def test_unlabelled_frauds_at_the_window_top_loosen_the_cold_start_thresholds_within_the_budget() -> None:
    rng = np.random.default_rng(3)
    ordinary = rng.gamma(3.0, 1.0, 40_000)  # a sum of surprises: its tail thins at least exponentially

    def fit(total: np.ndarray):  # type: ignore[no-untyped-def]
        grid = np.sort(total)
        scores = rarity(_tails(grid, total, HIGH))
        return scores, tail_thresholds(total, scores, grid, 0.005), thresholds(scores, 0.005)

    scores, th, plain = fit(ordinary)
    assert th == plain  # no surplus: every payment counted as legitimate, as before
    frauds = rng.uniform(14.0, 30.0, 300)  # 0.75 % unlabelled frauds, far out: more than the budget
    total = np.concatenate([ordinary, frauds])
    scores, th, plain = fit(total)
    assert th.verify < plain.verify and th.delay <= plain.delay and th.restrict <= plain.restrict
    legit, fraud = scores[: len(ordinary)], scores[len(ordinary):]
    assert np.mean(legit >= th.verify) <= 0.005  # the budget holds for the ordinary payments
    assert np.mean(fraud >= plain.verify) < 0.7 and np.mean(fraud >= th.verify) == 1.0
    heavy = rng.pareto(1.5, 40_000)  # a heavy ordinary tail the line under-expects: the cap holds
    scores, th, plain = fit(heavy)
    assert th.verify < plain.verify
    assert np.mean(scores >= th.verify) <= LOOSEN_CAP * 0.005 + 1e-9


def test_an_amount_beyond_the_balance_is_no_larger_drain_to_the_cold_start_score() -> None:
    rng = np.random.default_rng(5)
    n = 10_000
    ratio = rng.uniform(0.0, 0.9, n)
    beyond = rng.random(n) < 0.2  # amounts past the balance are common in this export
    ratio[beyond] = rng.uniform(1.5, 200.0, beyond.sum())
    exact = rng.random(n) < 0.01
    ratio[exact] = 1.0
    window = np.column_stack([ratio, exact.astype(float), rng.random(n)])
    scorer = fit_cold_start(window, ["drain_ratio", "drains_balance", "pop_amount_pctl"], 0.005)
    drained = scorer.predict({"drain_ratio": 1.0, "drains_balance": 1.0, "pop_amount_pctl": 0.5})
    overdrawn = scorer.predict({"drain_ratio": 150.0, "drains_balance": 0.0, "pop_amount_pctl": 0.5})
    assert drained > overdrawn + 0.2


def test_a_place_at_a_terminal_reported_at_many_places_is_no_surprise_to_the_cold_start_score() -> None:
    rng = np.random.default_rng(1)
    names = ["card_km_from_usual", "card_amount_pctl", "term_place_spread_km"]
    n = 5_000
    spread = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(100, 2_000, n))  # half fixed, half wandering ids
    window = np.column_stack([rng.exponential(5.0, n), rng.random(n), spread])
    scorer = fit_cold_start(window, names, 0.01)
    far_at = {"card_km_from_usual": 400.0, "card_amount_pctl": 0.5}
    fixed = scorer.predict({**far_at, "term_place_spread_km": 0.0})
    wandering = scorer.predict({**far_at, "term_place_spread_km": 900.0})
    ordinary = scorer.predict({"card_km_from_usual": 1.0, "card_amount_pctl": 0.5, "term_place_spread_km": 0.0})
    assert fixed >= scorer.policy.verify > wandering
    assert wandering == pytest.approx(ordinary, abs=0.15)
    assert "card_km_from_usual" in dict(scorer.contributions({**far_at, "term_place_spread_km": 0.0}, 3))
    assert "card_km_from_usual" not in dict(scorer.contributions({**far_at, "term_place_spread_km": 900.0}, 3))
    assert ColdStartScorer.from_json(scorer.to_json(), "v").predict({**far_at, "term_place_spread_km": 900.0}) == \
        pytest.approx(wandering)


def test_when_the_rules_use_the_whole_budget_the_cold_start_score_says_it_will_interrupt_nothing(
        bank: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _dataset(bank)
    names = ds.feature_columns()
    rows = np.arange(len(ds.frame))
    noisy = np.arange(len(rows)) % 50 == 0  # rules that interrupt 2 % of the window, over a 1 % budget
    idle = fit_cold_start(ds.matrix(names, rows), names, 0.01, noisy)
    assert idle.policy.verify == float("inf")
    share = float(f"{noisy.mean():.6f}")
    assert cold_start_idle(idle, {"rules_interrupt": str(share)}) == {"rules_interrupt": share, "budget": 0.01}
    assert cold_start_idle(fit_cold_start(ds.matrix(names, rows), names, 0.01), {"rules_interrupt": "0"}) is None
    monkeypatch.setenv("DUNPAI_POLICY_MAX_INTERRUPT_RATE", "0.000001")  # not one payment fits
    result = dunpai("train", "--unsupervised", "--data-dir", str(bank))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "没有给冷启动评分留下余地" in text and "leaves the cold-start score no room" in text
    result = dunpai("eval", "--protocol", "split", "--data-dir", str(bank))
    assert result.exit_code == 0, result.output
    assert "in 100% of the folds the alert budget left the score no room" in " ".join(result.output.split())


def _dataset(data: Path):  # type: ignore[no-untyped-def]
    from dunpai.core.db import make_engine

    return load(make_engine(f"sqlite:///{data / 'dunpai.db'}"), HistoryStore(data, "default"))
