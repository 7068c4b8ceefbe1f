//! Settings an administrator changes at run time (`/api/v2.0/configurations`).

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{Action, Resource};
use crate::iam::require;
use berth_db::{properties, Db};
use std::collections::BTreeMap;

/// One setting as Harbor shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub value: serde_json::Value,
    pub editable: bool,
}

/// An editable setting: its key, default and allowed values.
struct Editable {
    key: &'static str,
    default: &'static str,
    allowed: Allowed,
}

/// What an editable setting may be.
enum Allowed {
    /// Exactly one of these.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of these (possibly empty).
    ListOf(&'static [&'static str]),
}

impl Allowed {
    fn admits(&self, v: &str) -> bool {
        match self {
            Allowed::OneOf(values) => values.contains(&v),
            Allowed::ListOf(values) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .all(|s| values.contains(&s)),
        }
    }

    fn describe(&self) -> String {
        match self {
            Allowed::OneOf(values) => format!("one of {}", values.join(", ")),
            Allowed::ListOf(values) => format!("a comma-separated list of {}", values.join(", ")),
        }
    }
}

const EDITABLE: &[Editable] = &[
    Editable {
        key: PROJECT_CREATION_RESTRICTION,
        default: "everyone",
        allowed: Allowed::OneOf(&["everyone", "adminonly"]),
    },
    Editable {
        key: DISABLED_AUDIT_LOG_EVENT_TYPES,
        default: "",
        allowed: Allowed::ListOf(crate::audit::EVENT_TYPES),
    },
];

const PROJECT_CREATION_RESTRICTION: &str = "project_creation_restriction";
const DISABLED_AUDIT_LOG_EVENT_TYPES: &str = "disabled_audit_log_event_types";

/// The configuration service.
#[derive(Clone)]
pub struct Configurations {
    db: Db,
    token_expiration_minutes: i64,
}

impl Configurations {
    /// The service on a database.
    pub fn new(db: Db) -> Self {
        Configurations {
            db,
            token_expiration_minutes: 30,
        }
    }

    /// Shows the token lifetime the server was started with (read-only).
    pub fn with_token_expiration(self, minutes: i64) -> Self {
        Configurations {
            token_expiration_minutes: minutes,
            ..self
        }
    }

    async fn value(&self, e: &Editable) -> CoreResult<String> {
        Ok(properties::get(self.db.reader(), e.key)
            .await?
            .unwrap_or_else(|| e.default.to_string()))
    }

    /// Whether only system administrators may create projects.
    pub async fn admin_only_project_creation(&self) -> CoreResult<bool> {
        Ok(self.value(&EDITABLE[0]).await? == "adminonly")
    }

    /// `everyone` or `adminonly`.
    pub async fn project_creation_restriction(&self) -> CoreResult<String> {
        self.value(&EDITABLE[0]).await
    }

    /// Audit event types not to record (`pull_artifact`, …).
    pub async fn disabled_audit_event_types(&self) -> CoreResult<Vec<String>> {
        Ok(self
            .value(&EDITABLE[1])
            .await?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect())
    }

    /// Every setting (administrators only).
    pub async fn all(&self, ctx: &SecurityContext) -> CoreResult<BTreeMap<&'static str, Item>> {
        require(ctx, Action::Read, Resource::Configuration).await?;
        let fixed = |value: serde_json::Value| Item {
            value,
            editable: false,
        };
        let mut out = BTreeMap::from([
            ("auth_mode", fixed("db_auth".into())),
            ("self_registration", fixed(false.into())),
            ("read_only", fixed(false.into())),
            (
                "token_expiration",
                fixed(self.token_expiration_minutes.into()),
            ),
            ("robot_name_prefix", fixed("robot$".into())),
        ]);
        for e in EDITABLE {
            out.insert(
                e.key,
                Item {
                    value: self.value(e).await?.into(),
                    editable: true,
                },
            );
        }
        Ok(out)
    }

    /// Changes settings; unknown, fixed or invalid values are refused whole.
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        changes: &BTreeMap<String, serde_json::Value>,
    ) -> CoreResult<()> {
        require(ctx, Action::Update, Resource::Configuration).await?;
        let mut valid = Vec::new();
        for (key, value) in changes {
            let e = EDITABLE.iter().find(|e| e.key == key).ok_or_else(|| {
                CoreError::BadRequest(format!("{key} is not an editable setting"))
            })?;
            let v = value
                .as_str()
                .filter(|v| e.allowed.admits(v))
                .ok_or_else(|| {
                    CoreError::BadRequest(format!("{key} must be {}", e.allowed.describe()))
                })?;
            valid.push((e.key, v));
        }
        let mut tx = self.db.begin().await?;
        for (k, v) in valid {
            properties::set(&mut *tx, k, v).await?;
        }
        berth_db::commit(tx).await?;
        Ok(())
    }
}
