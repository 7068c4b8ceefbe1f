-- Audit logs: Harbor's legacy log (create/delete/pull of projects,
-- repositories, artifacts, tags) and the extended log (every change, logins,
-- with its result). project_id is 0 for what belongs to no project.
CREATE TABLE audit_log (
    id {{id}},
    project_id BIGINT NOT NULL,
    operation TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource TEXT NOT NULL,
    username TEXT NOT NULL,
    op_time BIGINT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (op_time);
CREATE INDEX audit_log_project ON audit_log (project_id, op_time);

CREATE TABLE audit_log_ext (
    id {{id}},
    project_id BIGINT NOT NULL,
    operation TEXT NOT NULL,
    operation_description TEXT NOT NULL,
    operation_result BIGINT NOT NULL,
    resource_type TEXT NOT NULL,
    resource TEXT NOT NULL,
    username TEXT NOT NULL,
    op_time BIGINT NOT NULL
);
CREATE INDEX audit_log_ext_time ON audit_log_ext (op_time);
CREATE INDEX audit_log_ext_project ON audit_log_ext (project_id, op_time)
