"""The fast rule path must agree with the reference CEL binding on every expression it accepts."""

from __future__ import annotations

import math
from typing import Any

import cel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunpai.risk.rules.fastcel import CelEvalError, Unsupported, compile_fast

VARS = {"a": 2.5, "b": 0.0, "c": -7.0, "d": 1e9}

atoms = st.sampled_from(["a", "b", "c", "d"]) | st.integers(-20, 20).map(str) | st.sampled_from(
    ["0.0", "1.5", "-3.25", "1e3", "true", "false", "null", "'x'", "\"y\"", "9223372036854775807"])


def expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(
            ["+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "&&", "||", "in"]), inner)
        return (
            binary.map(lambda t: f"{t[0]} {t[1]} {t[2]}")
            | inner.map(lambda e: f"({e})")
            | inner.map(lambda e: f"!{e}")
            | inner.map(lambda e: f"-{e}")
            | st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}")
            | st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
            | st.tuples(st.sampled_from(["int", "double", "size"]), inner).map(lambda t: f"{t[0]}({t[1]})")
        )
    return st.recursive(atoms, extend, max_leaves=8)


def typed_booleans() -> st.SearchStrategy[str]:
    """Well-typed boolean expressions: most are accepted by the fast path, so they are compared."""
    dvar = st.sampled_from(["a", "b", "c", "d", "0.0", "1.5", "-3.25", "1e3"])
    ilit = st.integers(-9, 9).map(str) | st.just("9223372036854775807")
    dnum = st.recursive(dvar, lambda i: st.tuples(i, st.sampled_from(["+", "-", "*", "/"]), i).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})") | i.map(lambda e: f"-{e}"), max_leaves=4)
    inum = st.recursive(ilit | dnum.map(lambda e: f"int({e})"), lambda i: st.tuples(
        i, st.sampled_from(["+", "-", "*", "/", "%"]), i).map(lambda t: f"({t[0]} {t[1]} {t[2]})"), max_leaves=4)
    num = dnum | inum
    cmp = st.tuples(num, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), num).map(lambda t: " ".join(t))
    member = st.tuples(num, st.lists(num, max_size=3)).map(lambda t: f"{t[0]} in [{', '.join(t[1])}]")
    base = cmp | member | st.sampled_from(["true", "false", "'x' == 'x'", "null == a"])
    return st.recursive(base, lambda i: st.tuples(i, st.sampled_from(["&&", "||"]), i).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})") | i.map(lambda e: f"!{e}") | st.tuples(i, i, i).map(
        lambda t: f"({t[0]} ? {t[1]} : {t[2]})"), max_leaves=6)


def reference(expr: str) -> tuple[str, Any]:
    try:
        return "ok", cel.compile(expr).execute(dict(VARS))
    except Exception as exc:  # the binding raises several types
        return "error", type(exc).__name__


def same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return type(x) is type(y) and x == y


@settings(max_examples=1500, deadline=None)
@given(expressions() | typed_booleans())
def test_fast_path_agrees_with_the_binding(expr: str) -> None:
    try:
        fn = compile_fast(expr)
    except Unsupported:
        return  # such rules run on the binding itself
    kind, expected = reference(expr)
    try:
        got = fn(VARS)
    except CelEvalError:
        assert kind == "error", f"{expr}: fast path failed, binding gave {expected!r}"
        return
    assert kind == "ok", f"{expr}: fast path gave {got!r}, binding raised {expected}"
    assert same(got, expected), f"{expr}: {got!r} != {expected!r}"


@pytest.mark.parametrize("expr", [
    "amount > 1000.0 && card_count_1h >= 8.0",
    "sig_a + sig_b + sig_c >= 2.0",
    "int(amount) / int(n) > 1",
    "!(x > 1.0) || y in [1, 2.0]",
])
def test_rule_shapes_in_the_default_ruleset_take_the_fast_path(expr: str) -> None:
    compile_fast(expr)


def test_outside_the_subset_is_unsupported() -> None:
    for expr in ("a.b > 1.0", "[1, 2].exists(x, x > 1)", "a > 1.0 ? 1 : 2", "'s'.size() > 1", "a % 2.0 == 0.0"):
        with pytest.raises(Unsupported):
            compile_fast(expr)
