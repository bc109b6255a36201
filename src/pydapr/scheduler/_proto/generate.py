"""Regenerates scheduler_pb2*.py from scheduler.proto (needs grpcio-tools): ``python -m pydapr.scheduler._proto.generate``."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    import grpc_tools
    from grpc_tools import protoc

    here = Path(__file__).resolve().parent
    src = here.parents[2]  # .../src, so the generated imports are package-qualified
    include = Path(grpc_tools.__file__).parent / "_proto"
    rel = here.relative_to(src) / "scheduler.proto"
    return protoc.main(
        [
            "protoc",
            f"-I{src}",
            f"-I{include}",
            f"--python_out={src}",
            f"--pyi_out={src}",
            f"--grpc_python_out={src}",
            str(rel),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
