-- The job service: executions (one run of GC, a purge, a webhook delivery …)
-- made of tasks, which are the durable queue the workers claim from.
CREATE TABLE execution (
    id {{id}},
    vendor_type TEXT NOT NULL,
    vendor_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL,
    trigger_type TEXT NOT NULL,
    extra_attrs TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    update_time BIGINT NOT NULL
);
CREATE INDEX execution_vendor ON execution (vendor_type, vendor_id, id);

CREATE TABLE task (
    id {{id}},
    execution_id BIGINT NOT NULL REFERENCES execution (id) ON DELETE CASCADE,
    job_type TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL,
    run_count BIGINT NOT NULL,
    max_runs BIGINT NOT NULL,
    next_run_at BIGINT NOT NULL,
    worker TEXT,
    lease_until BIGINT,
    stop_requested BIGINT NOT NULL,
    log TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    start_time BIGINT,
    end_time BIGINT,
    update_time BIGINT NOT NULL
);
CREATE INDEX task_queue ON task (status, next_run_at);
CREATE INDEX task_execution ON task (execution_id);

-- Paused job types.
CREATE TABLE job_queue_status (
    job_type TEXT PRIMARY KEY,
    paused BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);

-- One row per running Berth process's worker pool, kept fresh by heartbeats.
CREATE TABLE worker_pool (
    id TEXT PRIMARY KEY,
    pid BIGINT NOT NULL,
    host TEXT NOT NULL,
    concurrency BIGINT NOT NULL,
    start_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
)
