"""The skimmer-hunting section of docs/detection-quality.md and its trade-off chart, generated from
bench/results/compromise-traffic.json (written by ``python -m bench.compromise_bench``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SOURCE = RESULTS / "compromise-traffic.json"
CHART = RESULTS / "compromise-traffic.png"


def _f(x: Any, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def chart(levels: list[dict[str, Any]], out: Path) -> None:
    """Later victims warned before their fraud against innocent cards warned per victim, one line per
    traffic level over the exposure threshold; the targets' corner shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.axvspan(0, 20, ymin=0.6, ymax=1.0, color="tab:green", alpha=0.08, label="target (≥ 0.6, ≤ 20)")
    for level in levels:
        points = [p for p in level["tradeoff"] if p["innocent_warned_per_victim"] is not None]
        x = [p["innocent_warned_per_victim"] for p in points]
        y = [p["later_victims_warned_before_fraud"] for p in points]
        line = ax.plot(x, y, marker="o", label=f"{level['cards_per_terminal_day']:g} cards / terminal / day")[0]
        for p, xi, yi in zip(points, x, y, strict=True):
            if p["exposure_at_least"] == level["warn_at"]:
                ax.plot([xi], [yi], marker="*", markersize=14, color=line.get_color())
    ax.set(xscale="symlog", xlim=(0, None), ylim=(0, 1),
           xlabel="innocent cards warned per victim warned (log scale)",
           ylabel="later victims warned before their fraud",
           title="skimmer early warning: trade-off over the exposure level (★ operating point)")
    ax.legend(fontsize=8, loc="lower right")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def section() -> list[str]:
    """Markdown lines for the page (empty when the results file is not there); writes the chart."""
    if not SOURCE.exists():
        return []
    r = json.loads(SOURCE.read_text())
    levels = r["levels"]
    chart(levels, CHART)
    lines = ["## Skimmer hunting at realistic terminal traffic / 真实终端流量下的侧录点排查", "",
             "`dunpai eval compromise --cards-per-terminal-day N` on the Handbook's history: " + r["transformation"]
             + "; the default skimming scenario otherwise unchanged. A card is *warned* when its graded "
             "exposure (the chance it was copied, from a Bayes factor per candidate terminal; 1 at a flagged "
             f"terminal) reaches {levels[0]['warn_at']:g} (step-up verification). *Later victims* were "
             "defrauded after their skimmer's first victim label was known.", "",
             "Targets at 10 cards a day and above: " + ", ".join(
                 f"`{k}` {v}" for k, v in r["targets_at_10_and_above"].items()) + ".", "",
             "| cards / terminal / day (reached) | physical terminals | flagged | median days to flag "
             "| told the window: family-wise / 5 % wrong | wrong flags "
             "| later victims warned before fraud | innocent warned per victim | reissue advised |",
             "|---|---|---|---|---|---|---|---|---|"]
    for lv in levels:
        told = lv["told_window"]
        lines.append(f"| {lv['cards_per_terminal_day']:g} ({lv['cards_per_terminal_day_reached']:.2f}) | "
                     f"{lv['physical_terminals']:,} | {_f(lv['flagged_fraction'])} | "
                     f"{_f(lv['median_days_to_flag'], 1)} | {_f(told['family_wise']['median_days'], 1)} / "
                     f"{_f(told['wrong_share']['median_days'], 1)} | {_f(lv['wrong_flag_fraction'])} | "
                     f"{_f(lv['victims_exposed_before_fraud'])} "
                     f"({lv['later_victims']:,} later victims) | {_f(lv['innocent_warned_per_victim'], 1)} | "
                     f"{lv['reissue_advised']:,} |")
    lines += ["", "*Median days to flag* counts from a skimmer's first victim label, over the skimmed terminals "
              "flagged. *Told the window*: the median days (over every skimmed terminal) until a test told the "
              "skimmed terminal and its true skimming window finds the fraud cards labelled so far among its cards "
              "significant, at the job's family-wise level over all terminals and at the level that allows 5 % wrong "
              "flags if every skimmer were flagged (`risk.compromise.evaluate.told_window`): how fast labels alone "
              "carry the evidence, whatever the search.", "",
              "The same levels on other draws of the scenario (its seed + 1 and + 2: other skimmed terminals, "
              "victims and delays; the first row of each level is the table above):", "",
              "| cards / terminal / day | seed | flagged | median days to flag | wrong flags "
              "| later victims warned before fraud | innocent warned per victim |",
              "|---|---|---|---|---|---|---|",
              *(f"| {lv['cards_per_terminal_day']:g} | {x['seed']} | {_f(x['flagged_fraction'])} | "
                f"{_f(x['median_days_to_flag'], 1)} | {_f(x['wrong_flag_fraction'])} | "
                f"{_f(x['victims_exposed_before_fraud'])} | {_f(x['innocent_warned_per_victim'], 1)} |"
                for lv in levels for x in lv.get("seeds", [])),
              "",
              "The trade-off over the exposure level (each point one threshold; from the results file):", "",
              "| cards / terminal / day | exposure ≥ | later victims warned before fraud "
              "| innocent warned per victim |",
              "|---|---|---|---|"]
    for lv in levels:
        for p in lv["tradeoff"]:
            lines.append(f"| {lv['cards_per_terminal_day']:g} | {p['exposure_at_least']:g} | "
                         f"{_f(p['later_victims_warned_before_fraud'])} | {_f(p['innocent_warned_per_victim'], 1)} |")
    lines += ["", "![skimmer early warning trade-off](../bench/results/compromise-traffic.png)", ""]
    return lines
