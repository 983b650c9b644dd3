"""ipp.dependency — Dependency, require and depend, as IPython Parallel.

A Dependency is a set of msg_ids with the flags the scheduler reads (all
or any; met by success and/or failure) and goes into a load-balanced
view's ``after`` or ``follow``. ``@require`` and ``@depend`` mark a
function with conditions checked on the engine when it runs: an unmet one
raises UnmetDependency there.
"""

import functools

from . import error
from .error import UnmetDependency

__all__ = ["Dependency", "require", "depend", "dependent"]


def _ids_of(deps):
    """msg_ids from an AsyncResult, a msg_id, a Dependency or a list of them."""
    from .asyncresult import AsyncResult

    if deps is None:
        return []
    if isinstance(deps, str):
        return [deps]
    if isinstance(deps, AsyncResult):
        return deps.msg_ids
    if isinstance(deps, Dependency):
        return list(deps)
    out = []
    try:
        it = iter(deps)
    except TypeError:
        raise error.InvalidUse(
            f"a dependency is an AsyncResult, a msg_id or a list of them, not "
            f"{type(deps).__name__}") from None
    for d in it:
        out.extend(_ids_of(d))
    return out


class Dependency(set):
    """Dependency(deps, all=True, success=True, failure=False): msg_ids that
    must finish (all of them, or any one) with the given outcome first."""

    all = True
    success = True
    failure = False

    def __init__(self, dependencies=(), all=True, success=True, failure=False):
        super().__init__(_ids_of(dependencies))
        if not (success or failure):
            raise error.InvalidUse("a Dependency must be met by success, failure or both")
        self.all = bool(all)
        self.success = bool(success)
        self.failure = bool(failure)

    def as_flag(self):
        return (sorted(self), self.all, self.success, self.failure)

    def as_dict(self):
        return {"dependencies": sorted(self), "all": self.all,
                "success": self.success, "failure": self.failure}

    def __repr__(self):
        return (f"Dependency({sorted(self)!r}, all={self.all}, success={self.success}, "
                f"failure={self.failure})")


def _dep_flag(value):
    """A flag value (ids, all, success, failure) or None from what a user gives."""
    if value is None:
        return None
    if isinstance(value, Dependency):
        return value.as_flag()
    ids = _ids_of(value)
    return (ids, True, True, False) if ids else None


class dependent:
    """A function wrapped with a check run on the engine before it."""

    def __init__(self, f, df, *dargs, **dkwargs):
        self.f = f
        functools.update_wrapper(self, f)
        self.df = df
        self.dargs = dargs
        self.dkwargs = dkwargs

    def check_dependency(self):
        if self.df(*self.dargs, **self.dkwargs) is False:
            raise UnmetDependency("UnmetDependency",
                                        f"{getattr(self.df, '__name__', 'check')} failed")

    def __call__(self, *args, **kwargs):
        self.check_dependency()
        return self.f(*args, **kwargs)


def _require_check(modules, mapping):
    import importlib
    import sys

    main = sys.modules.get("__main__")
    ns = vars(main) if main is not None else {}
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except ImportError as e:
            raise UnmetDependency("UnmetDependency", f"cannot import {name}: {e}") from None
        ns.setdefault(name.split(".")[0], importlib.import_module(name.split(".")[0]))
        del mod
    for name, obj in mapping.items():
        ns[name] = obj
    return True


def require(*objects, **mapping):
    """@require('numpy', 'os', …): import these on the engine before the
    call (names into the engine's namespace); unimportable →
    UnmetDependency. Functions given are pushed under their names."""
    modules = []
    for o in objects:
        if isinstance(o, str):
            modules.append(o)
        elif callable(o) and hasattr(o, "__name__"):
            mapping[o.__name__] = o
        elif hasattr(o, "__name__") and type(o).__name__ == "module":
            modules.append(o.__name__)
        else:
            raise error.InvalidUse(f"require: cannot require {o!r}")

    def deco(f):
        return dependent(f, _require_check, modules, mapping)

    return deco


def depend(f, *args, **kwargs):
    """@depend(check, *args): run check(*args) on the engine first; False →
    UnmetDependency."""

    def deco(g):
        return dependent(g, f, *args, **kwargs)

    return deco
