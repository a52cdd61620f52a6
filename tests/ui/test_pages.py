"""Every page of the viewer in headless Chromium: loads, shows the demo, no console error."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from . import _data
from .conftest import Server, Tab


def _pages(ids: dict[str, str]) -> dict[str, tuple[str, str]]:
    """name -> (path, a text the page must show)."""
    return {
        "threads": ("/threads", "Weather in Paris"),
        "conversation": (f"/thread?id={ids['thread']}", "18 °C and cloudy in Paris"),
        "runs": ("/runs", ids["run"]),
        "run": (f"/run?workflow={ids['workflow']}&id={ids['run']}", "summarize"),
        "scores": ("/scores", "answer-relevancy"),
        "traces": ("/traces", ids["trace"]),
        "trace": (f"/trace?id={ids['trace']}", "tool.get_weather"),
        "trace-deep": (f"/trace?id={_data.DEEP_TRACE}", "deep.http"),
        "agents": ("/agents", _data.AGENT_ID),
        "agent": (f"/agent?id={_data.AGENT_ID}", "large-model"),
        "status": ("/status", "schema version"),
    }


PAGE_NAMES = list(_pages({"thread": "", "run": "", "workflow": "", "trace": ""}))


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_page_loads_without_console_errors(
    server: Server, tab: Tab, demo_ids: dict[str, str], name: str
) -> None:
    path, expected = _pages(demo_ids)[name]
    tab.visit(server.url(path))
    assert expected in tab.page.inner_text("main")
    tab.shot(name)
    assert tab.errors == []


def test_root_redirects_to_threads(server: Server, tab: Tab) -> None:
    tab.visit(server.url("/"))
    assert tab.page.url.endswith("/threads")


def test_waterfall_draws_one_bar_per_span_nested_by_parent(server: Server, tab: Tab) -> None:
    tab.visit(server.url(f"/trace?id={_data.DEEP_TRACE}"))
    bars = tab.page.locator("#waterfall rect.bar")
    assert bars.count() == len(_data.DEEP_SPANS)
    rows = tab.page.locator("#waterfall details.wf-row")
    order = [rows.nth(i).get_attribute("data-span-id") for i in range(rows.count())]
    # depth-first: every span right after its parent's earlier siblings' subtrees
    assert order == ["run", "plan", "llm-a", "act", "tool-a", "http", "tool-b", "done"]
    boxes = {}
    for i in range(bars.count()):
        bar = bars.nth(i)
        span_id = bar.get_attribute("data-span-id")
        parent, depth = _data.DEEP_SPANS[span_id]
        assert int(bar.get_attribute("data-depth")) == depth, span_id
        boxes[span_id] = bar.bounding_box()
    name_box = {sid: tab.page.locator(f'details[data-span-id="{sid}"] .wf-name').bounding_box()
                for sid in _data.DEEP_SPANS}
    for sid, (parent, _) in _data.DEEP_SPANS.items():
        if parent is None:
            continue
        # drawn inside its parent's time range, and its label indented further
        assert boxes[sid]["x"] >= boxes[parent]["x"] - 0.5, sid
        assert boxes[sid]["x"] + boxes[sid]["width"] <= (
            boxes[parent]["x"] + boxes[parent]["width"] + 0.5), sid
        inner = tab.page.locator(f'details[data-span-id="{sid}"] .wf-name')
        outer = tab.page.locator(f'details[data-span-id="{parent}"] .wf-name')
        assert _padding(inner) > _padding(outer), sid
        assert name_box[sid] is not None
    # the error span is marked, and clicking a span shows its attributes
    assert "error" in (tab.page.locator('rect[data-span-id="tool-b"]').get_attribute("class"))
    tab.page.click('details[data-span-id="http"] > summary')
    detail = tab.page.locator('details[data-span-id="http"] .wf-detail')
    assert detail.is_visible()
    assert '"note": "<b>attr</b>"' in detail.inner_text()
    tab.shot("trace-deep-open")
    assert tab.errors == []


def _padding(locator: object) -> float:
    return float(locator.evaluate("e => parseFloat(getComputedStyle(e).paddingLeft)"))  # type: ignore[attr-defined]


def test_script_message_renders_as_text(server: Server, tab: Tab) -> None:
    tab.visit(server.url(f"/thread?id={_data.HOSTILE_THREAD}"))
    message = tab.page.locator('li[id="hostile-1"] .content')
    assert message.inner_text() == _data.HOSTILE_TEXT
    assert tab.page.locator("#chat script, #chat b, #chat img, main svg[onload]").count() == 0
    assert tab.page.evaluate("window.__pwned") is None
    assert tab.page.locator("h1").inner_text() == "<i>hostile</i> title"
    assert "<script>alert(1)</script>" in tab.page.inner_text("main")
    # the tool call is folded; opening it shows its JSON as text
    call = tab.page.locator('li[id="hostile-2"] details')
    assert not call.evaluate("e => e.open")
    call.locator("summary").click()
    assert "<svg onload=alert(1)>" in call.inner_text()
    tab.shot("conversation-hostile")
    assert tab.errors == []


def test_paging_reaches_the_last_thread(server: Server, tab: Tab) -> None:
    tab.visit(server.url(f"/threads?resource={_data.PAGING_USER}&order=created_at"))
    seen: list[str] = []
    for _ in range(10):
        rows = tab.page.locator("#threads tbody tr")
        seen += [rows.nth(i).get_attribute("data-thread-id") for i in range(rows.count())]
        following = tab.page.locator('a[rel="next"]')
        if following.count() == 0:
            break
        following.click()
        tab.page.wait_for_load_state("load")
    assert seen == _data.paging_thread_ids()
    assert "end of the list" in tab.page.inner_text(".pager")
    assert tab.errors == []


def test_title_filter_pages_through_matches(server: Server, tab: Tab) -> None:
    tab.visit(server.url(f"/threads?resource={_data.PAGING_USER}&title=thread+1"))
    rows = tab.page.locator("#threads tbody tr")
    ids = [rows.nth(i).get_attribute("data-thread-id") for i in range(rows.count())]
    assert ids == [f"paging-{i}" for i in range(19, 9, -1)]
    assert tab.errors == []


def test_conversation_pages_and_deep_link_opens_the_context_window(
    server: Server, tab: Tab
) -> None:
    tab.visit(server.url(f"/thread?id={_data.BIG_THREAD}"))
    assert tab.page.locator("#chat li").count() == 50
    assert "page 1 of 3" in tab.page.inner_text(".pager")
    tab.page.click('a[rel="last"]')
    tab.page.wait_for_load_state("load")
    assert tab.page.locator("#chat li").count() == _data.BIG_MESSAGES - 100
    # a link to message 75 (on page 2) from page 1: the script opens its window
    tab.visit(server.url(f"/thread?id={_data.BIG_THREAD}#{quote('big-075')}"))
    tab.page.wait_for_url("**around=big-075**")
    focus = tab.page.locator('li[id="big-075"]')
    assert "focus" in focus.get_attribute("class")
    ids = tab.page.locator("#chat li")
    assert [ids.nth(i).get_attribute("id") for i in range(ids.count())] == [
        f"big-{i:03d}" for i in range(65, 86)]
    assert tab.errors == []


def test_agent_diff_between_versions(server: Server, tab: Tab) -> None:
    tab.visit(server.url(f"/agent?id={_data.AGENT_ID}&a=1&b=2"))
    diff = tab.page.locator("#diff")
    added = [s.strip() for s in diff.locator("span.add").all_inner_texts()]
    removed = [s.strip() for s in diff.locator("span.del").all_inner_texts()]
    assert '+    "name": "large-model"' in added
    assert '-    "name": "small-model"' in removed
    assert tab.errors == []


def test_scores_chart_per_scorer(server: Server, tab: Tab) -> None:
    tab.visit(server.url("/scores?scorer=helpfulness"))
    chart = tab.page.locator('figure[data-scorer="helpfulness"]')
    assert chart.locator("rect.hbar").count() == 10
    assert "40 scores" in chart.inner_text()
    assert tab.errors == []


def test_tool_calls_are_folded_and_expand_to_json(
    server: Server, tab: Tab, demo_ids: dict[str, str]
) -> None:
    tab.visit(server.url(f"/thread?id={demo_ids['thread']}"))
    call = tab.page.locator(f'li[id="{demo_ids["thread"]}-3"] details')
    result = tab.page.locator(f'li[id="{demo_ids["thread"]}-4"] details')
    assert not call.evaluate("e => e.open") and not result.evaluate("e => e.open")
    call.locator("summary").click()
    result.locator("summary").click()
    assert '"name": "get_weather"' in call.inner_text()
    assert '"temp_c": 18' in result.inner_text()
    tab.shot("conversation-open")  # the README's picture
    assert tab.errors == []
