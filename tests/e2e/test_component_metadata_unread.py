"""A component's metadata that nothing reads is a setting pydapr does not apply: the sidecar names it
in one startup warning per component, and says nothing of what the component or the runtime applies."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.e2e.harness import Processes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(textwrap.dedent(text).lstrip())


def test_metadata_nothing_reads_is_named_at_startup(procs: Processes, tmp_path: Path) -> None:
    res = tmp_path / "res"
    res.mkdir()
    # go-redis options pydapr's Redis store does not take, beside ones it does.
    _write(res, "cache.yaml", """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: cache
        spec:
          type: state.redis
          version: v1
          metadata:
          - name: redisHost
            value: 127.0.0.1:6379
          - name: redisPassword
            value: ""
          - name: ReadTimeout
            value: 3s
          - name: maxRetries
            value: "3"
    """)
    # Keys the runtime applies, not the component: none of them is named.
    _write(res, "store.yaml", f"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: statestore
        spec:
          type: state.sqlite
          version: v1
          metadata:
          - name: connectionString
            value: {tmp_path / "state.db"}
          - name: actorStateStore
            value: "true"
          - name: keyPrefix
            value: name
    """)
    _write(res, "pubsub.yaml", """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: pubsub
        spec:
          type: pubsub.in-memory
          version: v1
          metadata:
          - name: allowedTopics
            value: orders
          - name: publishingScopes
            value: "unread=orders"
    """)
    _write(res, "files.yaml", f"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: files
        spec:
          type: bindings.localstorage
          version: v1
          metadata:
          - name: rootPath
            value: {tmp_path / "files"}
          - name: direction
            value: output
    """)
    sidecar = procs.sidecar("unread", resources=res)
    log = sidecar.log()
    warnings = re.findall(r"metadata [^\"]* (?:is|are) not applied by pydapr", log)
    assert warnings == ["metadata ReadTimeout, maxRetries are not applied by pydapr"], log
    assert 'Component \\"cache\\" (state.redis/v1): metadata ReadTimeout, maxRetries' in log, log
