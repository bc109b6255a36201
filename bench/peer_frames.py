"""Reading one frame of the peer connection (src/pydapr/http/_frames.py) that arrives in many reads:
time to gather a body of each size from 64 KiB reads, this checkout's framing against ``--before``'s.

    python bench/peer_frames.py [--before REV] [--repeat 5]

Each tree's ``_frames.py`` runs in its own process (``git show REV:...`` into a temporary package
for the earlier one); the figures are the first of ``--repeat`` passes (the allocator cold) and the
fastest.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = [1024, 64 * 1024, 1 << 20, 4 << 20]
READ = 64 * 1024


def _measure(repeat: int) -> None:
    from pydapr.http import _frames as f

    class Sink(f.FramedConnection):
        def frame(self, stream: int, kind: int, payload: memoryview) -> None:
            self.got = len(payload)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for size in SIZES:
            data = f.HEAD.pack(1, f.REQUEST, size) + b"x" * size
            reads = [data[i : i + READ] for i in range(0, len(data), READ)]
            times = []
            for _ in range(repeat):
                sink = Sink(loop, 1 << 30)
                started = time.perf_counter()
                for chunk in reads:
                    sink.data_received(chunk)
                times.append(time.perf_counter() - started)
                assert sink.got == size
            print(f"{size} {times[0] * 1000:.2f} {min(times) * 1000:.2f}", flush=True)

    asyncio.run(run())


def _tree_of(rev: str, where: Path) -> Path:
    pkg = where / "pydapr" / "http"
    pkg.mkdir(parents=True)
    (where / "pydapr" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:src/pydapr/http/_frames.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (pkg / "_frames.py").write_text(source)
    return where


def _run(path: Path, repeat: int) -> dict[int, tuple[float, float]]:
    here = str(Path(__file__).parent)
    code = f"import sys; sys.path.insert(0, {str(path)!r}); sys.path.insert(0, {here!r}); "
    code += f"import peer_frames; peer_frames._measure({repeat})"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return {int(a): (float(b), float(c)) for a, b, c in (line.split() for line in out.splitlines())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before", help="an earlier commit whose _frames.py to measure beside this one")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    trees = {"after": REPO / "src"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.before:
            trees = {"before": _tree_of(args.before, Path(tmp)), **trees}
        results = {label: _run(path, args.repeat) for label, path in trees.items()}
    print("| body | " + " | ".join(f"{label}: first / fastest pass (ms)" for label in results) + " |")
    print("|---|" + "---|" * len(results))
    for size in SIZES:
        cells = " | ".join(f"{r[size][0]:.2f} / {r[size][1]:.2f}" for r in results.values())
        print(f"| {size // 1024} KiB | {cells} |")


if __name__ == "__main__":
    main()
