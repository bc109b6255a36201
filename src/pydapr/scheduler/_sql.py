"""SQL shared by the SQLite and PostgreSQL stores; placeholders ``$1`` are rewritten for SQLite."""

from __future__ import annotations

JOB_COLUMNS = (
    "namespace, app_id, name, uid, part, spec, begin_at, begin_is_due, expires_at, next_at, occ_at, "
    "count, attempts"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS pydapr_scheduler_jobs (
    namespace TEXT NOT NULL,
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    part INTEGER NOT NULL,
    spec {blob} NOT NULL,
    begin_at {float} NOT NULL,
    begin_is_due BOOLEAN NOT NULL,
    expires_at {float},
    next_at {float},
    occ_at {float},
    count INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, app_id, name)
);
CREATE INDEX IF NOT EXISTS pydapr_scheduler_jobs_due ON pydapr_scheduler_jobs (part, next_at);
CREATE TABLE IF NOT EXISTS pydapr_scheduler_leases (
    part INTEGER PRIMARY KEY,
    owner TEXT,
    expires_at {float} NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pydapr_scheduler_replicas (
    id TEXT PRIMARY KEY,
    expires_at {float} NOT NULL
);
"""

INSERT = f"""
INSERT INTO pydapr_scheduler_jobs ({JOB_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""
ON_CONFLICT_OVERWRITE = """
ON CONFLICT (namespace, app_id, name) DO UPDATE SET
    uid = excluded.uid, part = excluded.part, spec = excluded.spec, begin_at = excluded.begin_at,
    begin_is_due = excluded.begin_is_due, expires_at = excluded.expires_at, next_at = excluded.next_at,
    occ_at = excluded.occ_at, count = 0, attempts = 0
"""
ON_CONFLICT_KEEP = " ON CONFLICT (namespace, app_id, name) DO NOTHING"

# The order due jobs are read in: a total order, so a page can start after the last row of the one before.
DUE_ORDER = "next_at, namespace, app_id, name"

SELECT_ONE = (
    f"SELECT {JOB_COLUMNS} FROM pydapr_scheduler_jobs WHERE namespace = $1 AND app_id = $2 AND name = $3"
)
SELECT_APP = (
    f"SELECT {JOB_COLUMNS} FROM pydapr_scheduler_jobs WHERE namespace = $1 AND app_id = $2 ORDER BY name"
)
DELETE_ONE = "DELETE FROM pydapr_scheduler_jobs WHERE namespace = $1 AND app_id = $2 AND name = $3"

# A trigger's result is written only while its writer still holds the partition lease (fencing):
# the store reads the partitions the writer holds once per batch, in the batch's transaction, and
# writes the batch's jobs of those partitions by key.
HELD_PARTS = "SELECT part FROM pydapr_scheduler_leases WHERE owner = $1 AND expires_at >= $2"
