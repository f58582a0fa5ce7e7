"""One contract for every exposure repository and visit history; the enricher on top of them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from dunpai.core.errors import NotFound
from dunpai.risk.compromise import (
    ArrayVisitHistory,
    CompromiseJob,
    ExposedCard,
    ExposureEnricher,
    ExposureRepository,
    FraudCard,
    TerminalFlag,
)
from dunpai.risk.compromise.model import DAY, EvidenceCard
from dunpai.risk.compromise.sql import SqlVisitHistory
from dunpai.risk.events.schemas import CardPresent, Login


def flag(terminal: str = "T1", at: float = 10 * DAY) -> TerminalFlag:
    return TerminalFlag(terminal, at, 5.0, 1e-5, 2 * DAY, 4 * DAY, 3, 7, 0.01, 100,
                        (EvidenceCard("C1", 2 * DAY, 8 * DAY, 9 * DAY),))


def test_flags_round_trip_keep_first_time_and_clear(repo: ExposureRepository) -> None:
    repo.save_flag(flag())
    repo.save_flag(flag(at=12 * DAY))
    stored = repo.flag_of("T1")
    assert stored is not None and stored.flagged_at == 10 * DAY
    assert stored.evidence == (EvidenceCard("C1", 2 * DAY, 8 * DAY, 9 * DAY),)
    assert [f.terminal_id for f in repo.flags()] == ["T1"]
    cleared = repo.clear_flag("T1", 20 * DAY)
    assert cleared.active_at(15 * DAY) and not cleared.active_at(20 * DAY)
    repo.save_flag(flag(at=25 * DAY))  # a re-evaluation does not undo the inspection
    assert repo.flag_of("T1").cleared_at == 20 * DAY  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        repo.clear_flag("T9", 1.0)
    assert repo.flag_of("T9") is None


def test_exposures_are_kept_once_per_card_and_terminal(repo: ExposureRepository) -> None:
    first = ExposedCard("C1", "T1", 3 * DAY, 10 * DAY)
    assert repo.add_exposed([first]) == [first]
    assert repo.add_exposed([ExposedCard("C1", "T1", 3 * DAY, 11 * DAY)]) == []
    assert repo.add_exposed([ExposedCard("C1", "T2", 5 * DAY, 12 * DAY)]) != []
    assert [e.terminal_id for e in repo.exposures_of("C1")] == ["T1", "T2"]
    assert repo.exposures_of("C1")[0].exposed_at == 10 * DAY
    assert len(repo.exposed_cards()) == 2
    assert repo.reissued_at("C1") is None
    repo.mark_reissued("C1", 15 * DAY)
    repo.mark_reissued("C1", 14 * DAY)
    assert repo.reissued_at("C1") == 15 * DAY


def _cp(card: str, terminal: str, day: float, event_id: str = "e1") -> CardPresent:
    return CardPresent(event_id=event_id, event_time=datetime.fromtimestamp(day * DAY, UTC), txn="atm_withdrawal",
                       card_id=card, account_id="A1", customer_id="P1", terminal_id=terminal,
                       pos_entry_mode="05", amount=Decimal(10_000))


def test_enricher_raises_exposure_until_reissue(repo: ExposureRepository) -> None:
    enricher = ExposureEnricher(repo)
    assert set(enricher.feature_names()) == {"card_exposed", "terminal_flagged", "card_exposure_score",
                                             "card_exposure"}
    repo.save_flag(flag())
    repo.add_exposed([ExposedCard("C1", "T1", 3 * DAY, 10 * DAY)])
    before = enricher.enrich(_cp("C1", "T7", 9), 9 * DAY)
    assert before["card_exposed"] == 0.0
    during = enricher.enrich(_cp("C1", "T7", 11), 11 * DAY)
    assert during["card_exposed"] == 1.0 and during["card_exposure_score"] == 5.0
    assert during["terminal_flagged"] == 0.0
    assert enricher.enrich(_cp("C2", "T1", 11), 11 * DAY)["terminal_flagged"] == 1.0
    repo.mark_reissued("C1", 12 * DAY)
    assert enricher.enrich(_cp("C1", "T7", 13), 13 * DAY)["card_exposed"] == 0.0
    assert enricher.enrich(_cp("C1", "T7", 11.5), 11.5 * DAY)["card_exposed"] == 1.0  # replay keeps event time
    assert during["card_exposure"] == 1.0
    login = Login(event_id="l1", event_time=datetime.fromtimestamp(DAY, UTC), customer_id="P1", device_id="D1")
    assert enricher.enrich(login, DAY) == {}


def test_sql_history_matches_array_history_and_drives_the_job(sql_engine: Engine) -> None:
    visits = [(f"C{c}", f"T{(c * 7 + d) % 5}", d * DAY + c * 11.0) for c in range(12) for d in range(20)]
    array = ArrayVisitHistory.from_arrays([v[0] for v in visits], [v[1] for v in visits], [v[2] for v in visits])
    sql = SqlVisitHistory(sql_engine)
    assert sql.record(visits) == len(visits)
    for history in (array, sql):
        assert history.card_visits("C3", 2 * DAY, 5 * DAY) == array.card_visits("C3", 2 * DAY, 5 * DAY)
        assert history.terminal_cards("T1", 0, 3 * DAY) == array.terminal_cards("T1", 0, 3 * DAY)
        assert history.distinct_cards("T1", 0, 3 * DAY) == array.distinct_cards("T1", 0, 3 * DAY) > 0
        assert history.active_cards(0.0) == 1 and history.active_cards(30 * DAY) == 12
    frauds = [FraudCard(f"C{c}", 15 * DAY, 16 * DAY) for c in range(3)]
    a = CompromiseJob.batch(array, frauds, 20 * DAY)
    b = CompromiseJob.batch(sql, frauds, 20 * DAY)
    assert [f.terminal_id for f in a.flags] == [f.terminal_id for f in b.flags]


def test_graded_exposure_rises_per_terminal_and_steps_up_from_warn_at(repo: ExposureRepository) -> None:
    enricher = ExposureEnricher(repo, warn_at=0.05)
    assert repo.add_exposed([ExposedCard("C1", "T1", 3 * DAY, 10 * DAY, 0.03)]) != []
    assert repo.add_exposed([ExposedCard("C1", "T1", 3 * DAY, 11 * DAY, 0.02)]) == []  # lower: kept as it was
    low = enricher.enrich(_cp("C1", "T7", 10.5), 10.5 * DAY)
    assert low["card_exposure"] == pytest.approx(0.03) and low["card_exposed"] == 0.0
    assert low["card_exposure_score"] == 0.0  # no flag behind an early warning
    raised = ExposedCard("C1", "T1", 3 * DAY, 12 * DAY, 0.04)
    assert repo.add_exposed([raised]) == [raised]
    assert [e.exposure for e in repo.exposures_of("C1")] == [0.04]
    repo.add_exposed([ExposedCard("C1", "T2", 4 * DAY, 12 * DAY, 0.04)])
    both = enricher.enrich(_cp("C1", "T7", 12.5), 12.5 * DAY)
    assert both["card_exposure"] == pytest.approx(1 - 0.96 * 0.96) and both["card_exposed"] == 1.0
    repo.mark_reissued("C1", 13 * DAY)
    assert enricher.enrich(_cp("C1", "T7", 14), 14 * DAY)["card_exposure"] == 0.0
