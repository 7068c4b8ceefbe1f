-- Storage quotas (Harbor's `quota` and `quota_usage` in one row per
-- project): the hard limit in bytes (-1 unlimited) and the bytes used.
CREATE TABLE quota (
    id {{id}},
    project_id BIGINT NOT NULL UNIQUE REFERENCES project (project_id) ON DELETE CASCADE,
    hard BIGINT NOT NULL,
    used BIGINT NOT NULL DEFAULT 0,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX quota_creation ON quota (creation_time);

-- What a project's usage counts (Harbor's `project_blob`): each blob and
-- manifest once per project, with its size.
CREATE TABLE project_blob (
    project_id BIGINT NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, digest)
);
CREATE INDEX project_blob_created ON project_blob (created_at);
CREATE INDEX artifact_digest ON artifact (digest);

-- What the projects hold today: blobs linked to their repositories and
-- their manifests.
INSERT INTO project_blob (project_id, digest, size, created_at)
    SELECT DISTINCT p.project_id, b.digest, b.size, b.created_at FROM project p
    JOIN repository r ON r.project_name = p.name
    JOIN repository_blob rb ON rb.repository_id = r.id
    JOIN blob b ON b.digest = rb.digest WHERE 1 = 1
    ON CONFLICT (project_id, digest) DO NOTHING;
INSERT INTO project_blob (project_id, digest, size, created_at)
    SELECT p.project_id, a.digest, MIN(a.manifest_size), MIN(a.push_time) FROM project p
    JOIN repository r ON r.project_name = p.name
    JOIN artifact a ON a.repository_id = r.id WHERE 1 = 1
    GROUP BY p.project_id, a.digest
    ON CONFLICT (project_id, digest) DO NOTHING;
INSERT INTO quota (project_id, hard, used, creation_time, update_time)
    SELECT p.project_id, -1,
        (SELECT CAST(COALESCE(SUM(pb.size), 0) AS BIGINT) FROM project_blob pb WHERE pb.project_id = p.project_id),
        p.creation_time, p.creation_time
    FROM project p
