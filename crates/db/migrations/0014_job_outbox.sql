-- Jobs that the process enqueuing them runs at once: one row, written in
-- the transaction of the change that caused the job, stands for the job
-- until its run ends and its execution and task are written already in
-- their final state (or, for a run that lasts, as Running). A row whose
-- lease ran out (its process died) becomes a pending task. No index: the
-- table holds only the runs in progress.
CREATE TABLE job_outbox (
    id {{id}},
    vendor_type TEXT NOT NULL,
    vendor_id BIGINT NOT NULL,
    trigger_type TEXT NOT NULL,
    extra_attrs TEXT NOT NULL,
    job_type TEXT NOT NULL,
    params TEXT NOT NULL,
    max_runs BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    creation_time BIGINT NOT NULL
)
