"""Message metadata as daprd's app channel sends it: which keys become headers / gRPC metadata."""

from __future__ import annotations

from pydapr.api.app_metadata import grpc_metadata, http_headers


def test_http_headers_as_daprd_writes_them() -> None:
    headers = http_headers(
        {
            "pubsubName": "pubsub",
            "Content-Type": "text/plain",
            "content-length": "3",
            "Connection": "close",
            "grpc-timeout": "1S",
            ":authority": "x",
            "trace-bin": "b",
            "partitionKey": "p",
            "bad": "a\nb",
            "traceparent": "00-1-2-01",
        }
    )
    assert headers == [
        ("pubsubname", "pubsub"),
        ("dapr-grpc-timeout", "1S"),
        ("dapr-authority", "x"),
        ("partitionkey", "p"),
        ("traceparent", "00-1-2-01"),
    ]


def test_grpc_metadata_as_daprd_sends_it() -> None:
    md = grpc_metadata(
        {"pubsubName": "pubsub", "content-type": "x", "key-bin": "raw", "grpc-x": "1", "café": "v", "k": "é"}
    )
    assert md == [("pubsubname", "pubsub"), ("key-bin", b"raw")]
