"""What the inspection commands print: dapr's table layout, -o json|yaml, ages, and progress that
shows on a terminal only."""

from __future__ import annotations

import io
import json
import os
import select

import pytest
import yaml

from pydapr.cli.instances import age, truncate
from pydapr.cli.output import detail, interactive, spinner, table


def test_table_pads_columns_and_leaves_out_blank_ones() -> None:
    text = table(["APP ID", "HTTP PORT", "RUN_TEMPLATE_PATH", "APP_LOG_PATH"], [
        ["orders", "3500", "", "/logs/orders_app.log"],
        ["a", "41231", "", ""],
    ])  # fmt: skip
    assert text.splitlines() == [
        "APP ID  HTTP PORT  APP LOG PATH",
        "orders  3500       /logs/orders_app.log",
        "a       41231",
    ]


def test_a_table_without_rows_keeps_its_header() -> None:
    assert table(["NAME", "STATUS"], []) == "NAME  STATUS\n"


def test_detail_json_and_yaml_keep_the_key_order() -> None:
    rows = [{"appId": "orders", "httpPort": 3500, "metricsEnabled": True}]
    assert (
        detail(rows, "json")
        == '[\n  {\n    "appId": "orders",\n    "httpPort": 3500,\n    "metricsEnabled": true\n  }\n]\n'
    )
    text = detail(rows, "yaml")
    assert text.startswith("- appId: orders\n  httpPort: 3500\n")
    assert yaml.safe_load(text) == json.loads(detail(rows, "json"))


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (60, "60s"),
        (61, "1m"),
        (3600, "60m"),
        (3601, "1h"),
        (86400, "24h"),
        (90000, "1d"),
    ],
)
def test_age_as_dapr_prints_it(seconds: float, shown: str) -> None:
    assert age(1000.0, now=1000.0 + seconds) == shown


def test_truncate_as_dapr() -> None:
    assert truncate("python app.py", 20) == "python app.py"
    assert truncate("python -m uvicorn app:app --port 8000", 20) == "python -m uvicorn..."


def test_no_progress_off_a_terminal() -> None:
    out = io.StringIO()
    with spinner("Stopping app x...", out):
        pass
    assert out.getvalue() == ""


def test_progress_on_a_terminal_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    master, replica = os.openpty()
    with os.fdopen(replica, "w") as tty:
        monkeypatch.delenv("NO_COLOR", raising=False)
        assert interactive(tty)
        with spinner("Stopping app x...", tty):
            pass
        # The frame and the erase are two writes; a pty read may return the first alone.
        drawn = ""
        while select.select([master], [], [], 2.0)[0] and not drawn.endswith("\r\033[2K"):
            drawn += os.read(master, 4096).decode()
        assert "Stopping app x..." in drawn and "\033[36m" in drawn and drawn.endswith("\r\033[2K")
        monkeypatch.setenv("NO_COLOR", "1")
        assert not interactive(tty)
    os.close(master)
