-- Tag immutability rules (Harbor's `immutable_tag_rule`): the rule as
-- Harbor's JSON (selectors, priority, action), per project; the same rule
-- twice in one project is refused.
CREATE TABLE immutable_tag_rule (
    id {{id}},
    project_id BIGINT NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    tag_filter TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    creation_time BIGINT NOT NULL
);
CREATE UNIQUE INDEX immutable_tag_rule_filter ON immutable_tag_rule (project_id, tag_filter)
