"""Rich rendering of decisions and explanations for the terminal (the `explain` command and the demo)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

ACTION_STYLE = {"allow": "green", "verify": "yellow", "delay": "dark_orange", "restrict": "red", "freeze": "bold red"}


def print_explanation(console: Console, ex: dict[str, Any]) -> None:
    style = ACTION_STYLE.get(ex["action"], "white")
    console.print(f"[bold]{ex['decision_id']}[/bold]  event {ex['event_id']}  "
                  f"action [{style}]{ex['action']}[/{style}]  score {ex['score']}")
    console.print(f"ruleset {ex['ruleset_version']}  model {ex['model_version'] or '-'}")
    table = Table("rule", "outcome", "expression", "values seen", title="规则 / rules")
    for r in ex["analyst"]["rules"]:
        values = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.get("values", {}).items())
        table.add_row(r["rule_id"], r["outcome"] + (f" ({r['error']})" if r.get("error") else ""),
                      r.get("expression", ""), values)
    console.print(table)
    if ex["analyst"]["contributions"]:
        contrib = Table("feature", "value", "contribution", title="模型贡献 / model contributions")
        for c in ex["analyst"]["contributions"]:
            contrib.add_row(c["feature"], f"{c['value']:g}", f"{c['contribution']:+.4f}")
        console.print(contrib)
    console.print(f"[bold]客户提示[/bold] {ex['customer']['zh']}")
    console.print(f"[bold]Customer notice[/bold] {ex['customer']['en']}")
