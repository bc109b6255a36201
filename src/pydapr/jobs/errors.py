"""The jobs API's error kinds (dapr/dapr pkg/api/errors/scheduler.go, pkg/messages/errorcodes)."""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import ErrorKind

S = rpc.StatusCode

JOB_EMPTY = ErrorKind("ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "Job is empty")
NAME_EMPTY = ErrorKind("ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "Name is empty")
SCHEDULE_EMPTY = ErrorKind("ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "Schedule is empty")
NAME_IN_BODY = ErrorKind("ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "Set the job name in the url only")

# Dapr answers HTTP 500 for every scheduler failure and passes the scheduler's gRPC code through.
SCHEDULE_JOB = ErrorKind("ERR_SCHEDULER_SCHEDULE_JOB", 500, S.INTERNAL, "failed to schedule job due to: {0}")
SCHEDULE_JOB_INVALID = ErrorKind(
    "ERR_SCHEDULER_SCHEDULE_JOB", 500, S.INVALID_ARGUMENT, "failed to schedule job due to: {0}"
)
SCHEDULE_JOB_EXISTS = ErrorKind(
    "ERR_SCHEDULER_SCHEDULE_JOB", 500, S.ALREADY_EXISTS, "failed to schedule job due to: {0}"
)
GET_JOB = ErrorKind("ERR_SCHEDULER_GET_JOB", 500, S.INTERNAL, "failed to get job due to: {0}")
DELETE_JOB = ErrorKind("ERR_SCHEDULER_DELETE_JOB", 500, S.INTERNAL, "failed to delete job due to: {0}")
LIST_JOBS = ErrorKind("ERR_SCHEDULER_LIST_JOBS", 500, S.INTERNAL, "failed to list jobs due to: {0}")

NO_SCHEDULER = "no scheduler is configured (--scheduler-host-address)"
