"""The one place that touches pluggy's PluginManager and entry points.

Plugins load one by one: a plugin whose import or registration fails is recorded (shown by
``agent-storage backends``) and the others keep working. Built-in backends register
through the same hook as third-party ones.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

import pluggy
from attrs import field, frozen

from . import hookspecs
from .errors import ConfigurationError, DuplicateSchemeError, UnknownBackendError

__all__ = ["BackendInfo", "PluginError", "Registry", "registry", "reset_registry"]

ENTRY_POINT_GROUP = "agent_storage"

#: Built-in default plugins: (name, module).
_DEFAULT_PLUGINS = (("memory", "agent_storage.backends.memory"),)

#: Where to get a backend that is not installed, for error messages.
KNOWN_DISTRIBUTIONS = {
    "postgresql": "agent-storage-pg",
    "postgres": "agent-storage-pg",
    "postgresql+asyncpg": "agent-storage-pg",
    "sqlite": "agent-storage-sqlite",
    "sqlite+aiosqlite": "agent-storage-sqlite",
    "dynamodb": "agent-storage-dynamodb",
}


@frozen(kw_only=True)
class BackendInfo:
    """A registered backend."""

    name: str
    target: str
    schemes: tuple[str, ...]
    plugin: str
    version: str | None = None


@frozen(kw_only=True)
class PluginError:
    """A plugin that failed to load or register."""

    plugin: str
    error: str
    exception: BaseException | None = field(default=None, eq=False, repr=False)


class Registry:
    """Loaded plugins, registered backends by scheme, and load errors."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("agent_storage")
        self.pm.add_hookspecs(hookspecs)
        self.backends: dict[str, BackendInfo] = {}
        self.errors: list[PluginError] = []
        self._conflicts: dict[str, str] = {}
        self._classes: dict[str, type[Any]] = {}

    # -- loading -------------------------------------------------------------------------

    def load(self) -> None:
        for name, module in _DEFAULT_PLUGINS:
            self._add_plugin(name, lambda m=module: importlib.import_module(m), version=None)
        from importlib.metadata import entry_points  # ~20 ms: only when a store is opened

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if self.pm.has_plugin(ep.name):
                continue
            version = ep.dist.version if ep.dist is not None else None
            dist = ep.dist.name if ep.dist is not None else ep.name
            self._add_plugin(ep.name, ep.load, version=version, dist=dist)

    def add_plugin(self, name: str, plugin: Any, *, version: str | None = None) -> None:
        """Register an already-imported plugin object (for tests and embedding)."""
        self._add_plugin(name, lambda: plugin, version=version)

    def _add_plugin(
        self, name: str, load: Any, *, version: str | None, dist: str | None = None
    ) -> None:
        label = dist or name
        try:
            plugin = load()
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self.errors.append(
                PluginError(plugin=label, error=f"{type(exc).__name__}: {exc}", exception=exc)
            )
            return
        try:
            self.pm.check_pending()
        except Exception as exc:
            self.pm.unregister(plugin)
            self.errors.append(
                PluginError(plugin=label, error=f"{type(exc).__name__}: {exc}", exception=exc)
            )
            return
        impls = [i for i in self.pm.hook.register_backends.get_hookimpls() if i.plugin is plugin]

        def register(
            backend: str,
            target: str,
            *,
            schemes: tuple[str, ...] = (),
            version: str | None = version,
        ) -> None:
            self._register(label, backend, target, tuple(schemes) or (backend,), version)

        for impl in impls:
            try:
                impl.function(register=register)
            except Exception as exc:
                self.errors.append(
                    PluginError(plugin=label, error=f"{type(exc).__name__}: {exc}", exception=exc)
                )

    def _register(
        self, plugin: str, name: str, target: str, schemes: tuple[str, ...], version: str | None
    ) -> None:
        if ":" not in target:
            raise ConfigurationError(
                f"backend {name!r}: target must be 'package.module:Class', got {target!r}"
            )
        info = BackendInfo(
            name=name, target=target, schemes=schemes, plugin=plugin, version=version
        )
        clashes = [s for s in schemes if s in self.backends]
        if clashes:
            other = self.backends[clashes[0]]
            message = (
                f"scheme {clashes[0]!r} is registered by both {other.plugin!r} "
                f"(backend {other.name!r}) and {plugin!r} (backend {name!r})"
            )
            for scheme in clashes:
                self._conflicts[scheme] = message
            raise DuplicateSchemeError(message)
        for scheme in schemes:
            self.backends[scheme.lower()] = info

    # -- lookup --------------------------------------------------------------------------

    def backend_class(self, scheme: str) -> tuple[BackendInfo, type[Any]]:
        """Import and return the class registered for ``scheme``."""
        if scheme in self._conflicts:
            raise DuplicateSchemeError(self._conflicts[scheme])
        info = self.backends.get(scheme)
        if info is None:
            installed = ", ".join(sorted(self.backends)) or "none"
            hint = ""
            if scheme in KNOWN_DISTRIBUTIONS:
                hint = f"; install it with: {install_hint(KNOWN_DISTRIBUTIONS[scheme])}"
            else:
                hint = did_you_mean(scheme, [*self.backends, *KNOWN_DISTRIBUTIONS])
            failed = "".join(
                f"\n  plugin {e.plugin!r} failed to load: {e.error}" for e in self.errors
            )
            raise UnknownBackendError(
                f"no backend for scheme {scheme!r} (installed schemes: {installed}){hint}{failed}"
            )
        cls = self._classes.get(info.target)
        if cls is None:
            module_name, _, attr = info.target.partition(":")
            try:
                cls = getattr(importlib.import_module(module_name), attr)
            except Exception as exc:
                raise UnknownBackendError(
                    f"backend {info.name!r} from {info.plugin!r} failed to import "
                    f"{info.target!r}: {exc}"
                ) from exc
            self._classes[info.target] = cls
        return info, cls


def did_you_mean(word: str, candidates: Any) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``candidates``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def install_hint(distribution: str) -> str:
    """How to install one of our plugin distributions, where the user is: from a source
    checkout (``pip install -e plugins/pg``) as well as by its published name."""
    import os
    from pathlib import Path

    published = f"pip install {distribution}"
    short = distribution.removeprefix("agent-storage-")
    root = Path(__file__).resolve().parents[3]  # core/src/agent_storage -> the checkout
    plugin = root / "plugins" / short
    if not (plugin / "pyproject.toml").is_file():
        return published
    try:
        where = os.path.relpath(plugin)
    except ValueError:  # another drive (Windows)
        where = str(plugin)
    return f"pip install -e {where} (this checkout; published: {published})"


# The registry lives outside this module's namespace so that reloading agent_storage
# (Jupyter %autoreload, importlib.reload) keeps one registry and one store cache.
_STATE_KEY = "agent_storage._state"
_lock = threading.Lock()


class ProcessState(types.ModuleType):
    """Process-wide state kept in ``sys.modules``: the registry and the store cache."""

    registry: Registry | None = None
    stores: dict[Any, Any] | None = None
    warned: set[Any]


def state() -> ProcessState:
    found = sys.modules.get(_STATE_KEY)
    if found is None:
        found = ProcessState(_STATE_KEY, "agent-storage process state (survives reloads)")
        sys.modules[_STATE_KEY] = found
    return found  # type: ignore[return-value]


def registry() -> Registry:
    st = state()
    reg = st.registry
    if reg is None:
        with _lock:
            reg = st.registry
            if reg is None:
                reg = Registry()
                reg.load()
                st.registry = reg
    return reg


def reset_registry() -> None:
    """Forget loaded plugins; the next lookup reloads entry points (tests, new installs)."""
    state().registry = None
