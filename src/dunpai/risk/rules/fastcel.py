"""A fast evaluator for the subset of CEL that rules use, checked against the reference binding.

Rulesets are validated and trial-run by the reference CEL implementation (``common-expression-
language``). For speed, expressions inside a well-defined subset — literals, variables (all
doubles), arithmetic, comparisons, ``&&``/``||``/``!`` with CEL's error-absorbing semantics,
ternaries, ``in`` on list literals, ``int()``, ``double()``, ``size()`` — are also parsed here and
compiled into nested Python closures (no ``eval``, no code generation). Anything outside the subset,
or anything whose types this checker cannot prove, raises :class:`Unsupported` and the rule keeps
running on the reference binding. A differential property test compares both on random expressions.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable, Mapping
from typing import Any

Value = Any
Fn = Callable[[Mapping[str, float]], Value]
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class Unsupported(Exception):
    """The expression is outside the fast subset; evaluate it with the reference binding."""


class CelEvalError(Exception):
    """A runtime error of an expression (division by zero, overflow, ...)."""


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<double>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<int>\d+)(?![\w.])
  | (?P<str>"[^"\\\n]*"|'[^'\\\n]*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:(),\[\]])
""", re.VERBOSE)


def _tokens(src: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise Unsupported(f"token at {pos}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
    out.append(("end", ""))
    return out


# Static types: "int", "double", "bool", "string", "null", "list", "dyn" (unknown: rejects maths).
NUM = ("int", "double")


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokens(src)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i]

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            raise Unsupported(f"expected {value}")
        self.i += 1
        return tok

    def parse(self) -> tuple[Fn, str]:
        fn, ty = self.expr()
        if self.peek()[0] != "end":
            raise Unsupported("trailing input")
        return fn, ty

    def expr(self) -> tuple[Fn, str]:
        cond, cty = self.or_()
        if self.peek()[1] != "?":
            return cond, cty
        self.take("?")
        yes, yty = self.or_()
        self.take(":")
        no, nty = self.expr()
        if cty != "bool":
            raise Unsupported("ternary condition")

        def ternary(v: Mapping[str, float]) -> Value:
            return yes(v) if cond(v) else no(v)

        return ternary, yty if yty == nty else "dyn"

    def or_(self) -> tuple[Fn, str]:
        left, lty = self.and_()
        while self.peek()[1] == "||":
            self.take()
            right, rty = self.and_()
            if lty != "bool" or rty != "bool":
                raise Unsupported("|| on non-bool")
            left, lty = _logic(left, right, True), "bool"
        return left, lty

    def and_(self) -> tuple[Fn, str]:
        left, lty = self.relation()
        while self.peek()[1] == "&&":
            self.take()
            right, rty = self.relation()
            if lty != "bool" or rty != "bool":
                raise Unsupported("&& on non-bool")
            left, lty = _logic(left, right, False), "bool"
        return left, lty

    def relation(self) -> tuple[Fn, str]:
        left, lty = self.addition()
        while self.peek()[1] in ("<", "<=", ">", ">=", "==", "!=", "in"):
            op = self.take()[1]
            right, rty = self.addition()
            left, lty = _relation(op, left, lty, right, rty), "bool"
        return left, lty

    def addition(self) -> tuple[Fn, str]:
        left, lty = self.multiplication()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            right, rty = self.multiplication()
            left, lty = _arith(op, left, lty, right, rty)
        return left, lty

    def multiplication(self) -> tuple[Fn, str]:
        left, lty = self.unary()
        while self.peek()[1] in ("*", "/", "%"):
            op = self.take()[1]
            right, rty = self.unary()
            left, lty = _arith(op, left, lty, right, rty)
        return left, lty

    def unary(self) -> tuple[Fn, str]:
        op = self.peek()[1]
        if op == "!":
            self.take()
            inner, ty = self.unary()
            if ty != "bool":
                raise Unsupported("! on non-bool")
            return (lambda v: not inner(v)), "bool"
        if op == "-" and self.peek()[0] == "op":
            self.take()
            inner, ty = self.unary()
            if ty == "double":
                return (lambda v: -inner(v)), "double"
            if ty == "int":
                return (lambda v: _checked(-inner(v))), "int"
            raise Unsupported("- on non-number")
        return self.primary()

    def primary(self) -> tuple[Fn, str]:
        kind, text = self.take()
        if kind == "double":
            c = float(text)
            return _constant(c), "double"
        if kind == "int":
            n = int(text)
            if n > INT_MAX:
                raise Unsupported("int literal range")
            return _constant(n), "int"
        if kind == "str":
            s = text[1:-1]
            return (lambda v: s), "string"
        if text == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if text == "[":
            items: list[tuple[Fn, str]] = []
            if self.peek()[1] != "]":
                items.append(self.expr())
                while self.peek()[1] == ",":
                    self.take()
                    items.append(self.expr())
            self.take("]")
            fns = tuple(f for f, _ in items)
            return (lambda v: [f(v) for f in fns]), "list"
        if kind == "ident":
            if text in ("true", "false"):
                b = text == "true"
                return (lambda v: b), "bool"
            if text == "null":
                return (lambda v: None), "null"
            if text == "in":
                raise Unsupported("in")
            if self.peek()[1] == "(":
                return self.call(text)
            if self.peek()[1] in (".", "["):
                raise Unsupported("member access")
            name = text

            def variable(v: Mapping[str, float]) -> Value:
                return v[name]

            _VARIABLES[variable] = name
            return variable, "double"
        raise Unsupported(f"unexpected {text!r}")

    def call(self, name: str) -> tuple[Fn, str]:
        self.take("(")
        arg, ty = self.expr()
        self.take(")")
        if name == "double" and ty in NUM:
            return (lambda v: float(arg(v))), "double"
        if name == "int" and ty == "int":
            return arg, "int"
        if name == "int" and ty == "double":
            def to_int(v: Mapping[str, float]) -> int:
                x = arg(v)
                if not math.isfinite(x) or not (INT_MIN <= x <= INT_MAX):
                    raise CelEvalError("int() overflow")
                return int(x)
            return to_int, "int"
        if name == "size" and ty in ("list", "string"):
            return (lambda v: len(arg(v))), "int"
        raise Unsupported(f"function {name}")


# Leaves the comparison compiler can fuse: a variable compared with a number becomes one closure.
_VARIABLES: weakref.WeakKeyDictionary[Fn, str] = weakref.WeakKeyDictionary()
_CONSTANTS: weakref.WeakKeyDictionary[Fn, float] = weakref.WeakKeyDictionary()


def _constant(c: float) -> Fn:
    def constant(v: Mapping[str, float]) -> Value:
        return c

    _CONSTANTS[constant] = c
    return constant


def _checked(n: int) -> int:
    if not INT_MIN <= n <= INT_MAX:
        raise CelEvalError("integer overflow")
    return n


def _logic(left: Fn, right: Fn, is_or: bool) -> Fn:
    """CEL's commutative ``&&``/``||``: a decisive operand wins even if the other one errors."""
    decisive: bool = is_or

    def logic(v: Mapping[str, float]) -> bool:
        try:
            a = left(v)
        except CelEvalError:
            if right(v) is decisive:
                return is_or
            raise
        if a is decisive:
            return is_or
        return bool(right(v))

    return logic


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _equal(a: Value, b: Value) -> bool:
    """CEL's heterogeneous equality: numbers compare by value; other kinds must match."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _relation(op: str, left: Fn, lty: str, right: Fn, rty: str) -> Fn:
    if op in ("==", "!="):
        if "dyn" in (lty, rty):
            raise Unsupported("equality on dyn")
        neg = op == "!="
        if lty in NUM and rty in NUM:
            name, const = _VARIABLES.get(left), _CONSTANTS.get(right)
            if name is not None and const is not None:
                key, c = name, const
                if op == "==":
                    return lambda v: v[key] == c
                return lambda v: v[key] != c
            if op == "==":
                return lambda v: left(v) == right(v)
            return lambda v: left(v) != right(v)
        return lambda v: _equal(left(v), right(v)) != neg
    if op == "in":
        if rty != "list" or lty == "dyn":
            raise Unsupported("in on non-list")
        def member(v: Mapping[str, float]) -> bool:
            needle = left(v)  # evaluated even for an empty list: its errors count
            return any(_equal(needle, x) for x in right(v))

        return member
    comparable = (lty in NUM and rty in NUM) or (lty == rty and lty in ("string", "bool"))
    if not comparable:
        raise Unsupported(f"{op} on {lty}, {rty}")
    cmp = _CMP[op]
    name, const = _VARIABLES.get(left), _CONSTANTS.get(right)
    if name is not None and const is not None:
        c = const

        def var_vs_const(v: Mapping[str, float]) -> bool:  # the common ``feature >= 8.0``
            x = v[name]
            if x != x:
                raise CelEvalError("comparison with NaN")
            return cmp(x, c)

        return var_vs_const

    def ordered(v: Mapping[str, float]) -> bool:
        a, b = left(v), right(v)
        if a != a or b != b:  # NaN has no order in CEL: the comparison is an error
            raise CelEvalError("comparison with NaN")
        return cmp(a, b)

    return ordered


_DOUBLE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
}


def _arith(op: str, left: Fn, lty: str, right: Fn, rty: str) -> tuple[Fn, str]:
    if lty != rty or lty not in ("int", "double", "string") or (lty == "string" and op != "+"):
        raise Unsupported(f"{op} on {lty}, {rty}")
    if lty == "string":
        return (lambda v: left(v) + right(v)), "string"
    if lty == "double":
        if op == "%":
            raise Unsupported("% on double")
        if op == "/":
            def fdiv(v: Mapping[str, float]) -> float:
                a, b = left(v), right(v)
                if b == 0:
                    return math.copysign(math.inf, a) * math.copysign(1.0, b) if a != 0 else math.nan
                return float(a / b)
            return fdiv, "double"
        fn: Callable[[Any, Any], Any] = _DOUBLE_OPS[op]
        return (lambda v: fn(left(v), right(v))), "double"

    def iop(v: Mapping[str, float]) -> int:
        a, b = left(v), right(v)
        if op in ("/", "%"):
            if b == 0:
                raise CelEvalError("division by zero")
            q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)  # truncate toward zero
            return _checked(q) if op == "/" else a - b * q
        return _checked(a + b if op == "+" else a - b if op == "-" else a * b)

    return iop, "int"


def compile_fast(src: str) -> Fn:
    """A closure evaluating ``src`` over a mapping of double variables, or ``Unsupported``."""
    fn, ty = _Parser(src).parse()
    if ty != "bool":
        raise Unsupported("not a boolean expression")
    return fn
