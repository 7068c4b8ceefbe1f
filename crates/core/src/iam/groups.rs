//! User groups (Harbor's `/usergroups`): LDAP groups by DN and OIDC
//! groups by name, kept here so projects can take them as members. A
//! user's groups are the ones the directory or provider reported at their
//! last sign-in.

use super::rbac::{require, Action, Resource};
use super::{ldap, ldap_unavailable, Iam, SecurityContext};
use crate::error::{CoreError, CoreResult};
use crate::notify::trail::{Operation, Target};
use berth_db::usergroups::{self, Filter};
/// A user group as the API and portal render it; the kinds of group.
pub use berth_db::usergroups::{UserGroup, LDAP, OIDC};
use berth_db::{now_millis, DbError};

const RESOURCE: Resource = Resource::System("user-group");

fn not_found(id: i64) -> CoreError {
    CoreError::NotFound(format!("the user group with id {id} is not found"))
}

impl Iam {
    /// One page of groups with the total; in LDAP mode only LDAP groups
    /// (optionally the one with `ldap_group_dn`), in OIDC mode only OIDC
    /// groups, as Harbor lists them.
    pub async fn groups(
        &self,
        ctx: &SecurityContext,
        name: Option<&str>,
        ldap_group_dn: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<UserGroup>, i64)> {
        require(ctx, Action::List, RESOURCE).await?;
        let group_type = self.mode_group_type();
        let dn = ldap_group_dn.filter(|d| group_type == Some(usergroups::LDAP) && !d.is_empty());
        let dn = dn.map(ldap::normalized_dn);
        let filter = Filter {
            name_like: name.filter(|n| !n.is_empty()),
            group_type,
            ldap_group_dn: dn.as_deref(),
        };
        self.group_page(filter, offset, limit).await
    }

    /// Groups whose name contains `name`, for anyone signed in (the member
    /// dialog searches them).
    pub async fn search_groups(
        &self,
        ctx: &SecurityContext,
        name: &str,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<UserGroup>, i64)> {
        if !ctx.is_authenticated() {
            return Err(CoreError::Unauthorized);
        }
        if name.is_empty() {
            return Err(CoreError::BadRequest(
                "need to provide groupname to search user group".into(),
            ));
        }
        let filter = Filter {
            name_like: Some(name),
            ..Filter::default()
        };
        self.group_page(filter, offset, limit).await
    }

    async fn group_page(
        &self,
        filter: Filter<'_>,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<UserGroup>, i64)> {
        let r = self.db.reader();
        let total = usergroups::count(r, filter).await?;
        Ok((usergroups::list(r, filter, offset, limit).await?, total))
    }

    /// One group.
    pub async fn group(&self, ctx: &SecurityContext, id: i64) -> CoreResult<UserGroup> {
        require(ctx, Action::Read, RESOURCE).await?;
        (usergroups::by_id(self.db.reader(), id).await?).ok_or_else(|| not_found(id))
    }

    /// The kind of group the authentication mode provides.
    fn mode_group_type(&self) -> Option<i64> {
        match self.configurations.snapshot().auth_mode.as_str() {
            "ldap_auth" => Some(usergroups::LDAP),
            "oidc_auth" => Some(usergroups::OIDC),
            _ => None,
        }
    }

    /// Adds an LDAP group, once the directory confirms its DN, or an OIDC
    /// group by name; returns its id.
    pub async fn create_group(
        &self,
        ctx: &SecurityContext,
        name: &str,
        group_type: i64,
        ldap_group_dn: &str,
    ) -> CoreResult<i64> {
        let work = async {
            require(ctx, Action::Create, RESOURCE).await?;
            if name.trim().is_empty() {
                return Err(CoreError::BadRequest("group_name is required".into()));
            }
            let dn = match group_type {
                usergroups::LDAP => {
                    self.ldap_group(ldap_group_dn).await?;
                    ldap::normalized_dn(ldap_group_dn)
                }
                usergroups::OIDC => String::new(),
                _ => {
                    return Err(CoreError::BadRequest(format!(
                        "group_type {group_type} is not supported: LDAP (1) and OIDC (3) groups are"
                    )))
                }
            };
            let now = now_millis();
            (usergroups::insert(self.db.writer(), group_type, name.trim(), &dn, now).await).map_err(
                |e| {
                    CoreError::taken(
                        e,
                        format!(
                            "duplicate user group, group name:{name}, group type: {group_type}, \
                             ldap group DN: {ldap_group_dn}"
                        ),
                    )
                },
            )
        };
        (self.trail)
            .audited(ctx, Operation::Create, Target::UserGroup(name), work)
            .await
    }

    /// The directory's group with this DN (under the group base DN, within
    /// the group filter).
    async fn ldap_group(&self, dn: &str) -> CoreResult<ldap::LdapGroup> {
        let settings = self.ldap_settings().await?;
        let found =
            (ldap::search_groups(&settings, "", Some(dn)).await).map_err(ldap_unavailable)?;
        (found.into_iter().next())
            .ok_or_else(|| CoreError::BadRequest(format!("LDAP Group DN is not found: DN:{dn}")))
    }

    /// The id of the LDAP group with this DN, added when the directory has
    /// it and it is not here yet (a project member named by DN).
    pub async fn ldap_group_id(&self, ctx: &SecurityContext, dn: &str) -> CoreResult<i64> {
        if !ctx.is_authenticated() {
            return Err(CoreError::Unauthorized);
        }
        let group = self.ldap_group(dn).await?;
        Ok(self.ensure_group(usergroups::LDAP, &group.name, dn).await?)
    }

    /// The id of the OIDC group with this name, added when it is not here
    /// yet (the provider will name it in its users' groups claim), as
    /// Harbor adds a project member group by name in OIDC mode.
    pub async fn oidc_group_id(&self, ctx: &SecurityContext, name: &str) -> CoreResult<i64> {
        if !ctx.is_authenticated() {
            return Err(CoreError::Unauthorized);
        }
        if self.mode_group_type() != Some(usergroups::OIDC) || name.trim().is_empty() {
            return Err(CoreError::BadRequest(format!(
                "a group is added by name only in OIDC mode: {name}"
            )));
        }
        Ok(self.ensure_group(usergroups::OIDC, name.trim(), "").await?)
    }

    /// The id of a group a directory or provider names, added if new.
    pub(super) async fn ensure_group(
        &self,
        group_type: i64,
        name: &str,
        dn: &str,
    ) -> Result<i64, DbError> {
        let dn = match group_type {
            usergroups::LDAP => ldap::normalized_dn(dn),
            _ => String::new(),
        };
        let find = || usergroups::find(self.db.reader(), group_type, name, &dn);
        if let Some(g) = find().await? {
            return Ok(g.id);
        }
        match usergroups::insert(self.db.writer(), group_type, name, &dn, now_millis()).await {
            // Added by a concurrent sign-in.
            Err(e) if e.is_unique_violation() => match find().await? {
                Some(g) => Ok(g.id),
                None => Err(e),
            },
            other => other,
        }
    }

    /// Renames a group.
    pub async fn rename_group(&self, ctx: &SecurityContext, id: i64, name: &str) -> CoreResult<()> {
        let work = async {
            require(ctx, Action::Update, RESOURCE).await?;
            if name.trim().is_empty() {
                return Err(CoreError::BadRequest("group_name is required".into()));
            }
            if !usergroups::rename(self.db.writer(), id, name.trim(), now_millis()).await? {
                return Err(not_found(id));
            }
            Ok(())
        };
        (self.trail)
            .audited(ctx, Operation::Update, Target::UserGroup(name), work)
            .await
    }

    /// Deletes a group and its project memberships (a group that is not
    /// there is deleted already, as Harbor answers).
    pub async fn delete_group(&self, ctx: &SecurityContext, id: i64) -> CoreResult<()> {
        let name = match usergroups::by_id(self.db.reader(), id).await {
            Ok(Some(g)) => g.group_name,
            _ => id.to_string(),
        };
        let work = async {
            require(ctx, Action::Delete, RESOURCE).await?;
            let mut tx = self.db.begin().await?;
            usergroups::delete(&mut tx, id).await?;
            berth_db::commit(tx).await?;
            Ok(())
        };
        (self.trail)
            .audited(ctx, Operation::Delete, Target::UserGroup(&name), work)
            .await
    }
}
