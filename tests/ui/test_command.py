"""``agent-storage ui`` on the command line: usage errors and a port already taken."""

from __future__ import annotations

import socket

import pytest
from agent_storage.cli import main


def test_bad_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "memory://", "--port", "70000"]) == 2
    assert "port number" in capsys.readouterr().err


def test_port_in_use_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["ui", "memory://", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err
