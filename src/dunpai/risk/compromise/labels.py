"""From the label stream to the job's input: which confirmed frauds point to a skimmer."""

from __future__ import annotations

from dunpai.risk.compromise.model import FraudCard
from dunpai.risk.events.schemas import Label


def fraud_card_from_label(label: Label) -> FraudCard | None:
    """A confirmed card-present (counterfeit) fraud on a card, or ``None`` for anything else.

    Only frauds at a terminal count (the label names the terminal): a card-not-present fraud says
    nothing about where the card was copied. The first-fraud time is the labelled event's time
    when given, else the label's; the known time is always the label's (when it became known).
    """
    if not label.fraud or label.card_id is None or label.terminal_id is None:
        return None
    known = label.event_time.timestamp()
    first = label.target_event_time.timestamp() if label.target_event_time is not None else known
    return FraudCard(card_id=label.card_id, first_fraud_t=min(first, known), known_t=known)
