"""The sealed bridge: what pywebview's window may call, and nothing else.

pywebview lists `dir(js_api)` for the page, but when JavaScript calls a name it
resolves it with `getattr` one dotted part at a time, without looking at the
list, so `api._engine.restore` or `save_profile.__self__._writer` would be
callable on a normal object. `seal` instead hands out a `JsBridge` whose only
attributes are one plain function per public name.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Iterable

Dispatch = Callable[[str, Any], dict]


class JsBridge:
    """What pywebview gets as `js_api`: one plain function per public method, and nothing else.

    Every attribute lookup other than the public names fails, and each function
    carries no reference to anything: it is built with empty globals (so even
    `fn.__globals__.clear` touches nothing) and reaches the dispatcher only through
    its closure, which getattr cannot open.
    """

    __slots__ = ("_fns",)

    def __init__(self, fns: dict[str, Callable]) -> None:
        object.__setattr__(self, "_fns", fns)

    def __getattribute__(self, name: str) -> Any:
        fns = object.__getattribute__(self, "_fns")
        if name in fns:
            return fns[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(name)

    def __dir__(self) -> list[str]:
        return sorted(object.__getattribute__(self, "_fns"))


def _sealed_function(name: str, dispatch: Dispatch) -> Callable:
    def call(*args):
        return dispatch(name, args)

    # Rebuild it with empty globals and builtins: nothing else is reachable through it.
    fn = types.FunctionType(call.__code__, {"__builtins__": {}}, name, None, call.__closure__)
    fn.__qualname__ = name
    return fn


def seal(dispatch: Dispatch, names: Iterable[str]) -> JsBridge:
    """A bridge whose function `name(*args)` returns `dispatch(name, args)`, for each of `names` only."""
    return JsBridge({name: _sealed_function(name, dispatch) for name in names})
