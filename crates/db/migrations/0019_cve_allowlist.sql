-- CVE allowlists: the system's (project 0) and each project's own.
CREATE TABLE cve_allowlist (
    id {{id}},
    project_id BIGINT NOT NULL UNIQUE,
    -- Seconds since the epoch, as Harbor's API takes it; NULL never expires.
    expires_at BIGINT,
    -- JSON array of CVE ids.
    items TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
