"""Stream encryption throughput: a pydapr sidecar (gRPC EncryptAlpha1/DecryptAlpha1) vs the
``cryptography`` library directly, same cipher, same run, plus the sidecar's peak RSS.

The payload (default 100 MiB of random bytes) is encrypted and then decrypted:

- ``direct``: AES-GCM (or ChaCha20-Poly1305) from ``cryptography`` in this process, 64 KiB segment
  by segment as the ``dapr.io/enc/v1`` scheme cuts it (the cryptographic work alone);
- ``sdk``: the official SDK's ``DaprClient().encrypt/decrypt`` (it sends 2 KiB messages);
- ``stub``: the raw gRPC stub sending 64 KiB messages (the sidecar's cost without the SDK's chunking).

The sidecar's VmHWM (/proc/<pid>/status) is read after startup and after all runs: the growth shows
whether the stream was held in memory (it should not be: one segment at a time).

Run: ``python bench/crypto_stream.py`` (``--size-mib 100 --cipher aes-gcm``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from dapr.clients import DaprClient
from dapr.clients.grpc._crypto import DecryptOptions, EncryptOptions
from dapr.conf import settings
from dapr.proto.runtime.v1 import dapr_pb2_grpc

from pydapr.api.grpc.wire import common, runtime

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Procs, free_ports, machine, wait_status

SEGMENT = 64 * 1024
MIB = 1024 * 1024
COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: benchcrypto
spec:
  type: crypto.dapr.localstorage
  version: v1
  metadata:
  - name: path
    value: {keys}
"""


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def direct(data: bytes, cipher: str) -> tuple[float, float]:
    key, prefix = os.urandom(32), os.urandom(7)
    aead = AESGCM(key) if cipher == "aes-gcm" else ChaCha20Poly1305(key)
    count = -(-len(data) // SEGMENT)

    def nonce(i: int) -> bytes:
        return prefix + i.to_bytes(4, "big") + (b"\1" if i == count - 1 else b"\0")

    t0 = time.perf_counter()
    sealed = [aead.encrypt(nonce(i), data[i * SEGMENT : (i + 1) * SEGMENT], None) for i in range(count)]
    t1 = time.perf_counter()
    opened = b"".join(aead.decrypt(nonce(i), seg, None) for i, seg in enumerate(sealed))
    t2 = time.perf_counter()
    assert opened == data
    return t1 - t0, t2 - t1


def sdk(data: bytes, cipher: str) -> tuple[float, float]:
    opts = EncryptOptions("benchcrypto", "aes-key", "AES", data_encryption_cipher=cipher)
    with DaprClient() as client:
        t0 = time.perf_counter()
        encrypted = client.encrypt(data=data, options=opts).read()
        t1 = time.perf_counter()
        decrypted = client.decrypt(data=encrypted, options=DecryptOptions("benchcrypto")).read()
        t2 = time.perf_counter()
    assert decrypted == data
    return t1 - t0, t2 - t1


def _requests(kind: str, data: bytes, options: Any) -> Iterator[Any]:
    request = runtime.EncryptRequest if kind == "encrypt" else runtime.DecryptRequest
    for seq, start in enumerate(range(0, len(data), SEGMENT)):
        payload = common.StreamPayload(data=data[start : start + SEGMENT], seq=seq)
        yield request(payload=payload, options=options) if seq == 0 else request(payload=payload)


def stub(data: bytes, cipher: str, grpc_port: int) -> tuple[float, float]:
    enc_opts = runtime.EncryptRequestOptions(
        component_name="benchcrypto", key_name="aes-key", key_wrap_algorithm="AES"
    )
    enc_opts.data_encryption_cipher = cipher
    dec_opts = runtime.DecryptRequestOptions(component_name="benchcrypto")
    limits = [("grpc.max_receive_message_length", 4 * MIB)]
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=limits) as channel:
        dapr = dapr_pb2_grpc.DaprStub(channel)
        t0 = time.perf_counter()
        responses = dapr.EncryptAlpha1(_requests("encrypt", data, enc_opts))
        encrypted = b"".join(r.payload.data for r in responses)
        t1 = time.perf_counter()
        responses = dapr.DecryptAlpha1(_requests("decrypt", encrypted, dec_opts))
        decrypted = b"".join(r.payload.data for r in responses)
        t2 = time.perf_counter()
    assert decrypted == data
    return t1 - t0, t2 - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=100)
    parser.add_argument("--cipher", choices=["aes-gcm", "chacha20-poly1305"], default="aes-gcm")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)  # the SDK's "alpha API" warning on every call

    data = os.urandom(args.size_mib * MIB)
    with tempfile.TemporaryDirectory() as tmp, Procs() as procs:
        keys, resources = Path(tmp, "keys"), Path(tmp, "resources")
        keys.mkdir()
        resources.mkdir()
        (keys / "aes-key").write_bytes(os.urandom(32))
        (resources / "crypto.yaml").write_text(COMPONENT.format(keys=keys))
        http_port, grpc_port, metrics_port = free_ports(3)
        cmd = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", "bench-crypto"]
        cmd += ["--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port)]
        cmd += ["--metrics-port", str(metrics_port), "--resources-path", str(resources)]
        cmd += ["--log-level", "warn"]
        env = {**os.environ, "PYDAPR_HOME": tmp}
        sidecar: subprocess.Popen[bytes] = procs.spawn(cmd, env)
        wait_status(http_port, "/v1.0/healthz/outbound", proc=sidecar)
        settings.DAPR_HTTP_PORT, settings.DAPR_GRPC_PORT = http_port, grpc_port
        settings.DAPR_RUNTIME_HOST = "127.0.0.1"
        hwm_start = vm_hwm_kib(sidecar.pid)

        runs = {
            "direct (cryptography, in process)": lambda: direct(data, args.cipher),
            "sidecar, SDK DaprClient (2 KiB messages)": lambda: sdk(data, args.cipher),
            "sidecar, raw gRPC stub (64 KiB messages)": lambda: stub(data, args.cipher, grpc_port),
        }
        results: dict[str, tuple[float, float, int]] = {}
        for name, run in runs.items():
            enc, dec = run()
            results[name] = (enc, dec, vm_hwm_kib(sidecar.pid))
        hwm_end = vm_hwm_kib(sidecar.pid)

    print(f"# {machine()}; Python {sys.version.split()[0]}; {args.size_mib} MiB, {args.cipher}")
    print("| path | encrypt MiB/s | decrypt MiB/s | sidecar VmHWM after |")
    print("|---|---|---|---|")
    for name, (enc, dec, hwm) in results.items():
        print(f"| {name} | {args.size_mib / enc:,.0f} | {args.size_mib / dec:,.0f} | {hwm / 1024:.1f} MiB |")
    print(
        f"sidecar VmHWM: {hwm_start / 1024:.1f} MiB after startup, {hwm_end / 1024:.1f} MiB after the runs "
        f"(+{(hwm_end - hwm_start) / 1024:.1f} MiB while {4 * args.size_mib} MiB streamed through it)"
    )


if __name__ == "__main__":
    main()
