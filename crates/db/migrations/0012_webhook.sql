-- Webhook policies of a project: which events go to which targets.
CREATE TABLE notification_policy (
    id {{id}},
    project_id BIGINT NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    event_types TEXT NOT NULL,
    targets TEXT NOT NULL,
    creator TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    UNIQUE (project_id, name)
)
