"""S4 in live decisions: a card exposed at a flagged skimming terminal carries more risk until it is
reissued; a counterfeit (stripe) use of it is held; a use at the flagged terminal itself is noted."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from dunpai.risk.compromise import (
    ArrayVisitHistory,
    CompromiseJob,
    ExposureEnricher,
    MemoryExposureRepository,
    fraud_card_from_label,
)
from dunpai.risk.compromise.scenario import s4_demo_events
from dunpai.risk.events.schemas import CardPresent, Label, PosEntryMode

from .helpers import Replay, engine_with, hits


def test_exposed_cards_are_raised_in_decisions_until_reissued() -> None:
    events, truth = s4_demo_events()
    cards = [e for e in events if isinstance(e, CardPresent)]
    repo = MemoryExposureRepository()
    job = CompromiseJob(ArrayVisitHistory.from_events(cards), repo)
    for e in events:
        if isinstance(e, Label):
            job.add_fraud(fraud_card_from_label(e))  # type: ignore[arg-type]
    end = events[-1].event_time.timestamp()
    report = job.run(end)
    assert report.flags and report.new_exposed
    exposed = report.new_exposed[0]
    flagged_terminal = report.flags[0].terminal_id
    replay = Replay(engine_with(ExposureEnricher(repo)))
    when = datetime.fromtimestamp(end + 3600, UTC)

    def use(event_id: str, card: str, terminal: str, mode: PosEntryMode) -> CardPresent:
        return CardPresent(event_id=event_id, event_time=when, txn="atm_withdrawal", card_id=card,
                           account_id="A-x", customer_id="P-x", terminal_id=terminal, pos_entry_mode=mode,
                           chip_card=True, amount=Decimal(200_000))

    stripe = replay.decide(use("x1", exposed.card_id, "T-far-away", "90"))
    assert stripe.action == "restrict"  # stripe read of a chip card that was exposed: combo
    assert {"S1.exposed_card_stripe", "S1.counterfeit_combo"} <= hits(stripe)
    chip = replay.decide(use("x2", exposed.card_id, "T-far-away", "05"))
    assert chip.action == "verify" and "S1.exposed_card_cash" in hits(chip)
    at_skimmer = replay.decide(use("x3", "card-never-seen", flagged_terminal, "05"))
    assert "S1.at_flagged_terminal" in hits(at_skimmer)
    repo.mark_reissued(exposed.card_id, end + 1800)
    after = replay.decide(use("x4", exposed.card_id, "T-far-away", "05"))
    assert after.action == "allow" and "sig_exposed_card" not in after.signals
    assert set(truth.skimmed) >= {f.terminal_id for f in report.flags}
