"""Regenerates scheduler_pb2*.py from scheduler.proto.

The gencode must be generated for the lowest protobuf and grpcio pyproject.toml admits: protobuf's
gencode refuses to import under a runtime older than the protoc that wrote it (VersionError), and
grpc's ``*_pb2_grpc.py`` under a grpcio older than the grpcio-tools that wrote it. So generate with
the grpcio-tools release whose protoc is that protobuf, in a throwaway venv (from the repository root)::

    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install grpcio-tools==1.76.0  # protoc of protobuf 6.31.1
    PYTHONPATH=src /tmp/gen/bin/python -m pydapr.scheduler._proto.generate
    PYTHONPATH=src /tmp/gen/bin/python -m pydapr.api.grpc._ext.generate

``main`` fails when the generated files name another protobuf version than pyproject's lower bound.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def generate(protos: list[Path]) -> int:
    """Runs protoc on ``protos`` (files under src/pydapr), then checks the result against pyproject."""
    import grpc_tools
    from grpc_tools import protoc

    src = Path(__file__).resolve().parents[3]  # .../src, so the generated imports are package-qualified
    include = Path(grpc_tools.__file__).parent / "_proto"
    status: int = protoc.main(
        [
            "protoc",
            f"-I{src}",
            f"-I{include}",
            f"--python_out={src}",
            f"--pyi_out={src}",
            f"--grpc_python_out={src}",
            *(str(p.relative_to(src)) for p in protos),
        ]
    )
    if status:
        return status
    return check_floor([p.with_name(p.stem + "_pb2.py") for p in protos], src.parent / "pyproject.toml")


def check_floor(generated: list[Path], pyproject: Path) -> int:
    """0 when every file was generated for exactly the lowest protobuf pyproject declares."""
    deps: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    spec = next(d for d in deps if re.match(r"protobuf\b", d))
    floor = re.search(r">=\s*([\d.]+)", spec)
    status = 0
    for path in generated:
        found = re.search(r"^# Protobuf Python Version: (\S+)", path.read_text(), re.M)
        version = found.group(1) if found else "unknown"
        if floor is None or version != floor.group(1):
            print(
                f"{path.name}: generated for protobuf {version}, but pyproject admits {spec!r}: regenerate"
                " with the grpcio-tools whose protoc is that lower bound (see this module's docstring)",
                file=sys.stderr,
            )
            status = 1
    return status


def main() -> int:
    return generate([Path(__file__).resolve().parent / "scheduler.proto"])


if __name__ == "__main__":
    sys.exit(main())
