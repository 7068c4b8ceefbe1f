//! Labels (Harbor's `/labels`): global ones, which system administrators
//! keep, and each project's own; artifacts carry them and lists filter on
//! them (`q=labels=(…)`).

use super::{ProjectKey, Projects};
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{require, Action, Kind, Resource};
use crate::query::Filter;
use berth_db::labels;
/// A label as the API and portal show it, and what one is changed with.
pub use berth_db::labels::{Label, LabelFields};
use berth_db::{now_millis, Db};
use std::collections::HashMap;

/// Global labels are a system resource (Harbor's `label`).
const GLOBAL: Resource = Resource::System("label");

/// A label to make.
#[derive(Debug, Clone, Default)]
pub struct NewLabel {
    pub name: String,
    pub description: String,
    pub color: String,
    /// `g` or `p`.
    pub scope: String,
    pub project_id: i64,
}

/// The label service.
#[derive(Clone)]
pub struct Labels {
    db: Db,
    projects: Projects,
}

fn not_found(id: i64) -> CoreError {
    CoreError::NotFound(format!("label {id} not found"))
}

/// Harbor's rule for a label's name.
fn check_name(name: &str) -> CoreResult<()> {
    match name.chars().count() {
        0 => Err(CoreError::BadRequest("cannot be empty".into())),
        n if n > 128 => Err(CoreError::BadRequest("max length is 128".into())),
        _ => Ok(()),
    }
}

impl Labels {
    /// The service on a database.
    pub fn new(db: Db, projects: Projects) -> Self {
        Labels { db, projects }
    }

    /// Checks `action` on a label: global ones are the system's, a
    /// project's are that project's.
    async fn require(
        &self,
        ctx: &SecurityContext,
        label: &Label,
        action: Action,
    ) -> CoreResult<()> {
        match label.scope.as_str() {
            "p" => {
                let p = self.projects.lookup_id(label.project_id).await?;
                require(ctx, action, Resource::Project(p, Kind::Label)).await
            }
            _ => require(ctx, action, GLOBAL).await,
        }
    }

    /// One page of a scope's labels (`g`: global, anyone may list them;
    /// `p`: a project's, `project_id` required), with the total.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        (scope, project_id): (&str, Option<i64>),
        name: Option<&str>,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<Label>, i64)> {
        let mut query = filter.parse(labels::FIELDS)?;
        let project = match scope {
            "g" => 0,
            "p" => {
                let id = project_id.filter(|id| *id > 0).ok_or_else(|| {
                    CoreError::BadRequest(
                        "must with project ID when to query project labels".into(),
                    )
                })?;
                let p = self.projects.lookup_id(id).await?;
                require(ctx, Action::List, Resource::Project(p, Kind::Label)).await?;
                id
            }
            other => return Err(CoreError::BadRequest(format!("invalid scope: {other}"))),
        };
        let bad = |e: berth_db::query::QueryError| CoreError::BadRequest(e.to_string());
        query = query.exact(labels::FIELDS, "scope", scope).map_err(bad)?;
        query = (query.exact(labels::FIELDS, "project_id", &project.to_string())).map_err(bad)?;
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            query = query.fuzzy(labels::FIELDS, "name", n).map_err(bad)?;
        }
        let r = self.db.reader();
        let total = labels::count(r, &query).await?;
        Ok((labels::list(r, &query, offset, limit).await?, total))
    }

    /// One label.
    pub async fn get(&self, ctx: &SecurityContext, id: i64) -> CoreResult<Label> {
        let label = (labels::by_id(self.db.reader(), id).await?).ok_or_else(|| not_found(id))?;
        self.require(ctx, &label, Action::Read).await?;
        Ok(label)
    }

    /// Makes a label; its id.
    pub async fn create(&self, ctx: &SecurityContext, new: &NewLabel) -> CoreResult<i64> {
        check_name(&new.name)?;
        let project = match new.scope.as_str() {
            "g" => None,
            "p" if new.project_id > 0 => Some(new.project_id),
            "p" => {
                return Err(CoreError::BadRequest(format!(
                    "invalid: {}",
                    new.project_id
                )))
            }
            other => return Err(CoreError::BadRequest(format!("invalid: {other}"))),
        };
        let label = Label {
            scope: new.scope.clone(),
            project_id: project.unwrap_or(0),
            ..Label::default()
        };
        self.require(ctx, &label, Action::Create).await?;
        let fields = LabelFields {
            name: &new.name,
            description: &new.description,
            color: &new.color,
        };
        labels::insert(self.db.writer(), project, fields, now_millis())
            .await
            .map_err(|e| CoreError::taken(e, format!("label {} already exists", new.name)))
    }

    /// Changes a label's name, description and color (not its scope).
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        id: i64,
        fields: LabelFields<'_>,
    ) -> CoreResult<()> {
        let label = (labels::by_id(self.db.reader(), id).await?).ok_or_else(|| not_found(id))?;
        self.require(ctx, &label, Action::Update).await?;
        check_name(fields.name)?;
        let updated = labels::update(self.db.writer(), id, fields, now_millis())
            .await
            .map_err(|e| CoreError::taken(e, format!("label {} already exists", fields.name)))?;
        updated.then_some(()).ok_or_else(|| not_found(id))
    }

    /// Deletes a label, taking it off every artifact.
    pub async fn delete(&self, ctx: &SecurityContext, id: i64) -> CoreResult<()> {
        let label = (labels::by_id(self.db.reader(), id).await?).ok_or_else(|| not_found(id))?;
        self.require(ctx, &label, Action::Delete).await?;
        labels::delete(self.db.writer(), id).await?;
        Ok(())
    }

    /// The labels on these artifacts, by artifact id.
    pub async fn of_artifacts(&self, ids: &[i64]) -> CoreResult<HashMap<i64, Vec<Label>>> {
        let mut out: HashMap<i64, Vec<Label>> = HashMap::new();
        for (artifact, label) in labels::of_artifacts(self.db.reader(), ids).await? {
            out.entry(artifact).or_default().push(label);
        }
        Ok(out)
    }

    /// The project a key names (for the portal's labels tab).
    pub async fn project_id(&self, ctx: &SecurityContext, key: &ProjectKey) -> CoreResult<i64> {
        let view = self
            .projects
            .authorized(ctx, key, Action::List, Kind::Label)
            .await?;
        Ok(view.project.project_id)
    }
}
