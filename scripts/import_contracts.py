"""A custom import-linter contract: some packages may not import any private module of
another (a module whose dotted path has a ``_``-prefixed part, e.g. ``agent_storage._cache``
or ``agent_storage.domains._base``), found in the import graph, so a private module added
later is covered without editing the configuration. Loaded by the lint env
(``contract_types`` in pyproject.toml; scripts/ is on its PYTHONPATH)."""

from __future__ import annotations

from typing import Any

from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.domain import fields
from importlinter.domain.imports import ModuleExpression


def private_modules(modules: Any, package: str) -> list[str]:
    """Every module of ``package`` with a ``_``-prefixed (non-dunder) part."""
    found = []
    for name in modules:
        parts = name.split(".")
        if parts[0] == package and any(
                p.startswith("_") and not p.startswith("__") for p in parts[1:]):
            found.append(name)
    return sorted(found)


class PrivateModulesContract(ForbiddenContract):
    """``source_modules`` may not import the private modules of ``private_of`` directly
    (through a public module is fine: that is what public modules are for)."""

    type_name = "private_modules"

    source_modules = fields.SetField(subfield=fields.ModuleExpressionField())
    private_of = fields.StringField()
    forbidden_modules = fields.SetField(subfield=fields.ModuleExpressionField(), required=False)
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    allow_indirect_imports = fields.BooleanField(required=False, default=True)
    unmatched_ignore_imports_alerting = ForbiddenContract.unmatched_ignore_imports_alerting
    as_packages = fields.BooleanField(required=False, default=True)
    broken_contract_guidance = fields.TextField(required=False)

    def check(self, graph: Any, verbose: bool) -> Any:
        names = private_modules(graph.modules, str(self.private_of))  # type: ignore[attr-defined]
        self.forbidden_modules = {ModuleExpression(name) for name in names}  # type: ignore[misc]
        return super().check(graph, verbose)
