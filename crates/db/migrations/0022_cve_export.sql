-- CVE exports' CSV files, kept with their execution until downloaded (or
-- until the execution is swept with the job history).
CREATE TABLE cve_export (
    execution_id BIGINT PRIMARY KEY REFERENCES execution (id) ON DELETE CASCADE,
    csv TEXT NOT NULL
);
