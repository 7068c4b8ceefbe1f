-- Periodic jobs: a schedule fires by moving its next_run_at forward in the
-- same transaction that enqueues the job, so one process wins each period.
CREATE TABLE schedule (
    id {{id}},
    vendor_type TEXT NOT NULL,
    vendor_id BIGINT NOT NULL,
    cron_type TEXT NOT NULL,
    cron TEXT NOT NULL,
    params TEXT NOT NULL,
    next_run_at BIGINT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    UNIQUE (vendor_type, vendor_id)
);
CREATE INDEX schedule_due ON schedule (next_run_at)
