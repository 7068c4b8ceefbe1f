-- Each finding of each manifest's latest vulnerability report by a scanner
-- (Harbor's vulnerability records), as rows: the security hub counts and
-- searches them and the CVE export lists them.
CREATE TABLE scan_finding (
    id {{id}},
    digest {{name}} NOT NULL,
    registration_uuid TEXT NOT NULL,
    cve_id {{name}} NOT NULL,
    package {{name}} NOT NULL,
    version TEXT NOT NULL,
    fixed_version TEXT NOT NULL,
    -- `fixed` when a fixed version is known, else `affected`.
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    -- Harbor's rank of the severity (Critical 5 … None and Unknown 0).
    severity_code BIGINT NOT NULL,
    cvss_score_v3 DOUBLE PRECISION,
    description TEXT NOT NULL,
    -- JSON array of URLs.
    links TEXT NOT NULL,
    -- Comma-separated CWE ids.
    cwe_ids TEXT NOT NULL,
    -- JSON: what the scanner added (CVSS vectors …).
    vendor_attributes TEXT NOT NULL
);
CREATE INDEX scan_finding_report ON scan_finding (digest, registration_uuid);
CREATE INDEX scan_finding_cve ON scan_finding (cve_id);
CREATE INDEX scan_finding_score ON scan_finding (registration_uuid, cvss_score_v3);
