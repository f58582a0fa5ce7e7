"""The figures of docs/scale-out.md, generated from bench/results/scale.json (written by
``python -m bench.scale_bench``): the page's text between its ``generated`` markers is rewritten,
never edited by hand.

    python -m bench.scale_doc      # also run by python -m bench.report
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "bench" / "results" / "scale.json"
PAGE = ROOT / "docs" / "scale-out.md"
BLOCK = re.compile(r"(<!-- generated: (\w+) .*?-->\n)(.*?)(<!-- end of generated block -->)", re.S)


def _span(values: list[float], digits: int = 0, unit: str = "") -> str:
    """``low–high`` (or one value) of the figures, formatted alike."""
    low, high = f"{min(values):,.{digits}f}", f"{max(values):,.{digits}f}"
    return f"{low}{unit}" if low == high else f"{low}–{high}{unit}"


def _list(values: list[float], digits: int = 0) -> str:
    text = [f"{v:,.{digits}f}" for v in values]
    return ", ".join(text[:-1]) + " and " + text[-1] if len(text) > 1 else text[0]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def candidates(r: dict[str, Any]) -> list[str]:
    rows = r["candidates"]
    pg = [c for c in rows if c["candidate"] == "postgresql_row_locks"]
    cas = [c for c in rows if c["candidate"] == "redis_lua_cas"]
    workers = [c["workers"] for c in cas]
    retries = " → ".join(f"{c['retries_per_decision']:.2f}" for c in cas)
    return [
        f"Measured here (`candidates`, one event per transaction, {_span([c['events'] for c in rows])} events of "
        f"{r['events']['cards']:,} cards; the machine was shared with other jobs at the time, so compare within "
        f"the table): PostgreSQL row locks decided {_span([c['decisions_per_s'] for c in pg])} events/s at every "
        f"worker count from {min(c['workers'] for c in pg)} to {max(c['workers'] for c in pg)}, with "
        f"**{_span([c['retries'] for c in pg])} retries**, "
        f"{_span([c['worker_cpu_ms_per_decision'] for c in pg], 1)} ms of worker CPU and "
        f"{_span([c['db_cpu_ms_per_decision'] for c in pg], 1)} ms of PostgreSQL CPU per decision. Redis "
        f"compare-and-set decided {_span([c['decisions_per_s'] for c in cas])} events/s with "
        f"{cas[0]['worker_cpu_ms_per_decision']:.1f} ms of worker CPU per decision for {cas[0]['workers']} worker, "
        f"but its **retries per decision were {retries}** "
        f"at {_list(workers)} workers and its worker CPU per decision rose with them (to "
        f"{cas[-1]['worker_cpu_ms_per_decision']:.1f} ms at {cas[-1]['workers']} workers).",
    ]


def measured(r: dict[str, Any]) -> list[str]:
    runs, big, kill, node, sizing = r["runs"], r["runs_bigger_batches"], r["kill"], r["node_kill"], r["sizing"]
    workers = _list([x["workers"] for x in runs])
    db_cpu = [x["db_cpu_ms_per_decision"] for x in (*runs, *big)]
    return [
        f"One tenant, {r['events']['decisions']:,} events of {r['events']['cards']:,} cards with their terminals, "
        f"merchants, devices and payees, worker processes on one PostgreSQL database, medians of "
        f"{runs[0]['repeats']} runs on this {r['machine']['cpus']}-core machine (workers, PostgreSQL and the "
        "benchmark share the cores):",
        "",
        f"* **The embedded single process is unchanged:** against the service before this work, in "
        f"{r['embedded_before']['pairs']} alternating pairs in the same run, {r['embedded_speed_vs_before']:.2f}× "
        f"its decisions/s and {r['embedded_cpu_per_decision_vs_before']:.3f}× its CPU per decision.",
        f"* **Workers, batches of {r['events']['batch']}:** {_list([x['decisions_per_s'] for x in runs])} "
        f"decisions/s with {workers} workers (p99 per batch {_list([x['p99_ms'] for x in runs], 1)} ms); "
        f"**batches of {big[0]['batch']}** (what the HTTP server's group commit makes under load): "
        f"{_list([x['decisions_per_s'] for x in big])} decisions/s.",
        f"* **Efficiency** (the embedded process's CPU per decision / a worker's): "
        f"{_list([x['efficiency'] for x in runs], 2)} with batches of {r['events']['batch']}; "
        f"{_list([x['efficiency'] for x in big], 2)} with batches of {big[0]['batch']} (single runs on this "
        f"shared machine move by about ±0.1); PostgreSQL's own CPU {_span(db_cpu, 2)} ms per decision on top.",
        f"* **Kill of a worker:** one of two workers SIGKILLed mid-load — {kill['acknowledged']:,} decisions "
        f"acknowledged, {kill['stored']:,} stored, {kill['duplicated']} duplicated; the events it had not answered, "
        f"resent to a running worker, were answered from {kill['recovery_s']:.2f} s after the kill; "
        f"{kill['decisions_equal_to_replay']:,} of {kill['events']:,} decisions equal a single-process replay of "
        "the log.",
        f"* **Kill of a database node:** the primary killed after {node['acknowledged_before_kill']:,} decisions "
        f"and the standby promoted: {node['acknowledged']:,} of {node['events']:,} decisions acknowledged, "
        f"{node['stored_total']:,} stored, {node['acknowledged_lost']} lost, {node['duplicated']} duplicated, "
        f"{node['decisions_equal_to_replay']:,} equal to a single-process replay; the first decision after the "
        f"kill came {node['recovery_s']:.2f} s after it.",
        f"* **Sizing for {sizing['target_decisions_per_s']:,} decisions/s** (from the measured CPU per decision, "
        f"cores at most 60 % busy): about {sizing['worker_cores']:.0f} worker cores and {sizing['db_cores']:.0f} "
        f"PostgreSQL cores — {_count(sizing['worker_machines_16_cores'], 'worker machine')} of 16 cores and "
        f"{_count(sizing['db_machines_32_cores'], 'database machine')} of 32 — **provided the load spreads over "
        "tenants or the hot rows are sharded**: one tenant's payments are bounded by its population row (here about "
        f"{sizing['hot_key_ceiling_decisions_per_s']:,.0f} decisions/s). The assumptions are written out in "
        "`scale.json` → `sizing`.",
    ]


SECTIONS = {"candidates": candidates, "measured": measured}


def render(page: str, r: dict[str, Any]) -> str:
    """``page`` with each generated block replaced by its section of ``r``."""
    def block(m: re.Match[str]) -> str:
        return m.group(1) + "\n".join(SECTIONS[m.group(2)](r)) + "\n" + m.group(4)

    return BLOCK.sub(block, page)


def write() -> None:
    if SOURCE.exists():
        PAGE.write_text(render(PAGE.read_text(), json.loads(SOURCE.read_text())))


if __name__ == "__main__":
    write()
