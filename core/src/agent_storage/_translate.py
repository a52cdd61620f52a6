"""Error translation: the one boundary where a driver's exception becomes a typed error."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import AgentStorageError, BackendError

__all__ = ["ErrorRule", "translate_error"]

#: ``(driver exception class or classes, AgentStorageError subclass)``; first match wins.
ErrorRule = tuple[type[BaseException] | tuple[type[BaseException], ...], type[AgentStorageError]]


def translate_error(
    exc: BaseException,
    rules: Sequence[ErrorRule] = (),
    *,
    secrets: Iterable[str | None] = (),
) -> AgentStorageError:
    """Map ``exc`` to an AgentStorageError (raise it ``from exc`` to keep the cause).

    An AgentStorageError is returned unchanged. Otherwise the first rule whose exception
    class matches decides the error class (default :class:`BackendError`; use
    :class:`~agent_storage.errors.TransientBackendError` for failures a retry may cure).
    The message is ``"ExceptionType: text"`` with every non-empty string of ``secrets``
    (passwords, keys) replaced by ``***``.

    A backend calls it in one place: its domains' ``_translate_error`` hook, which the
    public domain methods call for any non-AgentStorageError escaping a primitive.
    """
    if isinstance(exc, AgentStorageError):
        return exc
    cls: type[AgentStorageError] = BackendError
    for kinds, target in rules:
        if isinstance(exc, kinds):
            cls = target
            break
    text = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return cls(text)
