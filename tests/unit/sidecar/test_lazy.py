"""Parts built on first use: ``OnFirstUse``, and what a sidecar without actors, workflows or jobs
does not import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pydapr.sidecar.lazy import OnFirstUse


class _Part:
    def __init__(self) -> None:
        self.value = 1

    def double(self) -> int:
        return self.value * 2


def test_the_part_is_built_on_the_first_attribute_and_only_once() -> None:
    built: list[_Part] = []

    def build() -> _Part:
        if not built:
            built.append(_Part())
        return built[0]

    stand_in: _Part = OnFirstUse(build)  # type: ignore[assignment]
    assert built == []
    assert stand_in.double() == 2
    assert len(built) == 1
    stand_in.value = 5  # a set goes to the part too
    assert built[0].value == 5
    assert stand_in.double() == 10
    assert len(built) == 1


def test_a_missing_attribute_is_the_parts_error() -> None:
    stand_in = OnFirstUse(_Part)
    with pytest.raises(AttributeError, match="nope"):
        stand_in.nope  # noqa: B018


@pytest.mark.timeout(60)
def test_blocks_and_their_transports_leave_the_runtimes_unimported() -> None:
    # What every sidecar imports for the actors, workflows and jobs blocks (their HTTP and gRPC
    # handlers included); the actor runtime, the workflow engine and the scheduler's client wait
    # for their first use.
    code = """
import sys
import pydapr.actors.block, pydapr.actors.http_api, pydapr.actors.grpc_api
import pydapr.workflows.block, pydapr.workflows.http_api, pydapr.workflows.grpc_service
import pydapr.jobs.block
for name in ("pydapr.actors.api", "pydapr.actors.host", "pydapr.actors.periods",
             "pydapr.workflows.engine", "pydapr.workflows.history", "pydapr.workflows.rerun",
             "pydapr.jobs.client", "pydapr.jobs.schedule"):
    print(name, name in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50, check=True)
    assert [line for line in out.stdout.splitlines() if line.endswith("True")] == []
