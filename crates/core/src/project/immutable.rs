//! A project's tag immutability rules (`/projects/{p}/immutabletagrules`):
//! project administrators and maintainers keep them; the policy chain
//! enforces them (`policy::immutability`).

use super::{ProjectKey, Projects};
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{Action, Kind};
/// A rule as the API shows and takes it.
pub use crate::policy::immutability::ImmutableRule;
use crate::selector::On;
use berth_db::{immutable, now_millis, Db};

/// The tag immutability rule service.
#[derive(Clone)]
pub struct ImmutableRules {
    db: Db,
    projects: Projects,
}

fn not_found(id: i64) -> CoreError {
    CoreError::NotFound(format!("immutable rule {id} not found"))
}

/// Checks a rule and gives it Harbor's action and template; its JSON.
fn stored(rule: &ImmutableRule) -> CoreResult<String> {
    let (Some(tags), Some(repos)) = (
        rule.tag_selectors.first(),
        rule.scope_selectors
            .get("repository")
            .and_then(|r| r.first()),
    ) else {
        return Err(CoreError::BadRequest(
            "a rule needs a tag selector and a repository scope selector".into(),
        ));
    };
    tags.check(On::Tag)?;
    repos.check(On::Repository)?;
    let rule = ImmutableRule {
        id: 0,
        disabled: false,
        action: "immutable".into(),
        template: "immutable_template".into(),
        ..rule.clone()
    };
    serde_json::to_string(&rule).map_err(|e| CoreError::Internal(e.to_string()))
}

impl ImmutableRules {
    /// The service on a database.
    pub fn new(db: Db, projects: Projects) -> Self {
        ImmutableRules { db, projects }
    }

    async fn project(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        action: Action,
    ) -> CoreResult<i64> {
        let view = (self.projects)
            .authorized(ctx, key, action, Kind::ImmutableTag)
            .await?;
        Ok(view.project.project_id)
    }

    /// The project's rule `id` (404 when it is another project's).
    async fn rule_in(&self, project: i64, id: i64) -> CoreResult<immutable::RuleRow> {
        match immutable::by_id(self.db.reader(), id).await? {
            Some(r) if r.project_id == project => Ok(r),
            Some(_) => Err(CoreError::NotFound(format!(
                "project id {project} does not match"
            ))),
            None => Err(not_found(id)),
        }
    }

    /// One page of a project's rules, with the total.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<ImmutableRule>, i64)> {
        let project = self.project(ctx, key, Action::List).await?;
        let r = self.db.reader();
        let total = immutable::count(r, project).await?;
        let rows = immutable::list(r, project, offset, limit).await?;
        let rules = rows
            .into_iter()
            .map(|row| {
                let rule: ImmutableRule = serde_json::from_str(&row.tag_filter)
                    .map_err(|e| CoreError::Internal(e.to_string()))?;
                Ok(ImmutableRule {
                    id: row.id,
                    disabled: row.disabled,
                    ..rule
                })
            })
            .collect::<CoreResult<_>>()?;
        Ok((rules, total))
    }

    /// Adds a rule; its id.
    pub async fn create(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        rule: &ImmutableRule,
    ) -> CoreResult<i64> {
        let project = self.project(ctx, key, Action::Create).await?;
        let json = stored(rule)?;
        immutable::insert(
            self.db.writer(),
            project,
            &json,
            rule.disabled,
            now_millis(),
        )
        .await
        .map_err(|e| CoreError::taken(e, "immutable rule already exists"))
    }

    /// Replaces rule `id` (its selectors and whether it is disabled).
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        id: i64,
        rule: &ImmutableRule,
    ) -> CoreResult<()> {
        if rule.id != id {
            return Err(CoreError::BadRequest(
                "the immutable_rule_id doesn't match the id in the payload body of ImmutableRule"
                    .into(),
            ));
        }
        let project = self.project(ctx, key, Action::Update).await?;
        self.rule_in(project, id).await?;
        let json = stored(rule)?;
        let updated = immutable::update(self.db.writer(), id, &json, rule.disabled)
            .await
            .map_err(|e| CoreError::taken(e, "immutable rule already exists"))?;
        updated.then_some(()).ok_or_else(|| not_found(id))
    }

    /// Deletes rule `id`.
    pub async fn delete(&self, ctx: &SecurityContext, key: &ProjectKey, id: i64) -> CoreResult<()> {
        let project = self.project(ctx, key, Action::Delete).await?;
        self.rule_in(project, id).await?;
        immutable::delete(self.db.writer(), id).await?;
        Ok(())
    }
}
