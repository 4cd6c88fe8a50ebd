"""PURE. The Jinja2 sandbox with budgets: a template cannot hang a worker or fill its memory.

Jinja's sandbox stops a template reaching Python internals, but not ``{{ 'x' * 400000000 }}``
(400 MB), ``{{ 9 ** 9 ** 9 }}`` (minutes of CPU), nested loops or a doubling macro. Rendering
runs on the event loop every provider call shares, so one such template would stall them all.
Here every render gets a budget, and anything that would exceed it raises ``SecurityError``
(a ``jinja2.TemplateError``) before the value is built:

- steps: loop iterations plus calls (macros, methods, ``range``), ``MAX_TEMPLATE_STEPS``;
- size: text printed anywhere (also inside ``{% set %}`` blocks and macros) and the rendered
  text, ``MAX_RENDERED_CHARS``; repetition (``*``), powers, widths in ``%`` and ``format``,
  and methods or filters whose result grows with their arguments are checked first;
- a message is one self-contained template: include, import and extends are refused when
  parsed, so validation reports them with their line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RENDERED_CHARS = 100_000  # an email is a few thousand; Twilio refuses an SMS over 1,600
MAX_TEMPLATE_STEPS = 1_000  # loop iterations plus calls, per render
# A method or filter may make a value this many times the text limit (then printed, it is caught).
_MAX_INTERMEDIATE_CHARS = 100 * MAX_RENDERED_CHARS
_MAX_POWER_BITS = 1_024
_LOOP_FILTER = "drip_counted_loop"
_LOADING = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Extends: "extends",
}
_NUMBER = re.compile(r"\d+")


@dataclass
class _Budget:
    """What one render has spent. A mutable object, so ``{% autoescape %}`` (which saves and
    restores the evaluation context) cannot hand a block a fresh budget."""

    steps: int = 0
    chars: int = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_TEMPLATE_STEPS:
            raise SecurityError(f"the template takes more than {MAX_TEMPLATE_STEPS:,} steps")

    def print(self, chars: int) -> None:
        self.chars += chars
        if self.chars > MAX_RENDERED_CHARS:
            raise SecurityError(f"the text would be longer than {MAX_RENDERED_CHARS:,} characters")


_BUDGET: ContextVar[_Budget] = ContextVar("drip_template_budget")


def render_limited(render: Callable[[], str]) -> str:
    """Run ``render`` (a template's render call) on a fresh budget; refuse an over-long result."""
    token = _BUDGET.set(_Budget())
    try:
        text = render()
    finally:
        _BUDGET.reset(token)
    if len(text) > MAX_RENDERED_CHARS:
        raise SecurityError(f"the text would be longer than {MAX_RENDERED_CHARS:,} characters")
    return text


def counted(value: Any) -> Any:
    """``finalize`` for the environments: every printed value is charged to the budget."""
    _BUDGET.get().print(len(str(value)))
    return value


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the budgets above. Render only inside ``render_limited``."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, f) for name, f in FILTERS.items()}
        self.filters[_LOOP_FILTER] = _counted_loop

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Jinja has no hook per loop iteration: each loop's iterable goes through a counting
        # filter instead. (Private method; Jinja2 is pinned below 4 in pyproject.toml.)
        tree = super()._parse(source, name, filename)
        for node in tree.find_all(tuple(_LOADING)):
            raise TemplateSyntaxError(
                f"{_LOADING[type(node)]} is not allowed: a message is one template",
                node.lineno,
                name,
                filename,
            )
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.lineno
            )
        return tree

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_size(max(_repeat_size(left, right), _repeat_size(right, left)))
        elif operator == "**":
            _check_power(left, right)
        elif isinstance(left, str):  # "%": printf-style formatting
            _check_widths(left, right if isinstance(right, tuple) else (right,))
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _BUDGET.get().step()
        values = [*args, *kwargs.values()]
        _check_numbers(values)
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox hands out str.format wrapped
        receiver = getattr(method, "__self__", None)
        if isinstance(receiver, str):
            if getattr(method, "__name__", "") in ("format", "format_map"):
                mappings = [v for arg in args if isinstance(arg, dict) for v in arg.values()]
                _check_widths(receiver, mappings)
            _check_size(_grown_size(receiver, values), _MAX_INTERMEDIATE_CHARS)
        return super().call(__context, __obj, *args, **kwargs)


def _counted_loop(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _BUDGET.get()
    for item in iterable:
        budget.step()
        yield item


def _bounded_filter(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` checked like a method call: its arguments (after the value) may not make a huge
    value. ``functools.wraps`` keeps Jinja's pass_context/pass_eval_context marker."""
    skip = 2 if hasattr(f, "jinja_pass_arg") else 1

    @functools.wraps(f)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value, extra = args[skip - 1], [*args[skip:], *kwargs.values()]
        _check_numbers(extra)
        if name == "format" and isinstance(value, str):
            _check_widths(value, extra)
        _check_size(_grown_size(value, extra), _MAX_INTERMEDIATE_CHARS)
        return f(*args, **kwargs)

    return bounded


def _size(value: Any) -> int:
    """Characters a value stands for: a text's length; a list's items and their lengths."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return len(value) + sum(len(v) for v in value if isinstance(v, str))
    return 0


def _repeat_size(sequence: Any, times: Any) -> int:
    if isinstance(times, int) and isinstance(sequence, str | list | tuple):
        return _size(sequence) * max(times, 0)
    return 0


def _grown_size(value: Any, args: list[Any]) -> int:
    """An upper bound on what a method or filter can make of ``value`` given ``args`` (padding
    to a width, joining with a separator, replacing with a longer text)."""
    factor = max([1, *(_size(a) for a in args), *(a for a in args if isinstance(a, int))])
    return (_size(value) + 1) * factor


def _check_size(chars: int, limit: int = MAX_RENDERED_CHARS) -> None:
    if chars > limit:
        raise SecurityError(f"the value would be longer than {limit:,} characters")


def _check_numbers(values: Iterable[Any]) -> None:
    for value in values:
        if isinstance(value, int) and abs(value) > MAX_RENDERED_CHARS:
            raise SecurityError(f"the number {value} is too large for a message")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1:
        if base.bit_length() * exponent > _MAX_POWER_BITS:
            raise SecurityError("the number would be too large for a message")


def _check_widths(fmt: str, args: Iterable[Any]) -> None:
    """A width or precision in a format (``%999999999d``, ``{:999999999}``) pads that far."""
    _check_numbers(int(n) for n in _NUMBER.findall(fmt))
    _check_numbers(args)
