"""Writes docs/benchmarks.md from the JSON files in bench/results/ (never by hand), and the figures
of docs/scale-out.md (:mod:`bench.scale_doc`).

    python -m bench.report
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import scale_doc

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if 0 < abs(v) < 0.01:
            return f"{v:.3g}"  # a small ratio keeps its significant digits
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def _table(rows: list[tuple[str, Any, str]]) -> list[str]:
    out = ["| measure | value | target |", "|---|---|---|"]
    out += [f"| {name} | {_fmt(value)} | {target} |" for name, value, target in rows]
    return out


def engine_section(r: dict[str, Any]) -> list[str]:
    lines = ["## Risk engine (`bench/results/engine.json`, `python -m bench.engine_bench`)", ""]
    lines += _table([
        ("in-process decisions/s on one core (median of runs)", r["inprocess_events_per_s_per_core"], "≥ 20,000"),
        ("in-process p99 per decision, ms", r["inprocess_p99_ms"], "≤ 1"),
        ("baseline: plain keyed count+sum loop, events/s (same run)", r["baseline_events_per_s"], "—"),
        ("engine / baseline", r["engine_to_baseline_ratio"], "—"),
        ("HTTP decisions/s, full speed (loopback, group commit)", r["http_decisions_per_s"], "≥ 2,000"),
        ("HTTP server CPU per request at full speed, µs", r.get("http_server_cpu_us_per_request", "—"), "—"),
        (f"HTTP p50 ms at {r['http_paced_rate_per_s']:.0f} req/s", r["http_p50_ms"], "—"),
        (f"HTTP p99 ms at {r['http_paced_rate_per_s']:.0f} req/s", r["http_p99_ms"], "≤ 20"),
        ("online state per tracked card, bytes (heap)", r["state_bytes_per_card"], "≤ 1,024"),
        ("online state per tracked card, bytes (serialised)", r["state_serialised_bytes_per_card"], "—"),
    ])
    lines += ["", f"Replayed {r['inprocess_events']:,} Handbook transactions × {r['inprocess_runs']} runs; "
              f"HTTP figures are medians of {r.get('http_runs', 1)} runs; "
              f"{r['cards_tracked']:,} cards tracked. Machine: {r['machine']['cpus']} CPUs, Python "
              f"{r['machine']['python']}. HTTP: {r['http_requests_full_speed']:,} requests at full speed, then "
              f"{r['http_requests_paced']:,} paced; server and load generator share the machine.", ""]
    return lines


def generic_section(title: str, name: str, r: dict[str, Any]) -> list[str]:
    lines = [f"## {title} (`bench/results/{name}`)", ""]

    def flat(prefix: str, d: dict[str, Any]) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = []
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                items += flat(key + ".", v)
            elif isinstance(v, bool):
                items.append((key, "yes" if v else "no"))
            elif isinstance(v, int | float | str):
                items.append((key, v))
        return items

    lines += ["| measure | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in flat("", r)[:90]]
    return [*lines, ""]


def chaos_section(r: dict[str, Any]) -> list[str]:
    lines = ["## Faults under load (`bench/results/chaos.json`, `python -m bench.chaos_bench`)", "",
             f"{r['load']['clients']} clients posting events without pause, {r['load']['client_timeout_s']} s client "
             "timeout; stand-in = the degraded answer given past the deadline or while a dependency is down.", "",
             "| fault | backend | acknowledged (stand-in) | stored | lost | duplicated | recovery s | "
             "answers between the fault and recovery | resent: same decision |",
             "|---|---|---|---|---|---|---|---|---|"]
    for f in r["faults"]:
        if "error" in f:
            lines.append(f"| {f['fault']} | not run: {f['error']} | | | | | | | |")
            continue
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(f["answers_meanwhile"].items()))
        resend = f["resend_check"]
        lines.append(f"| {f['fault']} | {f['backend']} | {f['acknowledged']:,} ({f['acknowledged_stand_in']:,}) | "
                     f"{f['stored']:,} | {f['lost']} | {f['duplicated']} | {f['recovery_s']} | {answers} | "
                     f"{resend['same_decision']}/{resend['resent']} |")
    return [*lines, ""]


SECTIONS = [
    ("Key custody", "keys.json"),
    ("P2SC messaging", "comms.json"),
    ("P2SC app: two apps in Chromium (`python -m bench.app_bench`)", "app.json"),
    ("Import and replay of the Handbook (`python -m bench.import_bench`)", "import.json"),
    ("Detection quality: Handbook, prequential protocol (`python -m bench.detection_bench`)",
     "handbook-prequential.json"),
    ("Detection quality: IEEE-CIS", "ieee-cis.json"),
    ("Detection quality: ULB", "ulb.json"),
    ("Cold start, no labels", "cold-start.json"),
    ("Rule backtest on the Handbook", "backtest.json"),
    ("Point of compromise (skimmers)", "compromise.json"),
    ("Insider data theft", "insider.json"),
    ("Push-to-talk", "ptt.json"),
    ("Private deployment", "deploy.json"),
    ("Constant-rate mode", "constant_rate.json"),
    ("Constant-rate push-to-talk tunnel, 3 minutes, real-time sender", "constant_rate_ptt.json"),
    ("Constant-rate push-to-talk tunnel, real-time sender (run 1)", "constant_rate_ptt_run1.json"),
    ("Constant-rate push-to-talk tunnel, real-time sender (run 2)", "constant_rate_ptt_run2.json"),
    ("Constant-rate push-to-talk tunnel, no real-time scheduling", "constant_rate_ptt_no_realtime.json"),
]


def scale_section(r: dict[str, Any]) -> list[str]:
    lines = ["## Several workers on one shared state (`bench/results/scale.json`, `python -m bench.scale_bench`)", "",
             f"{r['events']['decisions']:,} events of {r['events']['cards']:,} cards with their terminals, merchants, "
             f"devices and payees, batches of {r['events']['batch']}; worker processes on one PostgreSQL database "
             "(`state.backend: database`); efficiency = the embedded single process's CPU per decision / the "
             "workers' CPU per decision, same run. Medians of repeats.", "",
             "| workers | decisions/s | p99 ms per batch | efficiency | worker CPU ms/decision | "
             "PostgreSQL CPU ms/decision |", "|---|---|---|---|---|---|"]
    emb = r["embedded"]
    lines.append(f"| embedded (1 process) | {_fmt(emb['decisions_per_s'])} | {_fmt(emb['p99_ms'])} | 1 | "
                 f"{_fmt(emb['cpu_ms_per_decision'])} | — |")
    lines += [f"| {x['workers']} | {_fmt(x['decisions_per_s'])} | {_fmt(x['p99_ms'])} | {_fmt(x['efficiency'])} | "
              f"{_fmt(x['cpu_ms_per_decision'])} | {_fmt(x['db_cpu_ms_per_decision'])} |" for x in r["runs"]]
    lines += [f"| {x['workers']} (batches of {x['batch']}) | {_fmt(x['decisions_per_s'])} | {_fmt(x['p99_ms'])} | "
              f"{_fmt(x['efficiency'])} | {_fmt(x['cpu_ms_per_decision'])} | {_fmt(x['db_cpu_ms_per_decision'])} |"
              for x in r.get("runs_bigger_batches", [])]
    before = r.get("embedded_before")
    if before:
        lines += ["", f"Embedded single process against the service at {before['service_at']} ({before['pairs']} "
                  f"alternating pairs, same run): {_fmt(r['embedded_speed_vs_before'])} × its decisions/s, "
                  f"{_fmt(r['embedded_cpu_per_decision_vs_before'])} × its CPU per decision (medians of the pairs' "
                  "ratios)."]
    lines += ["", "Candidates for the shared state (the atomic update alone, real engine):", "",
              "| candidate | workers | decisions/s | worker CPU ms/decision | retries per decision |",
              "|---|---|---|---|---|"]
    lines += [f"| {c['candidate']} | {c['workers']} | {_fmt(c['decisions_per_s'])} | "
              f"{_fmt(c['worker_cpu_ms_per_decision'])} | {_fmt(c['retries_per_decision'])} |" for c in r["candidates"]]
    k = r["kill"]
    lines += ["", f"SIGKILL of one of two workers mid-load: {k['acknowledged']:,} acknowledged, "
              f"{k['stored']:,} of them stored, {k['duplicated']} duplicated, {k['decisions_equal_to_replay']:,} of "
              f"{k['stored_total_after_resend']:,} decisions equal to a single-process replay; a replacement's first "
              f"answer {_fmt(k['recovery_s'])} s after the kill.", ""]
    if (n := r.get("node_kill")) is not None:
        lines += [f"SIGKILL of the database primary (synchronous standby promoted) mid-load: "
                  f"{n['acknowledged']:,} acknowledged, {n['stored']:,} of them stored, {n['duplicated']} duplicated, "
                  f"{n['decisions_equal_to_replay']:,} of {n['stored_total']:,} decisions equal to a single-process "
                  f"replay; the first decision after the kill {_fmt(n['recovery_s'])} s after it (promotion "
                  f"{_fmt(n['promote_s'])} s).", ""]
    sz = r["sizing"]
    lines += [f"Sizing for {sz['target_decisions_per_s']:,} decisions/s: {sz['worker_cores']} worker cores, "
              f"{sz['db_cores']} database cores; assumptions: " + "; ".join(sz["assumptions"]) + ".", ""]
    return lines


def main() -> None:
    lines = ["# Benchmarks", "",
             "Generated by `python -m bench.report` from `bench/results/*.json`; each figure comes from the",
             "script named in its section, run on this project's 2-core machine (shared and noisy: compare",
             "ratios measured in the same run rather than absolute figures across runs).", ""]
    engine = _load("engine.json")
    if engine:
        lines += engine_section(engine)
    chaos = _load("chaos.json")
    if chaos:
        lines += chaos_section(chaos)
    scale = _load("scale.json")
    if scale:
        lines += scale_section(scale)
    for title, name in SECTIONS:
        r = _load(name)
        if r:
            lines += generic_section(title, name, r)
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines))
    scale_doc.write()  # docs/scale-out.md quotes scale.json too


if __name__ == "__main__":
    main()
