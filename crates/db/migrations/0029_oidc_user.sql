-- Users who sign in through an OpenID Connect provider (Harbor's
-- `oidc_user`): the provider's subject and issuer, the CLI secret, and the
-- provider's last token set (refreshed while the CLI secret is used); the
-- secret and the tokens are sealed with the server's key.
CREATE TABLE oidc_user (
    id {{id}},
    user_id BIGINT NOT NULL UNIQUE REFERENCES harbor_user (user_id) ON DELETE CASCADE,
    subiss TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    token TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);

-- Browser sign-ins in progress with the provider, by the SHA-256 of their
-- state: the PKCE verifier, nonce and return path, then the tokens of a
-- user who is still to choose a username (sealed).
CREATE TABLE oidc_login (
    state_hash TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_login_expires ON oidc_login (expires_at)
