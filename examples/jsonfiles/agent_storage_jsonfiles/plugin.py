"""The plugin module named by the entry point: registers the backend by dotted path."""

from agent_storage.spi import RegisterBackend, hookimpl


@hookimpl
def register_backends(register: RegisterBackend) -> None:
    register("jsonfiles", "agent_storage_jsonfiles.store:JsonFilesBackend",
             schemes=("jsonfiles",), version="0.1.0")
