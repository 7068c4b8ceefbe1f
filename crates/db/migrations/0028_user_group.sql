-- User groups (Harbor's `user_group`): LDAP groups by DN (type 1), HTTP
-- and OIDC groups by name (types 2 and 3); project members may be groups.
CREATE TABLE user_group (
    id {{id}},
    group_name TEXT NOT NULL,
    group_type BIGINT NOT NULL,
    ldap_group_dn TEXT NOT NULL DEFAULT '',
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE UNIQUE INDEX user_group_dn ON user_group (ldap_group_dn) WHERE group_type = 1;
CREATE UNIQUE INDEX user_group_named ON user_group (group_type, group_name) WHERE group_type <> 1;
CREATE INDEX user_group_name ON user_group (group_name);

-- The groups a user belonged to at their last sign-in through the
-- directory or provider that knows them (Harbor keeps them in the session).
CREATE TABLE user_group_member (
    user_id BIGINT NOT NULL REFERENCES harbor_user (user_id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES user_group (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_group_member_group ON user_group_member (group_id);

-- Whether that sign-in made the user a system administrator by group
-- (LDAP group admin DN, OIDC admin group): Harbor's `admin_role_in_auth`.
ALTER TABLE harbor_user ADD COLUMN admin_role_in_auth BIGINT NOT NULL DEFAULT 0
