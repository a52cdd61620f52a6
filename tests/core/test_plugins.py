"""Plugin discovery: the registry with in-process plugins, and real distributions from outside.

The outside tests build throwaway distributions in a temp dir (own pyproject.toml, own
entry point in group ``agent_storage``, built by a ten-line in-tree PEP 517 backend so no
network or build tool is needed), install them with pip into a target dir, and use them
from a fresh interpreter whose sys.path includes that dir.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import agent_storage
import pytest
from agent_storage import (
    ConfigurationError,
    DuplicateSchemeError,
    Message,
    Thread,
    UnknownBackendError,
    hookimpl,
    open_store,
)
from agent_storage._plugins import BackendInfo, Registry, registry
from agent_storage.backends.memory import MemoryBackend

MEMORY_TARGET = "agent_storage.backends.memory:MemoryBackend"


class Plugin:
    """An in-process plugin registering the given backends: (name, target, schemes, version)."""

    def __init__(self, *backends: tuple[str, str, tuple[str, ...], str | None]) -> None:
        self.backends = backends

    @hookimpl
    def register_backends(self, register: Any) -> None:
        for name, target, schemes, version in self.backends:
            if version is None:
                register(name, target, schemes=schemes)
            else:
                register(name, target, schemes=schemes, version=version)


@pytest.fixture(autouse=True)
def _keep_backend_name() -> Any:
    """Registry.backend_class stamps the registered name on the class; these tests register
    MemoryBackend under other names, so put the real one back for the other tests."""
    saved = MemoryBackend.__dict__.get("backend_name")
    yield
    if saved is not None:
        MemoryBackend.backend_name = saved
    elif "backend_name" in MemoryBackend.__dict__:
        delattr(MemoryBackend, "backend_name")


def fresh_registry(*plugins: tuple[str, Any]) -> Registry:
    reg = Registry()
    for name, plugin in plugins:
        reg.add_plugin(name, plugin, version="9.9")
    return reg


# -- the registry, in process ------------------------------------------------------------


def test_registered_backends_by_scheme_and_lazy_class_import() -> None:
    reg = fresh_registry(("alpha", Plugin(("alpha", MEMORY_TARGET, ("alpha", "alpha+x"), "1.0"))),
                         ("beta", Plugin(("beta", MEMORY_TARGET, (), None))))
    assert set(reg.backends) == {"alpha", "alpha+x", "beta"}
    assert reg.backends["alpha+x"] == BackendInfo(
        name="alpha", target=MEMORY_TARGET, schemes=("alpha", "alpha+x"), plugin="alpha",
        version="1.0")
    # schemes default to the backend name; version defaults to the plugin's version
    assert reg.backends["beta"].schemes == ("beta",)
    assert reg.backends["beta"].version == "9.9"
    info, cls = reg.backend_class("alpha+x")
    assert info.name == "alpha" and cls is MemoryBackend
    assert reg.errors == []


def test_duplicate_scheme_names_both_plugins() -> None:
    reg = fresh_registry(
        ("first-plugin", Plugin(("one", MEMORY_TARGET, ("shared", "one"), None))),
        ("second-plugin", Plugin(("two", MEMORY_TARGET, ("two", "shared"), None))),
    )
    assert len(reg.errors) == 1
    error = reg.errors[0]
    assert error.plugin == "second-plugin"
    assert "DuplicateSchemeError" in error.error
    assert "'first-plugin'" in error.error and "'second-plugin'" in error.error
    with pytest.raises(DuplicateSchemeError) as caught:
        reg.backend_class("shared")
    assert "first-plugin" in str(caught.value) and "second-plugin" in str(caught.value)
    assert "'shared'" in str(caught.value)
    # schemes nobody disputes keep working
    assert reg.backend_class("one")[1] is MemoryBackend
    with pytest.raises(UnknownBackendError):  # the refused backend registered nothing
        reg.backend_class("two")


def test_failing_plugin_is_recorded_and_others_keep_working() -> None:
    class Exploding:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            raise RuntimeError("driver configuration is broken")

    class Misspelt:  # a hookimpl for a hook that does not exist: check_pending refuses it
        @hookimpl
        def register_backend(self, register: Any) -> None:
            register("never", MEMORY_TARGET)

    reg = fresh_registry(
        ("exploding", Exploding()),
        ("good", Plugin(("good", MEMORY_TARGET, (), None))),
        ("misspelt", Misspelt()),
        ("no-colon", Plugin(("nocolon", "agent_storage.backends.memory.MemoryBackend", (), None))),
    )
    errors = {e.plugin: e.error for e in reg.errors}
    assert errors["exploding"] == "RuntimeError: driver configuration is broken"
    assert "register_backend" in errors["misspelt"]
    assert "ConfigurationError" in errors["no-colon"]
    assert "package.module:Class" in errors["no-colon"]
    assert set(errors) == {"exploding", "misspelt", "no-colon"}
    assert set(reg.backends) == {"good"}
    assert reg.backend_class("good")[1] is MemoryBackend
    # the misspelt plugin was unregistered, so it cannot answer later hook calls
    assert not reg.pm.has_plugin("misspelt")
    assert isinstance(next(e for e in reg.errors if e.plugin == "exploding").exception,
                      RuntimeError)


def test_same_plugin_name_twice_is_an_error_not_a_crash() -> None:
    reg = fresh_registry(("dup", Plugin(("a", MEMORY_TARGET, (), None))),
                         ("dup", Plugin(("b", MEMORY_TARGET, (), None))))
    assert set(reg.backends) == {"a"}
    assert [e.plugin for e in reg.errors] == ["dup"]


def test_unknown_scheme_names_installed_schemes_distribution_and_load_errors() -> None:
    class Broken:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            raise ImportError("No module named 'fancy_driver'")

    reg = fresh_registry(("only", Plugin(("only", MEMORY_TARGET, ("only", "only2"), None))),
                         ("agent-storage-fancy", Broken()))
    with pytest.raises(UnknownBackendError) as caught:
        reg.backend_class("dynamodb")
    text = str(caught.value)
    assert "'dynamodb'" in text
    assert "installed schemes: only, only2" in text
    assert "pip install agent-storage-dynamodb" in text
    assert "agent-storage-fancy" in text and "fancy_driver" in text
    with pytest.raises(UnknownBackendError) as caught:
        reg.backend_class("postgresql")
    assert "pip install agent-storage-pg" in str(caught.value)
    assert isinstance(caught.value, ConfigurationError)


def test_target_that_fails_to_import_is_a_typed_error_naming_it() -> None:
    reg = fresh_registry(("ghost", Plugin(("ghost", "no_such_pkg.store:Backend", (), None))))
    with pytest.raises(UnknownBackendError) as caught:
        reg.backend_class("ghost")
    assert "no_such_pkg.store:Backend" in str(caught.value)
    assert isinstance(caught.value.__cause__, ImportError)


def test_default_registry_has_memory_through_the_same_hook() -> None:
    reg = registry()
    info = reg.backends["memory"]
    assert info.target == MEMORY_TARGET and info.plugin == "memory"
    assert reg.pm.has_plugin("memory")
    assert reg.pm.get_plugin("memory") is sys.modules["agent_storage.backends.memory"]


# -- observer hooks ------------------------------------------------------------------------


async def test_observer_hooks_see_open_close_and_can_redact_messages() -> None:
    seen: list[str] = []

    class Observer:
        @hookimpl
        def store_opened(self, storage: Any) -> None:
            seen.append(f"opened {storage.url}")

        @hookimpl
        def store_closing(self, storage: Any) -> None:
            seen.append(f"closing {storage.url}")

        @hookimpl
        def before_save_messages(self, storage: Any, messages: list[Message]) -> list[Message]:
            import attrs

            return [attrs.evolve(m, content=str(m.content).replace("sk-123", "[redacted]"))
                    for m in messages]

    pm = registry().pm
    observer = Observer()
    pm.register(observer, name="test-observer")
    try:
        storage = open_store("memory://", fresh=True)
        await storage.memory.save_thread(Thread(id="t", resource_id="u"))
        await storage.memory.save_messages([
            Message(id="m", thread_id="t", role="user", content="my key is sk-123")])
        page = await storage.memory.list_messages("t")
        assert [m.content for m in page.items] == ["my key is [redacted]"]
        await storage.close()
    finally:
        pm.unregister(observer)
    assert seen == ["opened memory://", "closing memory://"]


# -- real distributions, installed from outside --------------------------------------------

BUILD_BACKEND = '''
"""A minimal PEP 517 backend: a pure-Python wheel from [project] and [tool.tinybuild]."""
import base64, hashlib, io, os, tomllib, zipfile

def _meta():
    with open("pyproject.toml", "rb") as f:
        data = tomllib.load(f)
    return data["project"], data["tool"]["tinybuild"]["packages"]

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project, packages = _meta()
    name, version = project["name"].replace("-", "_"), project["version"]
    info = f"{name}-{version}.dist-info"
    files = {}
    for package in packages:
        for root, _dirs, names in os.walk(package):
            for n in names:
                if n.endswith(".py"):
                    path = os.path.join(root, n)
                    with open(path, "rb") as f:
                        files[path.replace(os.sep, "/")] = f.read()
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\\nName: {project['name']}\\nVersion: {version}\\n").encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: tinybuild\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
    eps = "".join(f"[{group}]\\n" + "".join(f"{k} = {v}\\n" for k, v in items.items())
                  for group, items in project.get("entry-points", {}).items())
    files[f"{info}/entry_points.txt"] = eps.encode()
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    wheel = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel
'''


def make_distribution(root: Path, dist: str, version: str, package: str,
                      files: dict[str, str], entry_points: dict[str, str]) -> Path:
    """Write a source tree for distribution ``dist`` with entry points in group agent_storage."""
    project = root / dist
    (project / package).mkdir(parents=True)
    eps = "\n".join(f'{k} = "{v}"' for k, v in entry_points.items())
    (project / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = []
        build-backend = "tinybuild"
        backend-path = ["."]

        [project]
        name = "{dist}"
        version = "{version}"
        dependencies = ["agent-storage"]

        [project.entry-points.agent_storage]
        """) + eps + f'\n\n[tool.tinybuild]\npackages = ["{package}"]\n')
    (project / "tinybuild.py").write_text(BUILD_BACKEND)
    (project / package / "__init__.py").write_text("")
    for name, text in files.items():
        (project / package / name).write_text(textwrap.dedent(text))
    return project


def pip_install(projects: list[Path], target: Path) -> None:
    """Install source trees into ``target`` with a real installer (pip, else uv)."""
    if importlib.util.find_spec("pip") is not None:
        cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
               "--no-build-isolation", "--disable-pip-version-check", "--quiet"]
    elif shutil.which("uv"):
        cmd = ["uv", "pip", "install", "--python", sys.executable, "--no-deps",
               "--no-build-isolation", "--offline", "--quiet"]
    else:
        pytest.fail("neither pip nor uv is available to install the throwaway distributions")
    proc = subprocess.run([*cmd, "--target", str(target), *map(str, projects)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


THROWAWAY_PLUGIN = """\
from agent_storage import hookimpl

@hookimpl
def register_backends(register):
    # a dotted path: the store module is imported only when a URL selects it
    register("throwaway", "throwaway_store.store:ThrowawayBackend", schemes=("throwaway",))
"""

THROWAWAY_STORE = """\
from agent_storage.backends.memory import MemoryBackend

class ThrowawayBackend(MemoryBackend):
    \"\"\"The reference backend under another scheme, with one option of its own.\"\"\"
    extra_options = ("flavour",)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dir with four installed distributions: one good, one whose import fails, one whose
    hook raises, one whose backend class needs a driver that is not installed."""
    src = tmp_path_factory.mktemp("src")
    good = make_distribution(src, "agent-storage-throwaway", "1.2.3", "throwaway_store",
                             {"plugin.py": THROWAWAY_PLUGIN, "store.py": THROWAWAY_STORE},
                             {"throwaway": "throwaway_store.plugin"})
    broken = make_distribution(
        src, "agent-storage-broken", "0.0.1", "broken_store",
        {"plugin.py": "import missing_driver_xyz  # not installed\n"},
        {"broken": "broken_store.plugin"})
    angry = make_distribution(
        src, "agent-storage-angry", "0.0.2", "angry_store",
        {"plugin.py": """\
            from agent_storage import hookimpl

            @hookimpl
            def register_backends(register):
                raise RuntimeError("angry plugin refuses to register")
            """},
        {"angry": "angry_store.plugin"})
    nodriver = make_distribution(
        src, "agent-storage-nodriver", "0.3.0", "nodriver_store",
        {"plugin.py": """\
            from agent_storage import hookimpl

            @hookimpl
            def register_backends(register):
                register("nodriver", "nodriver_store.store:NoDriverBackend")
            """,
         "store.py": "import missing_driver_abc  # the driver is not installed\n"},
        {"nodriver": "nodriver_store.plugin"})
    target = tmp_path_factory.mktemp("site")
    pip_install([good, broken, angry, nodriver], target)
    assert (target / "agent_storage_throwaway-1.2.3.dist-info" / "entry_points.txt").exists()
    return target


@pytest.fixture(scope="module")
def dup_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two distributions that both claim scheme ``dupe``."""
    src = tmp_path_factory.mktemp("dupsrc")
    projects = []
    for n in ("one", "two"):
        projects.append(make_distribution(
            src, f"agent-storage-dupe-{n}", "1.0", f"dupe_{n}",
            {"plugin.py": f"""\
                from agent_storage import hookimpl

                @hookimpl
                def register_backends(register):
                    register("dupe{n}", "agent_storage.backends.memory:MemoryBackend",
                             schemes=("dupe{n}", "dupe"))
                """},
            {f"dupe{n}": f"dupe_{n}.plugin"}))
    target = tmp_path_factory.mktemp("dupsite")
    pip_install(projects, target)
    return target


def run_python(site: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("AGENT_STORAGE_URL", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_installed_plugin_is_selected_by_url(site: Path) -> None:
    code = textwrap.dedent("""\
        import asyncio, json, sys
        from agent_storage import Thread, Message, open_store
        from agent_storage._plugins import registry

        reg = registry()
        lazy = "throwaway_store.store" not in sys.modules

        async def main():
            async with open_store("throwaway://tw?flavour=salty") as storage:
                await storage.memory.save_thread(Thread(id="t1", resource_id="u1"))
                await storage.memory.save_messages(
                    [Message(id="m1", thread_id="t1", role="user", content="hello")])
                page = await storage.memory.list_messages("t1", last=5)
                return {
                    "lazy": lazy,
                    "class": type(storage.backend).__name__,
                    "flavour": storage.backend.options.extra.get("flavour"),
                    "messages": [m.content for m in page.items],
                    "info": [reg.backends["throwaway"].plugin, reg.backends["throwaway"].version],
                    "errors": sorted(e.plugin for e in reg.errors),
                }

        print(json.dumps(asyncio.run(main())))
        """)
    proc = run_python(site, "-c", code)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # plugins of this environment that fail for their own reasons are not our business
    errors = result.pop("errors")
    assert {"agent-storage-angry", "agent-storage-broken"} <= set(errors)
    assert "agent-storage-throwaway" not in errors
    assert result == {
        "lazy": True,
        "class": "ThrowawayBackend",
        "flavour": "salty",
        "messages": ["hello"],
        "info": ["agent-storage-throwaway", "1.2.3"],
    }


def test_unknown_option_of_installed_plugin_names_what_it_accepts(site: Path) -> None:
    code = ("from agent_storage import open_store\n"
            "try:\n    open_store('throwaway://x?flavor=typo')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    proc = run_python(site, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ConfigurationError ")
    assert "'flavor'" in proc.stdout and "flavour" in proc.stdout and "throwaway" in proc.stdout


def test_backends_command_lists_failing_plugins_and_the_rest_work(site: Path) -> None:
    proc = run_python(site, "-m", "agent_storage.cli", "backends")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "throwaway_store.store:ThrowawayBackend" in out
    assert "agent-storage-throwaway" in out and "1.2.3" in out
    assert "Plugins that failed to load" in out
    assert "agent-storage-broken" in out and "No module named 'missing_driver_xyz'" in out
    assert "agent-storage-angry" in out and "angry plugin refuses to register" in out
    data = json.loads(run_python(site, "-m", "agent_storage.cli", "backends", "--json").stdout)
    names = {b["name"] for b in data["backends"]}
    assert {"memory", "throwaway"} <= names
    errors = {e["plugin"]: e["error"] for e in data["errors"]}
    assert errors["agent-storage-broken"].startswith("ModuleNotFoundError")
    assert errors["agent-storage-angry"] == "RuntimeError: angry plugin refuses to register"
    # every other backend keeps working next to the broken plugins
    proc = run_python(site, "-m", "agent_storage.cli", "demo", "throwaway://demo")
    assert proc.returncode == 0, proc.stderr
    assert "Recalled 5 messages" in proc.stdout
    proc = run_python(site, "-m", "agent_storage.cli", "demo", "memory://")
    assert proc.returncode == 0, proc.stderr


def test_missing_driver_shows_when_the_backend_is_used_or_checked(site: Path) -> None:
    # registering is lazy: a missing driver does not break discovery
    data = json.loads(run_python(site, "-m", "agent_storage.cli", "backends", "--json").stdout)
    assert "nodriver" in {b["name"] for b in data["backends"]}
    assert "agent-storage-nodriver" not in {e["plugin"] for e in data["errors"]}
    proc = run_python(site, "-m", "agent_storage.cli", "backends", "--check", "--json")
    assert proc.returncode == 0, proc.stderr
    checks = {b["name"]: b["check"] for b in json.loads(proc.stdout)["backends"]}
    assert checks["nodriver"]["ok"] is False
    assert "nodriver_store.store:NoDriverBackend" in checks["nodriver"]["error"]
    assert "missing_driver_abc" in checks["nodriver"]["error"]
    # an anonymous throwaway:// (a memory subclass) is not persistent; throwaway://NAME is
    shown = checks["throwaway"].pop("capabilities")
    assert checks["throwaway"] == {"ok": True, "options": ["flavour"]}
    assert "persistent (not throwaway://)" in shown
    assert [c.partition(" (")[0] for c in shown] == sorted(MemoryBackend.capabilities)
    proc = run_python(site, "-m", "agent_storage.cli", "threads", "nodriver://x")
    assert proc.returncode == 1
    assert proc.stderr.startswith("agent-storage: error: UnknownBackendError: ")
    assert "missing_driver_abc" in proc.stderr and "Traceback" not in proc.stderr


def test_conformance_kit_runs_against_the_installed_plugin(site: Path) -> None:
    proc = run_python(site, "-m", "agent_storage.cli", "check", "throwaway://kit", "--",
                      "-q", "-x", "-k", "scores")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout


def test_duplicate_scheme_from_two_distributions_names_both(dup_site: Path) -> None:
    code = textwrap.dedent("""\
        from agent_storage import open_store, DuplicateSchemeError
        try:
            open_store("dupe://x")
        except DuplicateSchemeError as e:
            print("refused:", e)
        for scheme in ("dupeone",):
            print("works:", type(open_store(scheme + "://x").backend).__name__)
        """)
    proc = run_python(dup_site, "-c", code)
    assert proc.returncode == 0, proc.stderr
    refused = proc.stdout.splitlines()[0]
    assert refused.startswith("refused: scheme 'dupe' is registered by both")
    assert "agent-storage-dupe-one" in refused and "agent-storage-dupe-two" in refused
    assert "works: MemoryBackend" in proc.stdout
    proc = run_python(dup_site, "-m", "agent_storage.cli", "init", "dupe://x")
    assert proc.returncode == 1
    assert proc.stderr.startswith("agent-storage: error: DuplicateSchemeError: ")
    assert "agent-storage-dupe-one" in proc.stderr and "agent-storage-dupe-two" in proc.stderr
    out = run_python(dup_site, "-m", "agent_storage.cli", "backends").stdout
    assert "DuplicateSchemeError" in out


def test_package_version_matches_distribution() -> None:
    from importlib.metadata import version

    assert agent_storage.__version__ == version("agent-storage")
