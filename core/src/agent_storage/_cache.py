"""``open_store()``: URL -> Storage, through a process-wide, hot-reload-safe cache.

The same target and options give the same Storage, so frameworks that re-run module code
(Jupyter ``%autoreload``, Streamlit reruns, ``importlib.reload``) do not open a new pool
each time. The cache lives in a module object registered in ``sys.modules`` (see
:mod:`agent_storage._plugins`), so it survives a reload of agent_storage itself.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .backend import Backend
from .errors import ConfigurationError
from .naming import DOMAIN_NAMES
from .options import StoreOptions, build_options
from .storage import Storage
from .url import StoreURL, parse_url

# The plugin registry (_plugins: pluggy's PluginManager, entry points, ~2 ms), asyncio and
# logging are imported when a store is first opened or closed, not by `import agent_storage`.

__all__ = ["DEFAULT_URL", "close_all", "open_store"]

DEFAULT_URL = "sqlite:///agent_storage.db"
_lock = threading.Lock()

Target = str | StoreURL | Mapping[str, "str | StoreURL | bool | None"]


def _cache() -> dict[Any, Storage]:
    import agent_storage._plugins as _plugins  # absolute: ~0.2 us a call, relative ~1 us

    st = _plugins.state()
    if st.stores is None:
        st.stores = {}
        st.warned = set()
    return st.stores


def _default_target() -> str:
    return os.environ.get("AGENT_STORAGE_URL") or DEFAULT_URL


def _freeze(value: Any) -> Any:
    """A hashable stand-in for an option value (objects by identity)."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if attrs.has(type(value)):  # IndexSpec, Retention: equal specs share a store
        return (type(value).__qualname__, repr(value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    return (type(value).__qualname__, id(value))  # engines, SSL contexts: by identity


def _specs(target: Target) -> dict[str, Any]:
    """The URL (or False/None) for ``default`` and each domain."""
    if isinstance(target, Mapping):
        unknown = set(target) - {"default", *DOMAIN_NAMES}
        if unknown:
            raise ConfigurationError(
                f"unknown keys {sorted(unknown)} in the store mapping; expected 'default' and "
                f"domain names {list(DOMAIN_NAMES)}"
            )
        default = target.get("default")
        if default is None or isinstance(default, bool):
            missing = [d for d in DOMAIN_NAMES if d not in target]
            if missing:
                raise ConfigurationError(
                    "the store mapping needs a 'default' URL for the domains it does not "
                    f"name: {missing}"
                )
        specs: dict[str, Any] = {d: target.get(d, default) for d in DOMAIN_NAMES}
        if default is not None and not isinstance(default, bool):
            specs["default"] = default
        elif not any(isinstance(v, str | StoreURL) for v in specs.values()):
            raise ConfigurationError("the store mapping enables no domain")
    else:
        specs = {"default": target, **dict.fromkeys(DOMAIN_NAMES, target)}
    return specs


def _plan(
    target: Target, keywords: Mapping[str, Any]
) -> tuple[dict[str, str | None], dict[str, Any], str]:
    """Resolve the target into routes (domain -> key), per-key (cls, url, options), default key."""
    import agent_storage._plugins as _plugins

    specs = _specs(target)
    reg = _plugins.registry()
    parts: dict[str, Any] = {}
    routes: dict[str, str | None] = {}
    default_key = ""
    for name, spec in specs.items():
        if spec is False or spec is None:
            routes[name] = None
            continue
        if spec is True:
            raise ConfigurationError(f"{name}: expected a URL or False, got True")
        url = parse_url(spec)
        info, cls = reg.backend_class(url.scheme)
        url = url.with_secret_options(cls.secret_options)
        # Keyword options go to the default backend; other URLs carry their own options.
        kw = keywords if (spec == specs.get("default") or not isinstance(target, Mapping)) else {}
        implied = cls.option_defaults(url)
        options = build_options(
            url.query,
            {**implied, **kw},
            backend=info.name,
            options_class=cls.options_class,
            extra_accepted=cls.extra_options,
        )
        key = repr((url.render(hide_password=False), _freeze(kw)))
        parts[key] = (cls, url, options, info.name)
        if name == "default":
            default_key = key
        else:
            routes[name] = key
    if not default_key:
        default_key = next(k for k in routes.values() if k is not None)
    return routes, parts, default_key


def _build_backend(cls: type[Backend], url: StoreURL, options: StoreOptions, name: str) -> Backend:
    backend = cls(url, options)
    backend.backend_name = name
    return backend


def plan_store(target: Target, options: Mapping[str, Any]) -> tuple[Any, Callable[[], Storage]]:
    """Validate ``target`` and ``options``; return the cache key and a builder of a new,
    uncached Storage (the one place that assembles a Storage; used by the sync facade)."""
    routes, parts, default_key = _plan(target, options)
    key = (tuple(sorted((d, k) for d, k in routes.items() if k)), default_key)
    factories = {
        k: functools.partial(_build_backend, cls, url, opts, name)
        for k, (cls, url, opts, name) in parts.items()
    }
    label = parts[default_key][1]

    import agent_storage._plugins as _plugins

    def build() -> Storage:
        pm = _plugins.registry().pm
        storage = Storage(routes, factories, default=default_key, pm=pm)
        pm.hook.store_opened(storage=storage)
        return storage

    build.label = label  # type: ignore[attr-defined]
    return key, build


def open_store(target: Target | None = None, *, fresh: bool = False, **options: Any) -> Storage:
    """Open (or reuse) a store.

    ``target`` is a URL (``sqlite:///agent.db``, ``postgresql://...``, ``dynamodb://table``,
    ``memory://``), or a mapping ``{"default": url, "memory": url, "observability": False}``.
    It defaults to ``$AGENT_STORAGE_URL``, else ``sqlite:///agent_storage.db``. Keyword
    options override URL query options. Nothing connects until the first call or
    ``await storage.init()``. ``fresh=True`` bypasses the cache: the new store is neither
    taken from nor put into it (and opening one while a cached store on the same target is
    live logs one warning).
    """
    if target is None:
        target = _default_target()
    key, build = plan_store(target, options)
    stores = _cache()
    with _lock:
        cached = stores.get(key)
        usable = cached is not None and not cached.closed
        if not fresh:
            if usable:
                assert cached is not None
                return cached
            storage = build()
            stores[key] = storage
            return storage
        import agent_storage._plugins as _plugins

        if usable and key not in _plugins.state().warned:
            import logging

            _plugins.state().warned.add(key)
            logging.getLogger("agent_storage").warning(
                "opening a second live store on %s (fresh=True): it has its own connections",
                build.label,  # type: ignore[attr-defined]
            )
    return build()


async def close_all() -> None:
    """Close every cached store and empty the cache (the connections of every event loop
    that used them: see :meth:`Storage.close`)."""
    stores = _cache()
    with _lock:
        items = list(stores.values())
        stores.clear()
    for storage in items:
        await storage.close()
