"""A reminder registration's ``overwrite`` and ``failure_policy``, as both APIs read them."""

from __future__ import annotations

import pytest
from google.protobuf import duration_pb2

from pydapr.actors.contract import FailurePolicy
from pydapr.actors.grpc_api import _registration_options
from pydapr.actors.http_api import _REMINDER, _failure_policy
from pydapr.api.grpc.wire import common, runtime
from pydapr.errors import DaprError

needs_options = pytest.mark.skipif(
    "failure_policy" not in runtime.RegisterActorReminderRequest.DESCRIPTOR.fields_by_name,
    reason="the installed dapr protos (before 1.17) have no overwrite / failure_policy",
)


@needs_options
def test_grpc_registration_reads_overwrite_and_the_policies() -> None:
    plain = runtime.RegisterActorReminderRequest(actor_type="T", actor_id="1", name="r")
    assert _registration_options(plain) == {}
    drop = runtime.RegisterActorReminderRequest(
        name="r", overwrite=False, failure_policy=common.JobFailurePolicy(drop=common.JobFailurePolicyDrop())
    )
    assert _registration_options(drop) == {"overwrite": False, "failure_policy": FailurePolicy(drop=True)}
    constant = common.JobFailurePolicyConstant(interval=duration_pb2.Duration(seconds=2, nanos=500_000_000))
    constant.max_retries = 4
    req = runtime.RegisterActorReminderRequest(
        name="r", failure_policy=common.JobFailurePolicy(constant=constant)
    )
    assert _registration_options(req) == {"failure_policy": FailurePolicy(interval=2.5, max_retries=4)}


def test_http_registration_reads_overwrite_and_the_policies() -> None:
    body = _REMINDER.decode(b'{"period": "1s", "overwrite": false, "failure_policy": {"drop": {}}}')
    assert body is not None and body.overwrite is False
    assert _failure_policy(body.failure_policy) == FailurePolicy(drop=True)
    body = _REMINDER.decode(b'{"failure_policy": {"constant": {"interval": "1.5s", "maxRetries": 3}}}')
    assert body is not None and body.overwrite is True
    assert _failure_policy(body.failure_policy) == FailurePolicy(interval=1.5, max_retries=3)
    body = _REMINDER.decode(b'{"failure_policy": {"constant": {"interval": "soon"}}}')
    assert body is not None
    with pytest.raises(DaprError) as err:
        _failure_policy(body.failure_policy)
    assert (
        err.value.code == "ERR_MALFORMED_REQUEST" and "failure_policy.constant.interval" in err.value.message
    )
    body = _REMINDER.decode(b'{"failure_policy": {"sometimes": {}}}')
    assert body is not None
    with pytest.raises(DaprError, match="neither drop nor constant"):
        _failure_policy(body.failure_policy)
