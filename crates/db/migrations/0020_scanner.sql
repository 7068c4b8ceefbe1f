-- Scanners Berth calls through Harbor's pluggable scanner API (Harbor's
-- registrations); the built-in scanner is the row Berth ships, immutable.
CREATE TABLE scanner_registration (
    id {{id}},
    uuid TEXT NOT NULL UNIQUE,
    name {{name}} NOT NULL UNIQUE,
    description TEXT NOT NULL,
    url TEXT NOT NULL UNIQUE,
    disabled BIGINT NOT NULL,
    is_default BIGINT NOT NULL,
    auth TEXT NOT NULL,
    access_cred TEXT NOT NULL,
    skip_cert_verify BIGINT NOT NULL,
    use_internal_addr BIGINT NOT NULL,
    immutable BIGINT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
INSERT INTO scanner_registration (uuid, name, description, url, disabled, is_default, auth,
    access_cred, skip_cert_verify, use_internal_addr, immutable, creation_time, update_time)
VALUES ('8a0e5d2c-1b1e-4c55-9a43-6f7d2b8e0001', 'Berth',
    'The scanner built into Berth: OS and language packages matched against the OSV database.',
    'builtin:', 0, 1, '', '', 0, 0, 1, 0, 0);

-- Scans other registries asked of Berth's own scanner adapter
-- (`/scanner-adapter/api/v1/scan`): the request until the scan has run,
-- then the report or the error, until they are purged a day later.
CREATE TABLE adapter_scan (
    id {{name}} PRIMARY KEY,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    report TEXT NOT NULL,
    error TEXT NOT NULL,
    creation_time BIGINT NOT NULL
);
CREATE INDEX adapter_scan_age ON adapter_scan (creation_time);

-- The scanner a project chose; the default registration scans the others.
CREATE TABLE project_scanner (
    project_id BIGINT PRIMARY KEY REFERENCES project (project_id) ON DELETE CASCADE,
    registration_uuid TEXT NOT NULL
);
