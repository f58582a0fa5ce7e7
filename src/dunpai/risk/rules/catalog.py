"""Writes docs/rules.md: the rule language and every variable a rule may read, from the code itself.

    python -m dunpai.risk.rules.catalog > docs/rules.md
"""

from __future__ import annotations

from dunpai.risk.compromise.enricher import FEATURES as EXPOSURE
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.features.catalog import describe
from dunpai.risk.features.event import FEATURES as EVENT_FEATURES
from dunpai.risk.features.pipeline import DEFAULT_STEPS
from dunpai.risk.shield.enricher import FEATURES as SHIELD

LOOKUPS = {
    "shield_valid": "1 for a valid mobile-shield signature (the shield service verifies it)",
    "shield_status": "the verification's outcome: 0 valid, 1 missing, 2 unknown key, 3 bad signature, 4 replayed, "
                     "5 revoked, 6 stale, 7 wrong customer, 8 malformed",
    "shield_device_age_secs": "how long the signing device has been enrolled",
    "shield_cooling_off": "1 while that device is still in its cooling-off period",
    "shield_trusted": "1 for a valid signature from a device past its cooling-off period",
    "shield_enrolled": "1 when the customer had a shield device enrolled at the transfer's time",
    "card_exposed": "1 when the card's exposure reached the step-up level (used at a terminal flagged as skimmed, "
                    "or warned early) and it has not been reissued since",
    "terminal_flagged": "1 at a terminal flagged as skimmed, pending inspection",
    "card_exposure_score": "the strongest flag's score",
    "card_exposure": "the chance the card was copied at a suspected terminal: 1 at a flagged one, graded below "
                     "for an early warning (a Bayes factor per candidate terminal)",
}
"""Variables the service looks up outside online state (live decisions only; history replays do
not have them, and rules reading them do not apply there)."""

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
* A payment's own signals from the bank's systems (``attributes`` of the event, see import.md) reach
  the model as `attr_<name>` and `attrv_<name>_count` / `attrv_<name>_fraud_rate`, not the rules.
* Rules are evaluated by the reference CEL library, or, for the common subset (comparisons,
  arithmetic, `&&`/`||`/`!`, ternaries, `in` lists, `int()`/`double()`/`size()`), by a faster
  evaluator that a property test keeps in agreement with the reference.

Customer messages must say plainly what looked abnormal, never a threshold a fraudster could use.
"""


def _table(names: tuple[str, ...] | list[str], explain: dict[str, str] | None = None) -> list[str]:
    rows = ["| variable | meaning |", "|---|---|"]
    for n in names:
        meaning = (explain or {}).get(n) or describe(n)
        if meaning is None:
            raise ValueError(f"feature {n!r} has no explanation in risk/features/catalog.py")
        rows.append(f"| `{n}` | {meaning} |")
    return rows


def variables_markdown() -> str:
    lines = ["## Variables", "", "### The event itself", ""]
    lines += _table([n for group in EVENT_FEATURES.values() for n in group])
    seen: set[str] = set()
    for step in DEFAULT_STEPS:
        names = [n for n in step.feature_names() if n not in seen]
        seen.update(names)
        if names:
            lines += ["", f"### Keyed by {step.name.replace('_', ' × ')}", "", *_table(names)]
    lines += ["", "### Looked up by the service (live decisions only)", "", *_table([*SHIELD, *EXPOSURE], LOOKUPS)]
    lines += ["", "### Detector signals (1.0 when present)", "", "| signal | reason code | 中文 | English |",
              "|---|---|---|---|"]
    for det in DEFAULT_DETECTORS:
        for s in det.signals:
            lines.append(f"| `{s.name}` | `{s.reason}` | {s.text.zh} | {s.text.en} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    return INTRO + "\n" + variables_markdown()


if __name__ == "__main__":
    print(render(), end="")
