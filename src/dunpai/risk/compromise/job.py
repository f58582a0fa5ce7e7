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

Terminals are flagged greedily, most significant first, and the cards a flagged terminal explains
(those that used it in its suspect window) no longer count for others, neither as fraud cards nor in
the traffic: the skimmer's victims also share their neighbourhood's other terminals, which must not
be flagged on the same cards, while a second skimmer nearby is still tested on the cards left. For
the same reason a flag rests on a window used by at least ``min_window_cards`` cards (a few victims
alone at a neighbour within the same hours are common), and a flagged terminal's window may grow
with new labels but not move off the one it was flagged on (later fraud cards there are its
regulars defrauded through another terminal, whose own test must not lose them).

``run`` is incremental: call ``add_fraud`` as labels arrive and ``run(as_of)`` whenever wanted; a
fresh job given all labels and run once is the batch form (``CompromiseJob.batch``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from dunpai.risk.compromise.labels import fraud_card_from_label
from dunpai.risk.compromise.model import (
    DAY,
    CompromiseConfig,
    CompromiseReport,
    EvidenceCard,
    ExposedCard,
    FraudCard,
    TerminalFlag,
)
from dunpai.risk.compromise.ports import ExposureRepository, MemoryExposureRepository
from dunpai.risk.compromise.stats import binom_sf_array
from dunpai.risk.compromise.visits import F64, I64, VisitHistory
from dunpai.risk.compromise.warning import combine, log10_bayes_factor, terminal_probability, victim_share
from dunpai.risk.events.schemas import Label


def _previous_use(cards: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """For each use (in time order), the index of the same card's previous use, or -1."""
    prev = np.full(len(cards), -1, dtype=np.int64)
    if len(cards) > 1:
        order = np.lexsort((np.arange(len(cards)), cards))
        same = cards[order[1:]] == cards[order[:-1]]
        prev[order[1:][same]] = order[:-1][same]
    return prev


class _Test:
    """A terminal's most significant window: ``k`` fraud cards among ``m``, its p-value (times the
    ``windows`` scanned) and base rate. ``flag`` is the same among the windows busy enough to flag."""

    __slots__ = ("cards", "end", "flag", "k", "m", "p", "rate", "start", "windows")

    def __init__(self, k: int, m: int, p: float, rate: float, start: float, end: float, cards: tuple[str, ...]) -> None:
        self.k, self.m, self.p, self.rate, self.start, self.end, self.cards = k, m, p, rate, start, end, cards
        self.windows = 1
        self.flag: _Test | None = None


class CompromiseJob:
    def __init__(
        self, history: VisitHistory, repo: ExposureRepository | None = None, config: CompromiseConfig | None = None
    ) -> None:
        self.history = history
        self.repo: ExposureRepository = repo if repo is not None else MemoryExposureRepository()
        self.config = config or CompromiseConfig()
        self._frauds: dict[str, FraudCard] = {}
        self._fraud_times: list[float] = []
        self._evidence: dict[str, list[tuple[float, str]]] = {}
        self._card_terminals: dict[str, set[str]] = {}
        self._exposed_until: dict[str, float] = {}
        self._known: set[str] = set()
        self._pending: list[FraudCard] = []
        self._cache: dict[str, tuple[tuple[int, int, int], _Test | None]] = {}
        self._warned: dict[str, tuple[float, float]] = {}
        self._card_exposure: dict[str, dict[str, float]] = {}
        self._advised: set[str] = set()
        self._explains: dict[str, set[str]] = {}
        self._explained: dict[str, tuple[float, float]] = {}
        """flagged terminal -> the suspect window whose cards ``_explains`` holds."""
        """card -> the flagged terminals it used in their suspect window (it may have been skimmed there)."""

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
        terminals = self._card_terminals.setdefault(card.card_id, set())
        for t, terminal in self.history.card_visits(card.card_id, card.first_fraud_t - lookback, card.first_fraud_t):
            self._evidence.setdefault(terminal, []).append((t, card.card_id))
            terminals.add(terminal)
        self._known.discard(card.card_id)
        self._pending.append(card)

    def on_label(self, label: Label) -> FraudCard | None:
        """Feed one label from the label stream; only confirmed card-present frauds are used."""
        card = fraud_card_from_label(label)
        if card is not None:
            self.add_fraud(card)
        return card

    def _remove(self, card: FraudCard) -> None:
        self._cache.clear()
        self._fraud_times.remove(card.first_fraud_t)
        for terminal in self._card_terminals.pop(card.card_id, set()):
            kept = [x for x in self._evidence.get(terminal, []) if x[1] != card.card_id]
            if kept:
                self._evidence[terminal] = kept
            else:
                self._evidence.pop(terminal, None)

    def _advance(self, as_of: float) -> None:
        still = []
        for card in self._pending:
            if self._frauds.get(card.card_id) is card and card.known_t <= as_of:
                self._known.add(card.card_id)
            elif self._frauds.get(card.card_id) is card:
                still.append(card)
        self._pending = still

    # --- the test ---------------------------------------------------------------------------------
    def _counts_at(self, terminal: str) -> Callable[[str], bool]:
        """Whether a card still counts at ``terminal``: no other flagged terminal explains it (it used
        that one in its suspect window: its skimmer is found)."""
        explains, mine = self._explains, {terminal}
        return lambda card: card not in explains or explains[card] <= mine

    def _visits(self, terminal: str) -> list[tuple[float, str]]:
        """Known fraud cards' uses of ``terminal`` that still count there."""
        known, counts = self._known, self._counts_at(terminal)
        return sorted((t, c) for t, c in self._evidence.get(terminal, ()) if c in known and counts(c))

    def _scan(self, terminal: str, visits: list[tuple[float, str]], population: int) -> _Test | None:
        """The most significant window at ``terminal`` (p-value not yet corrected for the windows
        scanned), with the most significant of those holding ``min_window_cards`` cards as its ``flag``.

        Every window runs from one fraud card's use to a later one (at most ``max_window_days``
        long). The different cards in all windows are counted at once: a use counts in a window when
        the same card's previous use lies before the window's start.
        """
        cfg = self.config
        visits = visits[-cfg.max_evidence_visits :]
        n = len(visits)
        if n < 2:
            return None
        times = np.array([v[0] for v in visits])
        codes: dict[str, int] = {}
        fraud_codes = np.array([codes.setdefault(c, len(codes)) for _, c in visits], dtype=np.int64)
        rows = np.arange(n)[:, None]
        # fraud cards in visits[i..j]: uses in [i, j] whose card's previous use (in visits) is before i
        prev_visit = _previous_use(fraud_codes)
        k = np.cumsum((np.arange(n)[None, :] >= rows) & (prev_visit[None, :] < rows), axis=1)
        # all cards in [times[i], times[j]] at the terminal, the same way over its traffic
        traffic_t, traffic_c = self._traffic(terminal, float(times[0]), float(times[-1]))
        prev = _previous_use(traffic_c)
        a = np.searchsorted(traffic_t, times, "left")
        b = np.searchsorted(traffic_t, times, "right")
        fresh = np.zeros((n, len(traffic_t) + 1), dtype=np.int64)
        np.cumsum(prev[None, :] < a[:, None], axis=1, out=fresh[:, 1:])
        everyone = np.take_along_axis(fresh, np.broadcast_to(b[None, :], (n, n)), axis=1) - fresh[rows, a[:, None]]
        valid = (
            (np.arange(n)[None, :] > rows)
            & (times[None, :] - times[:, None] <= cfg.max_window_days * DAY)
            & (k >= cfg.min_cards)
        )
        i_arr, j_arr = np.nonzero(valid)  # row-major: the same order as scanning starts, then ends
        if len(i_arr) == 0:
            return None
        k_arr = k[i_arr, j_arr].astype(np.int64)
        m_arr = np.maximum(everyone[i_arr, j_arr], k_arr).astype(np.int64)
        fraud_times = np.asarray(self._fraud_times)
        lo = np.searchsorted(fraud_times, times[i_arr], "right")
        hi = np.searchsorted(fraud_times, times[j_arr] + cfg.lookback_days * DAY, "right")
        rate = np.minimum(np.maximum(hi - lo, k_arr) / max(population, 1), 1.0)
        p = binom_sf_array(k_arr, m_arr, rate)

        def best(among: npt.NDArray[np.int64]) -> _Test:
            w = int(among[np.argmin(p[among])])
            i, j = int(i_arr[w]), int(j_arr[w])
            cards = tuple(sorted({c for _, c in visits[i : j + 1]}))
            test = _Test(int(k_arr[w]), int(m_arr[w]), float(p[w]), float(rate[w]), float(times[i]), float(times[j]),
                         cards)
            test.windows = len(among)
            return test

        found = best(np.arange(len(i_arr)))
        long = np.flatnonzero(m_arr >= cfg.min_window_cards)
        found.flag = best(long) if len(long) else None
        return found

    def _traffic(self, terminal: str, start: float, end: float) -> tuple[F64, I64]:
        """The terminal's uses in ``[start, end]`` (times, card codes) by the cards that still count
        there: those another flagged terminal explains count neither as frauds nor in the traffic."""
        if not self._explains:
            return self.history.terminal_arrays(terminal, start, end)
        counts = self._counts_at(terminal)
        codes: dict[str, int] = {}
        kept = [(t, codes.setdefault(c, len(codes))) for t, c in self.history.terminal_cards(terminal, start, end)
                if counts(c)]
        return np.array([t for t, _ in kept], dtype=np.float64), np.array([c for _, c in kept], dtype=np.int64)

    def _test(self, terminal: str, population: int, tests: int) -> _Test | None:
        visits = self._visits(terminal)
        if len({c for _, c in visits}) < self.config.min_cards:
            return None
        found = self._scan(terminal, visits, population)
        for test in (found, found and found.flag):
            if test is not None:
                test.p = min(1.0, test.p * test.windows * tests)
        return found

    def _rivals(self, terminal: str, res: _Test, results: dict[str, _Test]) -> list[str]:
        """Other terminals whose own best window holds at least half of this one's fraud cards (a
        skimmer's victims share their neighbourhood's terminals, so neighbours gather the same cards)."""
        need = max(2, -(-len(res.cards) // 2))
        mine = set(res.cards)
        counts: dict[str, int] = {}
        for c in res.cards:
            for other in self._card_terminals.get(c, ()):
                if other != terminal and other in results:
                    counts[other] = counts.get(other, 0) + 1
        return [o for o, n in counts.items() if n >= need and len(mine.intersection(results[o].cards)) >= need]

    def _outranks(self, rival: _Test, res: _Test) -> bool:
        """Whether ``rival`` explains ``res``'s cards as well: ``specificity`` times as significant
        or less, or holding all of them and more (unless ``specificity`` squared times less)."""
        s = self.config.specificity
        if rival.p < s * res.p:
            return True
        return len(rival.cards) > len(res.cards) and set(res.cards).issubset(rival.cards) and rival.p < s * s * res.p

    def _cached_test(self, terminal: str, population: int, tests: int, day: int) -> _Test | None:
        """A terminal's test, recomputed when its evidence grows, the day changes or the number of
        tests moves by a hundred (within a day, other terminals' new frauds barely move its rate)."""
        n = len(self._visits(terminal))
        key = (n, day, tests // 100)
        hit = self._cache.get(terminal)
        if hit is not None and hit[0] == key:
            return hit[1]
        res = self._test(terminal, population, tests) if n >= self.config.min_cards else None
        self._cache[terminal] = (key, res)
        return res

    # --- a run ------------------------------------------------------------------------------------
    def run(self, as_of: float) -> CompromiseReport:
        """Test every terminal with evidence known by ``as_of``; flag; expose flagged terminals' cards.

        Terminals are taken most significant first. A terminal is flagged only when it is still
        significant without the fraud cards that flagged terminals explain (cards used at a flagged
        terminal in its suspect window), when it is ``specificity`` times more significant than every
        unflagged rival (a terminal whose best window holds half or more of the same fraud cards; its
        best window busy enough to flag, or its best of all while it has none), and when no such
        rival's window holds all of its cards and more (unless ``specificity`` squared times less
        significant).
        """
        cfg = self.config
        self._advance(as_of)
        known = self._known
        population = self.history.active_cards(as_of)
        terminals = [t for t, items in self._evidence.items() if any(c in known for _, c in items)]
        tests = max(len(terminals), 1)
        day = int(as_of // DAY)
        results: dict[str, _Test] = {}
        for terminal in terminals:
            res = self._cached_test(terminal, population, tests, day)
            if res is not None:
                results[terminal] = res
        flagged = {f.terminal_id: f for f in self.repo.flags()}
        new_flags: list[TerminalFlag] = []
        new_exposed: list[ExposedCard] = []
        windows = {t: r.flag for t, r in results.items() if r.flag is not None}  # busy enough to flag
        for _, terminal in sorted((w.p, t) for t, w in windows.items()):
            old = flagged.get(terminal)
            if old is None:
                found = self._cached_test(terminal, population, tests, day)  # less what this run's flags explain
                if found is None or found.flag is None or found.flag.p > cfg.alpha:
                    continue
                results[terminal], windows[terminal] = found, found.flag
                res = found.flag
                unflagged = [r for r in self._rivals(terminal, res, results) if r not in flagged]
                if any(self._outranks(results[r].flag or results[r], res) for r in unflagged):
                    continue
            res = windows[terminal]
            if old is not None and (res.end < old.window_start or res.start > old.window_end):
                continue  # its best window moved off the flagged one: other cards (a neighbour's victims)
            flag = self._flag(terminal, res, as_of, tests)
            self.repo.save_flag(flag)
            flagged[terminal] = flag
            self._explain(flag)  # for the terminals after it
            if old is None:
                new_flags.append(flag)
        new_exposed += self._expose(as_of)
        new_exposed += self._warn(as_of, results, flagged)
        return CompromiseReport(
            as_of=as_of,
            new_flags=tuple(new_flags),
            flags=tuple(self.repo.flags()),
            new_exposed=tuple(new_exposed),
            exposed_total=len(self.repo.exposed_cards()),
            reissue_advised=self._advise(new_exposed),
        )

    def _explain(self, flag: TerminalFlag) -> None:
        """The cards used at a flagged terminal in its suspect window are explained by it (read again
        only when a run moves the window)."""
        window = (flag.window_start, flag.window_end)
        if self._explained.get(flag.terminal_id) == window:
            return
        self._explained[flag.terminal_id] = window
        for _, card in self.history.terminal_cards(flag.terminal_id, *window):
            self._explains.setdefault(card, set()).add(flag.terminal_id)

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

    def _warn(self, as_of: float, results: dict[str, _Test], flagged: dict[str, TerminalFlag]) -> list[ExposedCard]:
        """Early warning (:mod:`.warning`): the cards used at a candidate terminal since its suspect
        window began get its graded exposure; fraud cards a flagged terminal explains count no more."""
        cfg = self.config
        explained = {e.card_id for f in flagged.values() for e in f.evidence}
        before = cfg.expose_before_days * DAY
        items: list[ExposedCard] = []
        for terminal in sorted(results):
            if terminal in flagged:
                continue
            res = results[terminal]
            k = sum(1 for c in res.cards if c not in explained)
            if k < cfg.min_cards:
                continue
            lbf = log10_bayes_factor(k, res.m, res.rate, res.windows)
            exposure = terminal_probability(lbf, cfg.skim_prior) * victim_share(k, res.m)
            if exposure < cfg.warn_floor:
                continue
            shown, until = self._warned.get(terminal, (0.0, -math.inf))
            start = res.start - before if exposure > shown else max(res.start - before, until)
            exposure = max(exposure, shown)
            items += [
                ExposedCard(card, terminal, t, as_of, exposure)
                for t, card in self.history.terminal_cards(terminal, start, as_of)
            ]
            self._warned[terminal] = (exposure, as_of)
        return self.repo.add_exposed(items)

    def _advise(self, new: list[ExposedCard]) -> tuple[str, ...]:
        """Cards whose exposure (over all their terminals) reached ``reissue_at`` in this run."""
        for e in new:
            per = self._card_exposure.setdefault(e.card_id, {})
            per[e.terminal_id] = max(per.get(e.terminal_id, 0.0), e.exposure)
        out = []
        for card in sorted({e.card_id for e in new} - self._advised):
            if combine(self._card_exposure[card].values()) >= self.config.reissue_at:
                self._advised.add(card)
                out.append(card)
        return tuple(out)

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
