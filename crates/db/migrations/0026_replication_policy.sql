-- Replication rules (Harbor's `replication_policy`). One side is this
-- registry: its registry id is 0. Filters are Harbor's JSON array; a
-- scheduled rule's cron lives here and in its `schedule` row.
CREATE TABLE replication_policy (
    id {{id}},
    name {{name}} NOT NULL UNIQUE,
    description TEXT NOT NULL,
    creator TEXT NOT NULL,
    src_registry_id BIGINT NOT NULL,
    dest_registry_id BIGINT NOT NULL,
    dest_namespace TEXT NOT NULL,
    dest_namespace_replace_count BIGINT NOT NULL,
    filters TEXT NOT NULL,
    trigger_type TEXT NOT NULL,
    trigger_cron TEXT NOT NULL,
    replicate_deletion BIGINT NOT NULL,
    override BIGINT NOT NULL,
    enabled BIGINT NOT NULL,
    speed BIGINT NOT NULL,
    copy_by_chunk BIGINT NOT NULL,
    single_active BIGINT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX replication_policy_src ON replication_policy (src_registry_id);
CREATE INDEX replication_policy_dest ON replication_policy (dest_registry_id)
