"""Compile and evaluate rulesets written in CEL (Common Expression Language) — never Python eval.

Validation happens once, on upload: YAML structure, each expression's syntax (with line and column),
the variables it reads (every one must be a known feature or signal), and a trial evaluation that
must yield a boolean. Errors name the rule: ``rules[3].expression: 1:12: Syntax error ...``.

Evaluation batches every applicable rule of an event into one CEL program that returns a list of
booleans, so the variables are converted once per event instead of once per rule. If that program
fails, each rule is evaluated alone, so one failing rule is recorded as an error and never breaks
the decision.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import cel
import yaml
from pydantic import ValidationError

from dunpai.core.errors import FieldProblem, InvalidRuleset
from dunpai.risk.rules.fastcel import CelEvalError, Fn, Unsupported, compile_fast
from dunpai.risk.rules.model import Rule, RulesetSpec

Outcome = Literal["hit", "no_hit", "error"]


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule_id: str
    outcome: Outcome
    error: str | None = None


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    program: Any
    variables: tuple[str, ...]
    hit: RuleResult
    no_hit: RuleResult
    fast: Fn | None


def parse_ruleset(text: str) -> RulesetSpec:
    """YAML -> validated spec, or ``InvalidRuleset`` naming each problem's path."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
        raise InvalidRuleset("ruleset is not valid YAML", problems=[FieldProblem("$", f"{where}: {exc}")]) from None
    if not isinstance(raw, dict):
        raise InvalidRuleset("ruleset must be a mapping", problems=[FieldProblem("$", "not a mapping")])
    try:
        return RulesetSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            parts = [str(p) for p in err["loc"]]
            path = ".".join(parts)
            if len(parts) >= 2 and parts[0] == "rules" and parts[1].isdigit():
                path = f"rules[{parts[1]}]" + "".join(f".{p}" for p in parts[2:])
            problems.append(FieldProblem(path, err["msg"]))
        raise InvalidRuleset("ruleset failed validation", problems=problems) from None


MAX_NESTING = 50
"""Brackets inside brackets, or ``!``/``-`` before ``!``/``-``, at most this deep: an analyst's
rule never needs more, and a parser (ours or the binding's) must not recurse without bound."""


def nesting_depth(expression: str) -> int:
    """The deepest bracket nesting plus the longest run of unary ``!``/``-`` (outside string literals)."""
    depth = deepest = run = longest = 0
    quote: str | None = None
    previous = "("
    for i, ch in enumerate(expression):
        if quote is not None:
            if ch == quote and expression[i - 1] != "\\":
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
        if ch in "!-" and previous in "([{!-,:?&|=<>+*/%":
            run += 1
            longest = max(longest, run)
        elif not ch.isspace():
            run = 0
        if not ch.isspace():
            previous = ch
    return deepest + longest


def _compile_rule(index: int, rule: Rule, known: frozenset[str]) -> tuple[CompiledRule | None, list[FieldProblem]]:
    where = f"rules[{index}].expression"
    if nesting_depth(rule.expression) > MAX_NESTING:
        return None, [FieldProblem(where, f"rule {rule.id}: nested too deeply (at most {MAX_NESTING} levels of "
                                          "brackets and ! or - signs)")]
    try:
        program = cel.compile(rule.expression)
    except ValueError as exc:
        # The binding's message carries "<input>:LINE:COL: Syntax error ..." and a caret picture.
        return None, [FieldProblem(where, f"rule {rule.id}: {exc}")]
    variables = tuple(program.variables())
    unknown = sorted(set(variables) - known)
    if unknown:
        return None, [FieldProblem(where, f"rule {rule.id}: unknown variable(s) {', '.join(unknown)}")]
    try:
        trial = program.execute({v: 1.0 for v in variables})
    except Exception as exc:
        return None, [FieldProblem(where, f"rule {rule.id}: fails on trial values: {exc}")]
    if not isinstance(trial, bool):
        return None, [FieldProblem(where, f"rule {rule.id}: must yield true or false, got {type(trial).__name__}")]
    try:
        fast: Fn | None = compile_fast(rule.expression)
    except (Unsupported, RecursionError):
        fast = None  # evaluated by the reference binding
    hit, no_hit = RuleResult(rule.id, "hit"), RuleResult(rule.id, "no_hit")
    return CompiledRule(rule, program, variables, hit, no_hit, fast), []


_Plan = tuple[tuple[CompiledRule, ...], tuple[CompiledRule, ...], Any, tuple[str, ...]]
"""(rules on the fast path, rules on the reference binding, their batched program, its variables)"""


class CompiledRuleset:
    """A validated, compiled ruleset with its version. Immutable; publishing swaps the whole object."""

    def __init__(self, spec: RulesetSpec, version: str, source: str, known: frozenset[str]) -> None:
        self.spec = spec
        self.version = version
        self.source = source
        problems: list[FieldProblem] = []
        seen: set[str] = set()
        compiled: list[CompiledRule] = []
        for i, rule in enumerate(spec.rules):
            if rule.id in seen:
                problems.append(FieldProblem(f"rules[{i}].id", f"duplicate rule id {rule.id}"))
                continue
            seen.add(rule.id)
            if not rule.enabled:
                continue
            item, errs = _compile_rule(i, rule, known)
            problems.extend(errs)
            if item is not None:
                compiled.append(item)
        if problems:
            raise InvalidRuleset(f"ruleset {spec.name} has {len(problems)} problem(s)", problems=problems)
        self.rules = tuple(compiled)
        self.by_id = {c.rule.id: c for c in compiled}
        self._plans: dict[tuple[str, frozenset[str]], _Plan] = {}

    @classmethod
    def from_yaml(cls, text: str, known: frozenset[str], version: str | None = None) -> CompiledRuleset:
        """Parse and compile ``text``; the same text, version and known variables give the same
        (immutable) object, compiled once: explaining a thousand stored decisions reads the ruleset
        that made them a thousand times."""
        return _compiled(text, known, version)

    def _plan(self, event_type: str, available: frozenset[str]) -> _Plan:
        key = (event_type, available)
        plan = self._plans.get(key)
        if plan is None:
            rules = tuple(
                c for c in self.rules
                if (not c.rule.applies_to or event_type in c.rule.applies_to) and available.issuperset(c.variables)
            )
            fast = tuple(c for c in rules if c.fast is not None)
            slow = tuple(c for c in rules if c.fast is None)
            program = cel.compile("[" + ", ".join(f"({c.rule.expression})" for c in slow) + "]") if slow else None
            variables = tuple(sorted({v for c in slow for v in c.variables}))
            plan = self._plans[key] = (fast, slow, program, variables)
        return plan

    def evaluate(self, event_type: str, available: frozenset[str], values: Mapping[str, float]) -> list[RuleResult]:
        """Every applicable rule's result. Rules whose inputs this event lacks are not applicable."""
        fast, slow, program, variables = self._plan(event_type, available)
        results: list[RuleResult] = []
        for c in fast:
            try:
                results.append(c.hit if c.fast(values) else c.no_hit)  # type: ignore[misc]
            except CelEvalError as exc:
                results.append(RuleResult(c.rule.id, "error", str(exc)))
        if program is None:
            return results
        ctx = {v: values[v] for v in variables}
        try:
            outcome = program.execute(ctx)
        except Exception:  # any failure: find the culprit rule by rule
            return results + [self._evaluate_one(c, ctx) for c in slow]
        for c, hit in zip(slow, outcome, strict=True):
            if hit is True:
                results.append(c.hit)
            elif hit is False:
                results.append(c.no_hit)
            else:
                results.append(RuleResult(c.rule.id, "error", f"yielded {hit!r}, not a boolean"))
        return results

    @staticmethod
    def _evaluate_one(c: CompiledRule, ctx: Mapping[str, float]) -> RuleResult:
        try:
            hit = c.program.execute({v: ctx[v] for v in c.variables})
        except Exception as exc:
            return RuleResult(c.rule.id, "error", f"{type(exc).__name__}: {exc}"[:300])
        if not isinstance(hit, bool):
            return RuleResult(c.rule.id, "error", f"yielded {hit!r}, not a boolean")
        return c.hit if hit else c.no_hit


def content_version(text: str) -> str:
    """A content-derived version: the same YAML always gets the same version."""
    return "rs_" + hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=64)
def _compiled(text: str, known: frozenset[str], version: str | None) -> CompiledRuleset:
    spec = parse_ruleset(text)
    return CompiledRuleset(spec, version or content_version(text), text, known)
