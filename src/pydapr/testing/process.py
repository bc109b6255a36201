"""A child process of a test: its own process group, its output in a file, always ended.

``stop`` sends SIGTERM to the whole group, waits a bounded time, then SIGKILLs the group, so an
app's own children (uvicorn's workers, a shell's commands) end with it. On Linux the child also
gets SIGTERM if the test process itself dies (``kill -9`` of pytest), so nothing outlives a run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# The same hook `pydapr run` gives its children: SIGTERM when their parent dies (Linux).
from pydapr.cli.process import _parent_death_signal


class Child:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str],
        cwd: Path | str | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("wb") as log_file:
            self.popen = subprocess.Popen(
                list(argv),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                # The hook only calls prctl, getppid and kill: no lock another thread could hold.
                preexec_fn=_parent_death_signal(),  # noqa: PLW1509
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, grace: float) -> int:
        """SIGTERM, up to ``grace`` seconds, then SIGKILL; the group's stragglers are killed either way."""
        if self.alive:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait()
        self._signal_group(signal.SIGKILL)
        return int(self.popen.returncode)

    def _signal_group(self, sig: int) -> None:
        # The group id is the child's pid (start_new_session); it outlives the child while any
        # member is alive, and is gone (ProcessLookupError) once none is.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)
