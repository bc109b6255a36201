"""The dashboard's HTML: the page once, then the live fragment htmx swaps in every refresh.

Everything that comes from a sidecar or a file is escaped here (``_e``), the only place text
becomes HTML; the fixed markup around it is ours.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import quote

from pydapr.dashboard.model import ControlPlaneView, Job, SidecarView, Snapshot, Workflow
from pydapr.dashboard.nextrun import until

REFRESH = "2s"  # htmx's polling period (hx-trigger="every 2s")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _time(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if at is not None else ""


def _table(heads: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """A table of already-escaped cells, or the ``empty`` sentence (plain text) when no row."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in heads)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(key: str, title: str, content: str) -> str:
    return f'<section id="{key}"><h2>{_e(title)}</h2>{content}</section>'


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{_e(text)}</span>'


def _problem(app: SidecarView, what: str, error: str) -> list[str]:
    return [_e(app.instance.app_id), f'<span class="problem">{_e(what)} unavailable: {_e(error)}</span>']


# --- sections ---------------------------------------------------------------------------------------


def _control_plane(cp: ControlPlaneView | None) -> str:
    if cp is None:
        return _section(
            "control-plane", "Control plane", '<p class="empty">No control plane (pydapr run starts one).</p>'
        )
    rows = [
        [_e(s.name), _e(s.address), _badge("up", "ok") if s.up and cp.running else _badge("down", "bad")]
        for s in cp.services
    ]
    process = f"pid {cp.pid}, " + ("running" if cp.running else "not running") + f", started {cp.started_at}"
    return _section(
        "control-plane",
        "Control plane",
        f'<p class="note">{_e(process)}</p>' + _table(["Service", "Address", "Status"], rows, "No services."),
    )


_HEALTH = {"healthy": "ok", "unhealthy": "bad", "unreachable": "bad"}


def _apps(apps: list[SidecarView]) -> str:
    rows = []
    for app in apps:
        i = app.instance
        health = _badge(app.health, _HEALTH.get(app.health, "bad"))
        if app.health_detail:
            health += f' <span class="note">{_e(app.health_detail)}</span>'
        rows.append(
            [
                f'<span class="app-id">{_e(i.app_id)}</span>',
                health,
                _e(i.http_port),
                _e(i.grpc_port),
                _e(i.app_port or ""),
                _e(i.daprd_pid),
                _e(i.app_pid or ""),
                _e(i.cli_pid or ""),
                _e(i.age),
                f"<code>{_e(i.command)}</code>" if i.command else "",
                _e(app.metadata.get("runtimeVersion", "")),
            ]
        )
    heads = ["App ID", "Health", "HTTP", "gRPC", "App port", "Sidecar PID", "App PID", "CLI PID", "Age",
             "Command", "Runtime"]  # fmt: skip
    return _section(
        "apps", "Apps and sidecars", _table(heads, rows, "No app is running (start one with pydapr run).")
    )


def _components(apps: list[SidecarView]) -> str:
    rows = []
    for app in apps:
        for c in sorted(app.listed("components"), key=lambda c: str(c.get("name", ""))):
            caps = c.get("capabilities") if isinstance(c.get("capabilities"), list) else []
            rows.append(
                [
                    _e(app.instance.app_id),
                    _e(c.get("name", "")),
                    _e(c.get("type", "")),
                    _e(c.get("version", "")),
                    " ".join(_badge(str(cap), "cap") for cap in caps or []),
                ]
            )
    return _section(
        "components",
        "Components",
        _table(["App ID", "Name", "Type", "Version", "Capabilities"], rows, "No component loaded."),
    )


def _routes(sub: dict[str, Any]) -> str:
    rules = sub.get("rules")
    items = rules.get("rules") if isinstance(rules, dict) else rules
    parts = []
    for rule in items if isinstance(items, list) else []:
        if isinstance(rule, dict):
            match = rule.get("match") or "default"
            parts.append(f"{_e(match)} &rarr; <code>{_e(rule.get('path', ''))}</code>")
    return "<br>".join(parts)


def _subscriptions(apps: list[SidecarView]) -> str:
    rows = []
    for app in apps:
        for s in app.listed("subscriptions"):
            rows.append(
                [
                    _e(app.instance.app_id),
                    _e(s.get("pubsubname", "")),
                    _e(s.get("topic", "")),
                    _routes(s),
                    _e(s.get("deadLetterTopic", "")),
                    _e(s.get("type", "")),
                ]
            )
    heads = ["App ID", "Pub/sub", "Topic", "Routes", "Dead-letter topic", "Type"]
    return _section("subscriptions", "Subscriptions", _table(heads, rows, "No subscription."))


def _next(job: Job, now: datetime) -> str:
    n = job.next
    if n.at is not None:
        text = f'{_e(_time(n.at))} <span class="note">({_e(until(n.at, now))})</span>'
    elif n.within:
        text = f"within {_e(n.within)}"
    else:
        text = ""
    if n.note:
        text += f' <span class="note">{_e(n.note)}</span>'
    return text


def _jobs(apps: list[SidecarView], now: datetime) -> str:
    rows = []
    for app in apps:
        if app.jobs.error:
            rows.append([*_problem(app, "jobs", app.jobs.error), "", "", "", ""])
        for job in app.jobs.items:
            rows.append(
                [
                    _e(app.instance.app_id),
                    f'<span class="job">{_e(job.name)}</span>',
                    _e(job.schedule),
                    _e(job.due_time),
                    _e("" if job.repeats is None else job.repeats),
                    _next(job, now),
                ]
            )
    heads = ["App ID", "Job", "Schedule", "Due time", "Repeats", "Next run"]
    return _section("jobs", "Jobs", _table(heads, rows, "No job scheduled."))


def _actors(apps: list[SidecarView]) -> str:
    rows = []
    for app in apps:
        runtime = app.metadata.get("actorRuntime")
        runtime = runtime if isinstance(runtime, dict) else {}
        placement = str(runtime.get("placement", ""))
        types = runtime.get("activeActors") if isinstance(runtime.get("activeActors"), list) else None
        # Dapr's metadata has the hosted types under actorRuntime.activeActors; older ones: actors.
        entries = [a for a in (types or app.listed("actors")) if isinstance(a, dict)]
        for a in entries:
            rows.append(
                [_e(a.get("type", "")), _e(app.instance.app_id), _e(a.get("count", 0)), _e(placement)]
            )
    rows.sort(key=lambda r: (r[0], r[1]))
    return _section(
        "actors",
        "Actors",
        _table(["Actor type", "Host (app)", "Active", "Placement"], rows, "No actor type hosted."),
    )


def _workflow_row(app: SidecarView, wf: Workflow) -> list[str]:
    status = _badge(wf.status, {"COMPLETED": "ok", "RUNNING": "run", "PENDING": "run"}.get(wf.status, "bad"))
    if wf.failure:
        status += f' <span class="note">{_e(wf.failure)}</span>'
    return [_e(app.instance.app_id), _e(wf.instance_id), _e(wf.name), status, _e(_time(wf.created)),
            _e(_time(wf.updated))]  # fmt: skip


def _workflows(apps: list[SidecarView]) -> str:
    rows = []
    for app in apps:
        if app.workflows.error:
            rows.append([*_problem(app, "workflows", app.workflows.error), "", "", "", ""])
        rows += [_workflow_row(app, wf) for wf in app.workflows.items]
        if app.workflows.more:
            rows.append([_e(app.instance.app_id), '<span class="note">more instances not shown</span>',
                         "", "", "", ""])  # fmt: skip
    heads = ["App ID", "Instance", "Workflow", "Status", "Created", "Updated"]
    return _section("workflows", "Workflows", _table(heads, rows, "No workflow instance."))


def _metadata(apps: list[SidecarView]) -> str:
    rows = []
    for app in apps:
        m = app.metadata
        conn = m.get("appConnectionProperties") if isinstance(m.get("appConnectionProperties"), dict) else {}
        assert isinstance(conn, dict)
        scheduler = m.get("scheduler") if isinstance(m.get("scheduler"), dict) else {}
        assert isinstance(scheduler, dict)
        features = m.get("enabledFeatures") if isinstance(m.get("enabledFeatures"), list) else []
        endpoints = [str(h.get("name", "")) for h in app.listed("httpEndpoints")]
        extended = m.get("extended") if isinstance(m.get("extended"), dict) else {}
        link = "/apps/" + quote(app.instance.app_id, safe="") + "/metadata"
        rows.append(
            [
                _e(app.instance.app_id),
                _e(f"{conn.get('protocol', '')} {conn.get('channelAddress', '')}".strip()),
                _e(", ".join(str(f) for f in features or [])),
                _e(", ".join(endpoints)),
                _e(", ".join(str(a) for a in scheduler.get("connected_addresses", []) or [])),
                _e(", ".join(f"{k}={v}" for k, v in sorted((extended or {}).items()))),
                f'<a href="{_e(link)}">JSON</a>' if m else '<span class="note">no answer</span>',
            ]
        )
    heads = ["App ID", "App channel", "Features", "HTTP endpoints", "Scheduler", "Extended", "Raw"]
    return _section("metadata", "Sidecar metadata", _table(heads, rows, "No sidecar."))


# --- the fragment and the page ---------------------------------------------------------------------


def fragment(snap: Snapshot) -> str:
    """Everything that changes, as one block: what htmx swaps into the page every refresh."""
    now = snap.taken_at
    parts = []
    if snap.error:
        parts.append(f'<p class="problem">{_e(snap.error)}</p>')
    parts += [
        _apps(snap.apps),
        _control_plane(snap.control_plane),
        _components(snap.apps),
        _subscriptions(snap.apps),
        _jobs(snap.apps, now),
        _actors(snap.apps),
        _workflows(snap.apps),
        _metadata(snap.apps),
        f"<footer>Refreshed {_e(_time(now))} in {snap.elapsed * 1000:.0f} ms, every {_e(REFRESH)} "
        f"&middot; pydapr home {_e(snap.home)}</footer>",
    ]
    return "".join(parts)


def error_fragment(message: str) -> str:
    return f'<p class="problem">{_e(message)}</p>'


_PAGE: Template | None = None


def page(body: str) -> str:
    """The whole page around a first fragment (so it shows data before any script runs)."""
    global _PAGE
    if _PAGE is None:
        _PAGE = Template(resources.files("pydapr.dashboard").joinpath("templates/page.html").read_text())
    return _PAGE.substitute(fragment=body, refresh=_e(REFRESH))
