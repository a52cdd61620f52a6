"""``agent-storage backends [--check]``: installed plugins, schemes, load errors."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import AgentStorageError
from ._common import EXIT_OK
from ._output import Output
from ._registry import Command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true",
                   help="also import each backend (and its driver): capabilities, options")


def _inspect_backend(reg: Any, info: Any) -> dict[str, Any]:
    """Import a backend's class (``backends --check``): capabilities, options, or the error."""
    try:
        _, cls = reg.backend_class(info.schemes[0])
    except AgentStorageError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "capabilities": _capabilities(cls, info.schemes[0]),
            "options": sorted({*cls.accepted_options, *cls.extra_options})}


def _capabilities(cls: Any, scheme: str) -> list[str]:
    """The class's capabilities, marking those a bare ``scheme://`` store lacks (an
    anonymous ``memory://`` is not persistent, whatever ``memory://NAME`` is)."""
    from ..url import parse_url

    try:
        bare = cls(parse_url(f"{scheme}://"), cls.options_class()).capabilities
    except Exception:  # a URL without a database or table is refused: nothing to mark
        bare = cls.capabilities
    return [name if name in bare else f"{name} (not {scheme}://)"
            for name in sorted(cls.capabilities)]


def _print_tables(out: Output, reg: Any, infos: list[Any],
                  checks: dict[str, dict[str, Any]]) -> None:
    from .._plugins import KNOWN_DISTRIBUTIONS, install_hint

    out.table(["backend", "schemes", "plugin", "version", "class"],
              [(i.name, ", ".join(i.schemes), i.plugin, i.version or "built-in", i.target)
               for i in infos], title="Installed backends")
    if checks:
        out.table(["backend", "imports", "capabilities", "options beyond the common ones"],
                  [(name, "ok" if c["ok"] else c["error"],
                    ", ".join(c.get("capabilities", ())) or "-",
                    ", ".join(c.get("options", ())) or "-")
                   for name, c in checks.items()], title="Backend classes")
    if reg.errors:
        out.table(["plugin", "error"], [(e.plugin, e.error) for e in reg.errors],
                  title="Plugins that failed to load")
    missing = sorted({dist for scheme, dist in KNOWN_DISTRIBUTIONS.items()
                      if scheme not in reg.backends})
    if missing:
        out.line("")
        out.line("Not installed: " + ", ".join(missing))
        for dist in missing:
            out.line(f"  {install_hint(dist)}")


async def _run(args: argparse.Namespace, out: Output) -> int:
    from .._plugins import registry

    reg = registry()
    seen: dict[tuple[str, str], Any] = {}
    for info in reg.backends.values():
        seen.setdefault((info.plugin, info.name), info)
    infos = sorted(seen.values(), key=lambda i: (i.name, i.plugin))
    checks = {i.name: _inspect_backend(reg, i) for i in infos} if args.check else {}
    if args.json:
        out.json({
            "backends": [{"name": i.name, "schemes": list(i.schemes), "plugin": i.plugin,
                          "version": i.version, "target": i.target,
                          **({"check": checks[i.name]} if args.check else {})}
                         for i in infos],
            "errors": [{"plugin": e.plugin, "error": e.error} for e in reg.errors],
        })
        return EXIT_OK
    _print_tables(out, reg, infos, checks)
    return EXIT_OK


COMMAND = Command(name="backends", help="installed backends, their schemes and plugin load errors",
                  arguments=_arguments, run=_run, json=True)
