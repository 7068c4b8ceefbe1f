-- Advisories imported from OSV archives (`berth vulndb import`).
CREATE TABLE vulnerability (
    id {{name}} PRIMARY KEY,
    cve TEXT,
    modified TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    -- The highest CVSS base score given, times ten.
    cvss_x10 BIGINT,
    cvss_vector TEXT,
    links TEXT NOT NULL,
    cwe_ids TEXT NOT NULL
);

-- The packages an advisory affects: looked up by ecosystem and name, the
-- versions (OSV's ranges and list, as JSON) tested by the scanner.
CREATE TABLE vulnerability_package (
    vulnerability_id {{name}} NOT NULL REFERENCES vulnerability (id) ON DELETE CASCADE,
    ecosystem {{name}} NOT NULL,
    name {{name}} NOT NULL,
    versions TEXT NOT NULL,
    severity TEXT
);
CREATE INDEX vulnerability_package_lookup ON vulnerability_package (ecosystem, name);
CREATE INDEX vulnerability_package_of ON vulnerability_package (vulnerability_id);

-- A scanner's report on a manifest (by digest, as Harbor keeps them: the
-- same manifest in two repositories has one report), one per kind.
CREATE TABLE scan_report (
    id {{id}},
    uuid TEXT NOT NULL UNIQUE,
    digest {{name}} NOT NULL,
    registration_uuid TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    execution_id BIGINT,
    status TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    severity TEXT NOT NULL,
    summary TEXT NOT NULL,
    report TEXT NOT NULL,
    UNIQUE (digest, registration_uuid, mime_type)
);
-- A scan all's progress counts its reports.
CREATE INDEX scan_report_execution ON scan_report (execution_id);
