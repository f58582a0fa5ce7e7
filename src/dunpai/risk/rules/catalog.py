"""Writes docs/rules.md: the rule language and every variable a rule may read, from the code itself.

    python -m dunpai.risk.rules.catalog > docs/rules.md
"""

from __future__ import annotations

from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.features.pipeline import DEFAULT_STEPS, FeaturePipeline

INTRO = """# Rules

A ruleset is a YAML file of rules; each rule's `expression` is written in
[CEL](https://cel.dev) over the variables below and must yield `true` or `false`.
Python `eval` is never used. Example:

```yaml
name: default
model_thresholds: {verify: 0.5, delay: 0.8, restrict: 0.95}
rules:
  - id: S1.chip_stripe
    description: {zh: 芯片卡在支持芯片的终端上以磁条方式读取, en: Chip card read by magnetic stripe}
    expression: sig_chip_card_stripe_read == 1.0
    action: verify            # allow | verify | delay | restrict | freeze
    score: 40                 # 0-100; fired rules combine as 100 * (1 - prod(1 - s/100))
    reason: counterfeit.chip_read_by_stripe
    applies_to: [card_present]
    customer_message:
      zh: 您的银行卡在异常的读卡方式下被使用
      en: your card was used with an unusual card-reading method
```

* Upload validates everything at once; errors name the rule and position
  (`rules[3].expression: rule X: <input>:1:12: Syntax error ...`), unknown variables and
  expressions that do not yield a boolean.
* Versions are content hashes (`rs_…`); a draft is published without a restart and every decision
  records the version that made it.
* Each evaluated rule's result (hit, no hit, error with its message) is kept with the decision; a
  rule that errors never breaks a decision.
* Every variable is a double (CEL `double`): compare with `1.0` or `1000` (comparison across int and
  double is allowed), but do arithmetic with doubles (`amount * 2.0`). Amounts are in major units
  (yuan), times in seconds, distances in km. "Never happened" reads as 1e9 seconds.
* Windows are time-decayed with the named time constant: `card_count_1h` reads "about how many uses
  in the last hour". Label features only count labels already known at the event's time.
* Rules are evaluated by the reference CEL library, or, for the common subset (comparisons,
  arithmetic, `&&`/`||`/`!`, ternaries, `in` lists, `int()`/`double()`/`size()`), by a faster
  evaluator that a property test keeps in agreement with the reference.

Customer messages must say plainly what looked abnormal, never a threshold a fraudster could use.
"""


def variables_markdown() -> str:
    lines = ["## Variables", "", "### The event itself", ""]
    event_names = FeaturePipeline(steps=()).feature_names()
    lines.append(", ".join(f"`{n}`" for n in event_names))
    for step in DEFAULT_STEPS:
        lines += ["", f"### Keyed by {step.name}", "", ", ".join(f"`{n}`" for n in step.feature_names())]
    lines += ["", "### Detector signals (1.0 when present)", "", "| signal | reason code | 中文 | English |",
              "|---|---|---|---|"]
    for det in DEFAULT_DETECTORS:
        for s in det.signals:
            lines.append(f"| `{s.name}` | `{s.reason}` | {s.text.zh} | {s.text.en} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(INTRO + "\n" + variables_markdown(), end="")
