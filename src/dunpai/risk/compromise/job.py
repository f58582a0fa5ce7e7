"""The point-of-compromise job: from cards with confirmed counterfeit fraud, find the terminals that
those cards used before their fraud more often than chance allows, given each terminal's traffic.

The test, per terminal ``T``: take the fraud cards that used ``T`` within ``lookback`` before their
first fraud. For every time window ``W`` spanned by two of those uses, count ``k`` fraud cards and
``m`` cards in all that used ``T`` in ``W``. Under "T is an ordinary terminal" each of the ``m``
cards is a known fraud card (with its first fraud within ``lookback`` after the use) with probability
``r = #fraud cards whose first fraud falls in (W.start, W.end + lookback] / #active cards``, so
``p = P(Binomial(m, r) >= k)``. A terminal's p-value is the smallest window's p times the number of
windows scanned, and it is flagged when that p times the number of terminals with any evidence is
below ``alpha`` (Bonferroni: the family-wise chance of a false flag in one run stays below ``alpha``).

Terminals are flagged greedily, most significant first, and the fraud cards a flagged terminal
explains no longer count as evidence for others: the skimmer's victims also share their
neighbourhood's other terminals, which must not be flagged on the same cards.

``run`` is incremental: call ``add_fraud`` as labels arrive and ``run(as_of)`` whenever wanted; a
fresh job given all labels and run once is the batch form (``CompromiseJob.batch``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

from dunpai.risk.compromise.history import VisitHistory
from dunpai.risk.compromise.model import (
    DAY,
    CompromiseConfig,
    CompromiseReport,
    EvidenceCard,
    ExposedCard,
    FraudCard,
    TerminalFlag,
)
from dunpai.risk.compromise.repository import ExposureRepository, MemoryExposureRepository
from dunpai.risk.compromise.stats import binom_sf


class _Test:
    __slots__ = ("cards", "end", "k", "m", "p", "rate", "start")

    def __init__(
        self, k: int, m: int, p: float, rate: float, start: float, end: float, cards: tuple[str, ...]
    ) -> None:
        self.k, self.m, self.p, self.rate, self.start, self.end, self.cards = k, m, p, rate, start, end, cards


class CompromiseJob:
    def __init__(
        self,
        history: VisitHistory,
        repo: ExposureRepository | None = None,
        config: CompromiseConfig | None = None,
    ) -> None:
        self.history = history
        self.repo: ExposureRepository = repo if repo is not None else MemoryExposureRepository()
        self.config = config or CompromiseConfig()
        self._frauds: dict[str, FraudCard] = {}
        self._fraud_times: list[float] = []
        self._evidence: dict[str, list[tuple[float, str]]] = {}
        self._explained: dict[str, str] = {}
        self._exposed_until: dict[str, float] = {}

    # --- input ------------------------------------------------------------------------------------
    def add_fraud(self, card: FraudCard) -> None:
        """A confirmed counterfeit fraud became known (``card.known_t``). Idempotent per card; an
        earlier first fraud of the same card replaces the later one."""
        old = self._frauds.get(card.card_id)
        if old is not None:
            if old.first_fraud_t <= card.first_fraud_t:
                return
            self._remove(old)
        self._frauds[card.card_id] = card
        bisect.insort(self._fraud_times, card.first_fraud_t)
        lookback = self.config.lookback_days * DAY
        for t, terminal in self.history.card_visits(
            card.card_id, card.first_fraud_t - lookback, card.first_fraud_t
        ):
            self._evidence.setdefault(terminal, []).append((t, card.card_id))

    def _remove(self, card: FraudCard) -> None:
        self._fraud_times.remove(card.first_fraud_t)
        for terminal, items in list(self._evidence.items()):
            kept = [x for x in items if x[1] != card.card_id]
            if kept:
                self._evidence[terminal] = kept
            else:
                del self._evidence[terminal]

    # --- the test ---------------------------------------------------------------------------------
    def _known(self, as_of: float) -> set[str]:
        return {c for c, f in self._frauds.items() if f.known_t <= as_of}

    def _test(
        self, terminal: str, as_of: float, known: set[str], population: int, tests: int
    ) -> _Test | None:
        cfg = self.config
        owner = self._explained
        visits = sorted(
            (t, c)
            for t, c in self._evidence.get(terminal, ())
            if c in known and owner.get(c, terminal) == terminal
        )
        if len({c for _, c in visits}) < cfg.min_cards:
            return None
        visits = visits[-cfg.max_evidence_visits :]
        lookback = cfg.lookback_days * DAY
        best: _Test | None = None
        windows = 0
        n = len(visits)
        for i in range(n):
            for j in range(i + 1, n):
                start, end = visits[i][0], visits[j][0]
                cards = tuple(sorted({c for t, c in visits[i : j + 1]}))
                if len(cards) < cfg.min_cards:
                    continue
                windows += 1
                m = max(self.history.distinct_cards(terminal, start, end), len(cards))
                lo = bisect.bisect_right(self._fraud_times, start)
                hi = bisect.bisect_right(self._fraud_times, end + lookback)
                rate = min(max(hi - lo, len(cards)) / max(population, 1), 1.0)
                p = binom_sf(len(cards), m, rate)
                if best is None or p < best.p:
                    best = _Test(len(cards), m, p, rate, start, end, cards)
        if best is None:
            return None
        best.p = min(1.0, best.p * windows * tests)
        return best

    # --- a run ------------------------------------------------------------------------------------
    def run(self, as_of: float) -> CompromiseReport:
        """Test every terminal with evidence known by ``as_of``; flag, and expose the flagged terminals' cards."""
        cfg = self.config
        known = self._known(as_of)
        population = self.history.active_cards(as_of)
        terminals = [t for t, items in self._evidence.items() if any(c in known for _, c in items)]
        tests = max(len(terminals), 1)
        flagged = {f.terminal_id: f for f in self.repo.flags()}
        results = []
        for terminal in terminals:
            res = self._test(terminal, as_of, known, population, tests)
            if res is not None and (res.p <= cfg.alpha or terminal in flagged):
                results.append((res.p, terminal))
        results.sort()
        new_flags: list[TerminalFlag] = []
        for _, terminal in results:
            res = self._test(terminal, as_of, known, population, tests)  # after earlier flags explained cards
            if res is None or (res.p > cfg.alpha and terminal not in flagged):
                continue
            flag = self._flag(terminal, res, as_of, tests)
            old = flagged.get(terminal)
            self.repo.save_flag(flag)
            if old is None:
                new_flags.append(flag)
            for card in res.cards:
                self._explained.setdefault(card, terminal)
        new_exposed = self._expose(as_of)
        all_flags = tuple(self.repo.flags())
        return CompromiseReport(
            as_of=as_of,
            new_flags=tuple(new_flags),
            flags=all_flags,
            new_exposed=tuple(new_exposed),
            exposed_total=len(self.repo.exposed_cards()),
        )

    def _flag(self, terminal: str, res: _Test, as_of: float, tests: int) -> TerminalFlag:
        evidence = []
        for card in res.cards:
            fraud = self._frauds[card]
            visit = min(t for t, c in self._evidence[terminal] if c == card and res.start <= t <= res.end)
            evidence.append(EvidenceCard(card, visit, fraud.first_fraud_t, fraud.known_t))
        evidence.sort(key=lambda e: (e.visit_t, e.card_id))
        p = max(res.p, 1e-300)
        return TerminalFlag(
            terminal_id=terminal,
            flagged_at=as_of,
            score=-math.log10(p),
            p_value=p,
            window_start=res.start,
            window_end=res.end,
            fraud_cards=res.k,
            window_cards=res.m,
            base_rate=res.rate,
            tests=tests,
            evidence=tuple(evidence),
        )

    def _expose(self, as_of: float) -> list[ExposedCard]:
        """Every card used at an active flagged terminal from ``expose_before`` ahead of its window up to
        now (the skimmer may still be there) is exposed; later runs add later uses."""
        before = self.config.expose_before_days * DAY
        out: list[ExposedCard] = []
        for flag in self.repo.flags():
            if not flag.active_at(as_of):
                continue
            start = max(flag.window_start - before, self._exposed_until.get(flag.terminal_id, -math.inf))
            items = [
                ExposedCard(card, flag.terminal_id, t, as_of)
                for t, card in self.history.terminal_cards(flag.terminal_id, start, as_of)
            ]
            self._exposed_until[flag.terminal_id] = as_of
            out.extend(self.repo.add_exposed(items))
        return out

    # --- the batch form ---------------------------------------------------------------------------
    @classmethod
    def batch(
        cls,
        history: VisitHistory,
        frauds: Iterable[FraudCard],
        as_of: float,
        repo: ExposureRepository | None = None,
        config: CompromiseConfig | None = None,
    ) -> CompromiseReport:
        """Run once over the whole history with every label known by ``as_of``."""
        job = cls(history, repo, config)
        for card in frauds:
            if card.known_t <= as_of:
                job.add_fraud(card)
        return job.run(as_of)
