-- Labels (Harbor's `harbor_label`): global ones (scope 'g', no project)
-- and a project's own (scope 'p'); names are unique within their scope.
CREATE TABLE harbor_label (
    id {{id}},
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    color TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    project_id BIGINT REFERENCES project (project_id) ON DELETE CASCADE,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE UNIQUE INDEX harbor_label_name ON harbor_label (scope, COALESCE(project_id, 0), name);
CREATE INDEX harbor_label_project ON harbor_label (project_id);

-- Which artifacts carry which labels (Harbor's `label_reference`).
CREATE TABLE label_reference (
    id {{id}},
    label_id BIGINT NOT NULL REFERENCES harbor_label (id) ON DELETE CASCADE,
    artifact_id BIGINT NOT NULL REFERENCES artifact (id) ON DELETE CASCADE,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE UNIQUE INDEX label_reference_pair ON label_reference (artifact_id, label_id);
CREATE INDEX label_reference_label ON label_reference (label_id)
