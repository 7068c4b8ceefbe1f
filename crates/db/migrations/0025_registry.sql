-- Registry endpoints replication and proxy-cache projects use (Harbor's
-- `registry` table). The access secret is sealed by Berth (see
-- `core::iam::secrets`), never stored in the clear.
CREATE TABLE registry (
    id {{id}},
    name {{name}} NOT NULL UNIQUE,
    description TEXT NOT NULL,
    type TEXT NOT NULL,
    url TEXT NOT NULL,
    credential_type TEXT NOT NULL,
    access_key TEXT NOT NULL,
    access_secret TEXT NOT NULL,
    insecure BIGINT NOT NULL,
    ca_certificate TEXT NOT NULL,
    status TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
