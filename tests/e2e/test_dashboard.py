"""``pydapr dashboard`` in headless Chromium: two ``pydapr run`` apps, their component and a job on the
page, which follows an app stopping and keeps answering when a sidecar hangs.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright without its own browser download. A
screenshot of the page is kept in the test's tmp folder (its path is printed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import Proc, Processes, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

MARKUP = '<b>bold</b>&"quoted"'
WORKER = Path(__file__).parent / "workflow_apps" / "worker.py"
CHROMIUM = os.environ.get("PYDAPR_TEST_CHROMIUM", "/usr/bin/chromium")
UP = "You're up and running!"
STATE_STORE = textwrap.dedent(
    """
    apiVersion: dapr.io/v1alpha1
    kind: Component
    metadata:
      name: dashstore
    spec:
      type: state.in-memory
      version: v1
      metadata:
      - name: actorStateStore
        value: "true"
    """
)


def _require_chromium() -> None:
    # Not a skip: a machine without the browser cannot say the dashboard works.
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium (or set PYDAPR_TEST_CHROMIUM)"
        )


def _wait_output(proc: Proc, pattern: str, timeout: float = 40.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, proc.log())
        if found:
            return found
        if not proc.alive:
            break
        time.sleep(0.1)
    raise AssertionError(f"{proc.name} did not print {pattern!r}:\n{proc.log()}")


def _run_app(procs: Processes, app_id: str, resources: Path, app: list[str]) -> tuple[Proc, int]:
    http_port = free_port()
    proc = procs.spawn(
        f"run-{app_id}",
        [sys.executable, "-m", "pydapr", "run", "-a", app_id, "-H", str(http_port), "-G", str(free_port()),
         "-M", str(free_port()), "--resources-path", str(resources), "--", *app],
    )  # fmt: skip
    return proc, http_port


def _daprd_pid(home: Path, app_id: str) -> int:
    entries = list((home / "registry" / "default" / app_id).glob("*.json"))
    assert len(entries) == 1, entries
    return int(json.loads(entries[0].read_text())["pid"])


def test_dashboard_lists_apps_components_jobs_and_follows_them(procs: Processes, tmp_path: Path) -> None:
    _require_chromium()
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    # Room for a loaded machine (the suite runs three workers on two cores); a refresh is every 2 s.
    expect.set_options(timeout=15_000)

    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "statestore.yaml").write_text(STATE_STORE)
    # alpha: a workflow app of the official SDK; beta: a sidecar beside an idle app.
    alpha, alpha_port = _run_app(procs, "alpha", resources, [sys.executable, str(WORKER)])
    _wait_output(alpha, UP)
    _wait_output(alpha, "worker ready")
    idle = [sys.executable, "-c", "import time; time.sleep(600)"]
    beta, _ = _run_app(procs, "beta", resources, idle)  # after alpha: the control plane alpha started is up
    _wait_output(beta, UP)

    # Jobs through the sidecar's jobs API. One at minute 0 of every hour, so its next run is exact;
    # one whose name is markup, which the page must show as text.
    for name, spec in (("hourly-report", {"schedule": "0 0 * * * *"}), (MARKUP, {"dueTime": "1h"})):
        request = urllib.request.Request(
            f"http://127.0.0.1:{alpha_port}/v1.0-alpha1/jobs/{urllib.parse.quote(name, safe='')}",
            data=json.dumps(spec).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 204

    # One workflow that completes, one that waits for an event (running until the test ends).
    for workflow, instance, data in (
        ("greet", "dash-greet", "dashboard"),
        ("await_approval", "dash-wait", None),
    ):
        start = urllib.request.Request(
            f"http://127.0.0.1:{alpha_port}/v1.0/workflows/dapr/{workflow}/start?instanceID={instance}",
            data=json.dumps(data).encode(),
            method="POST",
        )
        with urllib.request.urlopen(start, timeout=10) as resp:
            assert resp.status == 202

    dashboard = procs.spawn(
        "dashboard", [sys.executable, "-m", "pydapr", "dashboard", "-p", str(free_port())]
    )
    url = _wait_output(dashboard, r"pydapr dashboard available at: (http://\S+)").group(1)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url + "/", timeout=15_000)
            apps, jobs = page.locator("#apps"), page.locator("#jobs")
            expect(apps.locator("tbody tr")).to_have_count(2)
            expect(apps).to_contain_text("alpha")
            expect(apps).to_contain_text("beta")
            expect(apps.locator(".badge", has_text="healthy")).to_have_count(2)
            components = page.locator("#components tbody tr", has_text="dashstore")
            expect(components).to_have_count(2)  # one per sidecar
            expect(components.first).to_contain_text("state.in-memory")
            expect(components.first).to_contain_text("ACTOR")  # a capability from the metadata
            row = jobs.locator("tbody tr", has_text="hourly-report")
            expect(row).to_contain_text("alpha")
            expect(row).to_contain_text("0 0 * * * *")
            expect(row).to_contain_text(re.compile(r":00:00Z \(in \d+m"))  # the next full hour, exact
            expect(jobs.locator("tbody tr", has_text=MARKUP)).to_contain_text("within 1h")
            expect(jobs.locator("b")).to_have_count(0)  # shown, not parsed
            expect(page.locator("#control-plane tbody tr", has_text="scheduler")).to_contain_text("up")
            workflows = page.locator("#workflows")
            expect(workflows.locator("tbody tr", has_text="dash-greet")).to_contain_text("COMPLETED")
            expect(workflows.locator("tbody tr", has_text="dash-wait")).to_contain_text("RUNNING")
            # The workflow engine's actors, hosted by alpha.
            expect(page.locator("#actors tbody tr", has_text="workflow").first).to_contain_text("alpha")
            screenshot = tmp_path / "dashboard.png"
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"dashboard screenshot: {screenshot}")

            # Ctrl-C to beta's `pydapr run`: the page, not reloaded, drops it within a refresh or two.
            beta.signal(signal.SIGINT)
            assert beta.popen.wait(20) == 0, beta.log()
            expect(apps.locator("tbody tr")).to_have_count(1)
            expect(apps).not_to_contain_text("beta")
            expect(page.locator("#components tbody tr", has_text="dashstore")).to_have_count(1)
            page.screenshot(path=str(tmp_path / "dashboard-after-stop.png"), full_page=True)

            # A hung sidecar (stopped, its sockets open) is shown as such; the refresh still answers.
            daprd = _daprd_pid(procs.home, "alpha")
            os.kill(daprd, signal.SIGSTOP)
            try:
                expect(apps.locator("tbody tr", has_text="alpha")).to_contain_text(
                    "unreachable", timeout=10_000
                )
                started = time.monotonic()
                with urllib.request.urlopen(url + "/fragment", timeout=10) as resp:
                    body = resp.read().decode()
                took = time.monotonic() - started
                assert "unreachable" in body
                # Within the page's polling period, so the page never queues refreshes behind it.
                assert took < 2.0, f"a refresh with a hung sidecar took {took:.1f}s"
            finally:
                os.kill(daprd, signal.SIGCONT)
        finally:
            browser.close()
