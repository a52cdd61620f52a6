"""A real StateGraph stops at ``interrupt()``; its process ends; a new process resumes it
from the store (a SQLite file, and PostgreSQL) and finishes with the human's answer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

GRAPH = '''
import asyncio, json, sys
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agent_storage.integrations.langgraph import AgentStorageSaver


class State(TypedDict, total=False):
    question: str
    answer: str
    steps: list


def ask(state: State) -> State:
    answer = interrupt({"question": state["question"]})  # the process may end here
    return {"answer": answer, "steps": state.get("steps", []) + ["ask"]}


def finish(state: State) -> State:
    return {"answer": state["answer"].upper(), "steps": state["steps"] + ["finish"]}


builder = StateGraph(State)
builder.add_node("ask", ask)
builder.add_node("finish", finish)
builder.add_edge(START, "ask")
builder.add_edge("ask", "finish")
builder.add_edge("finish", END)

url, phase, mode = sys.argv[1], sys.argv[2], sys.argv[3]
config = {"configurable": {"thread_id": "trip-42"}}
graph = builder.compile(checkpointer=AgentStorageSaver.from_url(url))
arg = {"question": "Which city?", "steps": []} if phase == "start" else Command(resume="lisbon")
if mode == "async":
    result = asyncio.run(graph.ainvoke(arg, config))
else:
    result = graph.invoke(arg, config)
interrupts = [i.value for i in result.get("__interrupt__", ())]
state = graph.get_state(config)
print(json.dumps({"answer": result.get("answer"), "interrupts": interrupts,
                  "next": list(state.next), "history": len(list(graph.get_state_history(config)))}))
'''


def _run(script: Path, url: str, phase: str, mode: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, str(script), url, phase, mode], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "mode"), [("sqlite", "sync"), ("pg", "async")])
def test_interrupted_graph_resumes_in_a_new_process(
    backend: str, mode: str, url_factory: Callable[[str], str], tmp_path: Path,
) -> None:
    script = tmp_path / "graph.py"
    script.write_text(GRAPH, encoding="utf-8")
    url = url_factory(backend)

    first = _run(script, url, "start", mode)
    assert first["interrupts"] == [{"question": "Which city?"}]
    assert first["next"] == ["ask"] and first["answer"] is None

    second = _run(script, url, "resume", mode)
    assert second["answer"] == "LISBON"
    assert second["interrupts"] == [] and second["next"] == []
    assert second["history"] > first["history"]  # the first run's checkpoints are kept
