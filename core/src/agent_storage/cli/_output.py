"""Output of the ``agent-storage`` command: rich tables when available, plain text otherwise.

``rich`` is optional (extra ``agent-storage[cli]``): without it, or when stdout is not a
terminal, tables are printed as aligned plain text so that output can be piped and
grepped. ``--rich``/``--plain`` force one or the other.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

__all__ = ["Output", "cell", "message_text", "rich_available"]


def rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def cell(value: Any, *, limit: int | None = None) -> str:
    """One value as table text: datetimes in ISO form, JSON compact, None as '-'."""
    if value is None:
        text = "-"
    elif isinstance(value, _dt.datetime):
        text = value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float):
        text = str(value)
    else:
        try:
            text = json.dumps(_plain(value), ensure_ascii=False, separators=(", ", ": "))
        except (TypeError, ValueError):
            text = repr(value)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def message_text(content: Any) -> str:
    """What a message says, for printing: its text, or a summary of a tool call/result."""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        if isinstance(content.get("text"), str):
            return str(content["text"])
        calls = content.get("tool_calls")
        if isinstance(calls, list | tuple) and all(isinstance(c, Mapping) for c in calls):
            return "calls " + ", ".join(
                f"{c.get('name', '?')}({cell(c.get('arguments', {}))})" for c in calls
            )
        if "tool_call_id" in content:
            return f"result of {content['tool_call_id']}: {cell(content.get('result'))}"
    return cell(content)


def _plain(value: Any) -> Any:
    """Mappings/tuples of records into JSON-able data."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, _dt.datetime):
        return cell(value)
    return value


class Output:
    """Where a command prints. ``use_rich`` None = rich if installed and stdout is a tty."""

    def __init__(self, *, use_rich: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        if use_rich is None:
            use_rich = rich_available() and self.stream.isatty()
        self.use_rich = use_rich and rich_available()
        self._console: Any = None
        if self.use_rich:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=False)

    # -- primitives ------------------------------------------------------------------

    def write(self, text: str) -> None:
        """``text`` exactly as given (no rich markup, no wrapping): machine-readable output."""
        self.stream.write(text)

    def line(self, text: str = "") -> None:
        if self._console is not None:
            self._console.print(text, markup=False)
        else:
            print(text, file=self.stream)

    def heading(self, text: str) -> None:
        if self._console is not None:
            from rich.rule import Rule

            self._console.print()
            self._console.print(Rule(text, align="left", style="bold"))
        else:
            print(f"\n== {text} ==", file=self.stream)

    def fields(self, pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
        """``key: value`` lines."""
        items = [(k, cell(v)) for k, v in pairs]
        if title:
            self.heading(title)
        width = max((len(k) for k, _ in items), default=0)
        for key, value in items:
            if self._console is not None:
                from rich.text import Text

                self._console.print(Text(f"{key:<{width}}  ", style="bold") + Text(value))
            else:
                print(f"{key:<{width}}  {value}", file=self.stream)

    def table(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
        empty: str = "(none)",
    ) -> None:
        text_rows = [[cell(v) for v in row] for row in rows]
        if self._console is not None:
            from rich.table import Table

            table = Table(title=title, title_justify="left", title_style="bold",
                          show_lines=False)
            for name in columns:
                table.add_column(name, overflow="fold")
            for row in text_rows:
                table.add_row(*row)
            if text_rows:
                self._console.print()
                self._console.print(table)
            else:
                if title:
                    self.heading(title)
                self.line(empty)
            return
        if title:
            self.heading(title)
        if not text_rows:
            print(empty, file=self.stream)
            return
        widths = [len(c) for c in columns]
        for row in text_rows:
            for i, value in enumerate(row):
                widths[i] = max(widths[i], len(value))
        # the last column is not padded, so long content does not drag trailing spaces
        def fmt(row: Sequence[str]) -> str:
            head = [f"{v:<{w}}" for v, w in zip(row[:-1], widths[:-1], strict=True)]
            return "  ".join([*head, row[-1]]).rstrip()

        print(fmt(list(columns)), file=self.stream)
        print(fmt(["-" * w for w in widths]), file=self.stream)
        for row in text_rows:
            print(fmt(row), file=self.stream)

    def json(self, data: Any) -> None:
        print(json.dumps(_plain(data), ensure_ascii=False, indent=2), file=self.stream)
