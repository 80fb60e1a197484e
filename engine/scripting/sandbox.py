"""The restricted script environment for BPMN scripts, gateway conditions and timer expressions.

Process owners write Python into diagrams, so every piece of it is untrusted input. We compile it with
RestrictedPython's ``compile_restricted`` (which rejects ``import``, names and attributes starting with
``_`` — the ``().__class__.__mro__[1].__subclasses__()`` escape among them — at compile time) and run
it with RestrictedPython's safe builtins plus a short whitelist of helpers. Nothing else is reachable:
no ``open``, no modules, no network. The same compiler runs at deploy time (``check``) so a script that
would be refused at run time is refused before it is deployed.

Every evaluation runs under the time and memory budget of :mod:`engine.scripting.budget`; the guards
below refuse, before they run, the single operations a line-by-line budget could not interrupt (huge
``*``/``**``/``<<``/``pow``, padding a string to a huge width).

Scripts are also deterministic, so an honest history always replays: ``datetime`` answers "now" from the
engine's clock (pinned per change and in a replay), and ``hash``/``id`` are neither offered nor accepted.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import contextvars
import datetime as _dt
import functools
import math
from collections.abc import Callable, Iterator
from typing import Any

from RestrictedPython import (
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
    limited_builtins,
    safe_builtins,
)
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.core import clock
from engine.scripting import budget
from engine.scripting.budget import BudgetExceeded


class ScriptRejected(ValueError):
    """The restricted compiler refused the code (syntax error or a forbidden construct)."""


# Recorded helpers: registered by a domain (name -> default result), supplied per change by the runtime
# (name -> provider reading the database) or by a replay (name -> the recorded value).
_RECORDED: dict[str, Callable[[], Any]] = {}
_providers: contextvars.ContextVar[dict[str, Callable[[], Any]] | None] = contextvars.ContextVar(
    "recorded_helper_providers", default=None)


def _now() -> str:
    return clock.now().isoformat()


def _add_duration(start: str, duration: str) -> str:
    """``add_duration(now(), "PT30M")``: an ISO time plus an ISO 8601 duration, as an ISO string."""
    base = _dt.datetime.fromisoformat(start)
    if base.tzinfo is None:
        base = base.replace(tzinfo=_dt.UTC)
    delta = TimerEventDefinition.get_timedelta_from_start(TimerEventDefinition.parse_iso_duration(duration), base)
    return (base + delta).isoformat()


def _call_recorded(name: str) -> Any:
    provider = (_providers.get() or {}).get(name)
    return provider() if provider is not None else _RECORDED[name]()


def register_recorded_helper(name: str, default: Callable[[], Any]) -> None:
    """Offer scripts a helper ``name()`` whose value comes from outside the workflow (the database): the
    runtime supplies and records it per change, a replay supplies the recorded value (see
    :mod:`engine.runtime.listeners`); ``default()`` answers when neither does."""
    _RECORDED[name] = default
    HELPERS[name] = functools.partial(_call_recorded, name)


def recorded_helper_names() -> tuple[str, ...]:
    return tuple(_RECORDED)


@contextlib.contextmanager
def recorded_helpers(providers: dict[str, Callable[[], Any]]) -> Iterator[None]:
    """Within the block, recorded helpers answer from ``providers``."""
    token = _providers.set(providers)
    try:
        yield
    finally:
        _providers.reset(token)


def _check_size(op: str, x: Any, y: Any) -> None:
    """Refuse ``x <op> y`` when its result would be too big to build within the budget."""
    if op == "*":
        for seq, n in ((x, y), (y, x)):
            if isinstance(seq, str | bytes | list | tuple) and isinstance(n, int) and not isinstance(n, bool):
                width = 1 if isinstance(seq, str | bytes) else 8
                if len(seq) * max(n, 0) * width > budget.limits().memory_bytes:
                    raise budget.too_big("构造的序列")
        if isinstance(x, int) and isinstance(y, int) and x.bit_length() + y.bit_length() > budget.MAX_INT_BITS:
            raise budget.too_big("计算的整数")
    elif op == "**" and isinstance(x, int) and isinstance(y, int) and y > 0:
        if max(x.bit_length() - 1, 0) * y > budget.MAX_INT_BITS:
            raise budget.too_big("计算的整数")
    elif op == "<<" and isinstance(x, int) and isinstance(y, int) and x and y > budget.MAX_INT_BITS:
        raise budget.too_big("计算的整数")


_BINOPS = {"*": lambda a, b: a * b, "**": lambda a, b: a ** b, "<<": lambda a, b: a << b}


def _binop(op: str, x: Any, y: Any) -> Any:
    _check_size(op, x, y)
    return _BINOPS[op](x, y)


def _pow(base, exp, mod=None):
    if mod is None:
        _check_size("**", base, exp)
    return pow(base, exp, mod)


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    ops = {"+=": lambda a, b: a + b, "-=": lambda a, b: a - b, "*=": lambda a, b: a * b,
           "/=": lambda a, b: a / b, "//=": lambda a, b: a // b, "%=": lambda a, b: a % b}
    if op not in ops:
        raise ScriptRejected(f"operator {op} is not allowed")
    _check_size(op[:-1], x, y)
    return ops[op](x, y)


_PADDING = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


def _getattr(obj: Any, name: str, default: Any = None) -> Any:
    """RestrictedPython's ``safer_getattr``, with ``str`` padding methods bounded in width."""
    value = safer_getattr(obj, name, default)
    if isinstance(obj, str) and name in _PADDING:
        def padded(width=8, *args):
            if isinstance(width, int) and width > budget.limits().memory_bytes:
                raise budget.too_big("构造的字符串")
            return value(width, *args)
        return padded
    return value


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus: ``*``, ``**`` and ``<<`` go through ``_binop_`` (size checked)."""

    _GUARDED = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<"}

    def visit_BinOp(self, node):
        node = self.node_contents_visit(node)
        op = self._GUARDED.get(type(node.op))
        if op is None:
            return node
        call = ast.Call(func=ast.Name("_binop_", ast.Load()), args=[ast.Constant(op), node.left, node.right],
                        keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))


class EngineDatetime(_dt.datetime):
    """``datetime`` as scripts see it: every way of asking for "now" reads the engine's clock (pinned to the
    change's instant, and to the recorded instant in a replay), never the wall clock — so a history whose
    scripts use dates replays to the same state. Naive results are Shanghai local time, as the real
    ``datetime.now()`` gives on the company's servers. Every constructor hands back a plain ``datetime``,
    so what a script stores in task data serializes like any other date."""

    def __new__(cls, *args, **kwargs):
        return _dt.datetime(*args, **kwargs)

    @classmethod
    def now(cls, tz=None):
        moment = clock.now()
        return moment.astimezone(tz) if tz is not None else moment.astimezone(clock.SHANGHAI).replace(tzinfo=None)

    @classmethod
    def today(cls):
        return cls.now()

    @classmethod
    def utcnow(cls):
        return clock.now().astimezone(_dt.UTC).replace(tzinfo=None)

    @classmethod
    def fromisoformat(cls, text):
        return _dt.datetime.fromisoformat(text)

    @classmethod
    def strptime(cls, text, fmt):
        return _dt.datetime.strptime(text, fmt)

    @classmethod
    def combine(cls, date, time, tzinfo=True):
        return _dt.datetime.combine(date, time) if tzinfo is True else _dt.datetime.combine(date, time, tzinfo)

    @classmethod
    def fromtimestamp(cls, stamp, tz=None):
        moment = _dt.datetime.fromtimestamp(stamp, tz if tz is not None else clock.SHANGHAI)
        return moment if tz is not None else moment.replace(tzinfo=None)


# Builtins whose answer differs from one run to the next (an object's address, the per-process string hash
# seed): a script that used them could not be replayed, so they are not offered and validation refuses them.
NONDETERMINISTIC = ("hash", "id")

HELPERS: dict[str, Any] = {
    "now": _now,
    "add_duration": _add_duration,
    "datetime": EngineDatetime,
    "timedelta": _dt.timedelta,
    "ceil": math.ceil,
    "floor": math.floor,
}

_BUILTINS = {k: v for k, v in safe_builtins.items() if k not in NONDETERMINISTIC}
_BUILTINS.update(limited_builtins)
_BUILTINS.update({name: getattr(builtins, name)
                  for name in ("min", "max", "sum", "any", "all", "enumerate", "dict", "list", "sorted",
                               "reversed", "map", "filter")})
_BUILTINS["pow"] = _pow
# Without the name, no handler can catch the budget's BaseException (bare ``except:`` is refused too).
_BUILTINS.pop("BaseException", None)

_GUARDS = {
    "__builtins__": _BUILTINS,
    "_getattr_": _getattr,
    "_binop_": _binop,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
    "_print_": PrintCollector,
}


def _assigned(tree) -> set[str]:
    """Names the script binds itself (a task-data field called ``id`` is data, not the builtin)."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


@functools.lru_cache(maxsize=4096)
def _compile(code: str, mode: str):
    try:
        tree = ast.parse(code, mode=mode)
    except SyntaxError as exc:
        raise ScriptRejected(f"Line {exc.lineno}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ScriptRejected(f"Line {node.lineno}: 不允许 import，请使用内置辅助函数")
        if isinstance(node, ast.ExceptHandler) and node.type is None:
            raise ScriptRejected(f"Line {node.lineno}: 不允许不带异常类型的 except，请写明要捕获的异常")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in NONDETERMINISTIC
                and node.func.id not in _assigned(tree)):
            raise ScriptRejected(f"Line {node.lineno}: 不允许使用 {node.func.id}()：每次运行结果不同，历史将无法重放")
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(code, budget.SCRIPT_FILENAME, policy=_Policy)
    if result.errors:
        raise ScriptRejected("; ".join(result.errors))
    return result.code


def check(code: str, mode: str = "exec") -> list[str]:
    """Deploy-time check: the restricted compiler's complaints, empty when the code would run."""
    try:
        _compile(code, mode)
    except ScriptRejected as exc:
        return [str(exc)]
    return []


def _globals(external_context: dict | None) -> dict:
    g = dict(_GUARDS)
    g.update(HELPERS)
    if external_context:
        g.update({k: v for k, v in external_context.items() if not k.startswith("_")})
    return g


def _storable(value: Any) -> bool:
    return not callable(value) and not isinstance(value, type(math))


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that only runs RestrictedPython bytecode."""

    def __init__(self):
        super().__init__(dict(HELPERS))

    def evaluate(self, expression, context, external_context=None):
        code = _compile(expression.strip(), "eval")
        scope = _globals(external_context)
        scope.update(context)
        with budget.enforced():
            return eval(code, scope)  # noqa: S307 - restricted bytecode, guarded globals

    def execute(self, script, context, external_context=None):
        clash = set(HELPERS) & set(context)
        if clash:
            raise ValueError(f"任务数据中的字段名与内置函数重名：{', '.join(sorted(clash))}")
        code = _compile(script, "exec")
        scope = _globals(external_context)
        reserved = set(scope)
        scope.update(context)
        with budget.enforced():
            exec(code, scope)  # noqa: S102 - restricted bytecode, guarded globals
        for key, value in scope.items():
            if key.startswith("_") or (key in reserved and key not in context):
                continue
            if _storable(value):
                context[key] = value
            elif key in context:
                del context[key]
        return True

    def call_service(self, context, **kwargs):
        raise NotImplementedError("此产品不支持服务任务")


class ScriptOverBudget(WorkflowTaskException):  # noqa: N818 - reads as what happened
    """A script, condition or timer expression ran out of its time or memory budget (message in Chinese)."""


class BudgetedScriptEngine(PythonScriptEngine):
    """Turns a spent budget (a ``BaseException``, so the script could not catch it) into the ordinary
    workflow error of the task that ran the script, which fails the change and names the element."""

    def evaluate(self, task, expression, external_context=None):
        try:
            return super().evaluate(task, expression, external_context)
        except BudgetExceeded as exc:
            raise ScriptOverBudget(exc.message, task=task) from None

    def execute(self, task, script, external_context=None):
        try:
            return super().execute(task, script, external_context)
        except BudgetExceeded as exc:
            raise ScriptOverBudget(exc.message, task=task) from None


def script_engine() -> PythonScriptEngine:
    """A fresh engine (cheap); SpiffWorkflow does not serialize it, so the runtime attaches one per load."""
    return BudgetedScriptEngine(environment=RestrictedEnvironment())
