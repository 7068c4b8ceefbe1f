//! Settings an administrator changes at run time (`/api/v2.0/configurations`).

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::require;
use crate::iam::rbac::{Action, Resource};
use crate::iam::secrets::Secrets;
use crate::notify::trail::{Operation, Target, Trail};
use berth_db::{properties, Db};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The audit log's event types (`operation_resourcetype`), as Harbor names
/// them: what `disabled_audit_log_event_types` may list.
pub const AUDIT_EVENT_TYPES: &[&str] = &[
    "create_artifact",
    "delete_artifact",
    "pull_artifact",
    "create_tag",
    "delete_tag",
    "delete_repository",
    "update_repository",
    "create_project",
    "update_project",
    "delete_project",
    "create_member",
    "update_member",
    "delete_member",
    "create_robot",
    "update_robot",
    "delete_robot",
    "create_user",
    "update_user",
    "delete_user",
    "login_user",
    "logout_user",
    "update_configuration",
];

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
    /// `true` or `false` (JSON booleans; the strings are accepted too).
    Bool,
    /// A whole number in this range (JSON numbers; digit strings are accepted too).
    Range(i64, i64),
    /// Any string of at most this many bytes.
    Text(usize),
    /// A password or client secret of at most this many bytes: stored
    /// sealed, never shown.
    Secret(usize),
    /// A regular expression (or nothing).
    Pattern,
    /// A JSON object of strings, as text (or nothing).
    StringMap,
    /// A storage limit in bytes: -1 (unlimited) or 1 to 1024 TiB.
    StorageLimit,
}

impl Allowed {
    /// The stored text of a valid JSON value.
    fn admit(&self, v: &serde_json::Value) -> Option<String> {
        match (self, v) {
            (Allowed::Bool, serde_json::Value::Bool(b)) => Some(b.to_string()),
            (Allowed::Bool, serde_json::Value::String(s)) if s == "true" || s == "false" => {
                Some(s.clone())
            }
            (Allowed::Range(..) | Allowed::StorageLimit, v) => {
                let n = match v {
                    serde_json::Value::Number(n) => n.as_i64(),
                    serde_json::Value::String(s) => s.parse().ok(),
                    _ => None,
                }?;
                let valid = match self {
                    Allowed::Range(lo, hi) => (*lo..=*hi).contains(&n),
                    _ => crate::quota::check_limit(n).is_ok(),
                };
                valid.then(|| n.to_string())
            }
            (Allowed::Text(max) | Allowed::Secret(max), serde_json::Value::String(s)) => {
                (s.len() <= *max).then(|| s.clone())
            }
            (Allowed::Pattern, serde_json::Value::String(s)) => {
                (s.len() <= 1024 && regex::Regex::new(s).is_ok()).then(|| s.clone())
            }
            (Allowed::StringMap, serde_json::Value::String(s)) => (s.is_empty()
                || serde_json::from_str::<BTreeMap<String, String>>(s).is_ok())
            .then(|| s.clone()),
            (Allowed::OneOf(values), serde_json::Value::String(s)) => {
                values.contains(&s.as_str()).then(|| s.clone())
            }
            (Allowed::ListOf(values), serde_json::Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .all(|t| values.contains(&t))
                .then(|| s.clone()),
            _ => None,
        }
    }

    /// The JSON value of stored text.
    fn show(&self, stored: &str) -> serde_json::Value {
        match self {
            Allowed::Bool => (stored == "true").into(),
            Allowed::Range(..) | Allowed::StorageLimit => stored
                .parse::<i64>()
                .map_or(serde_json::Value::Null, Into::into),
            _ => stored.into(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Allowed::OneOf(values) => format!("one of {}", values.join(", ")),
            Allowed::ListOf(values) => format!("a comma-separated list of {}", values.join(", ")),
            Allowed::Bool => "true or false".into(),
            Allowed::Range(lo, hi) => format!("a whole number from {lo} to {hi}"),
            Allowed::Text(max) | Allowed::Secret(max) => {
                format!("a string of at most {max} bytes")
            }
            Allowed::Pattern => "a regular expression".into(),
            Allowed::StorageLimit => {
                format!(
                    "-1 (unlimited) or a number of bytes from 1 to {}",
                    crate::quota::MAX_LIMIT
                )
            }
            Allowed::StringMap => "a JSON object of strings, as a string".into(),
        }
    }
}

/// The authentication modes `auth_mode` may name.
const AUTH_MODES: &[&str] = &["db_auth", "ldap_auth", "oidc_auth", "uaa_auth"];

/// A text setting with no value until an administrator gives one.
const fn text(key: &'static str) -> Editable {
    Editable {
        key,
        default: "",
        allowed: Allowed::Text(1024),
    }
}

const EDITABLE: &[Editable] = &[
    // Changeable only while the first administrator is the only user.
    Editable {
        key: "auth_mode",
        default: "db_auth",
        allowed: Allowed::OneOf(AUTH_MODES),
    },
    text("ldap_url"),
    Editable {
        key: "ldap_start_tls",
        default: "false",
        allowed: Allowed::Bool,
    },
    text("ldap_search_dn"),
    Editable {
        key: "ldap_search_password",
        default: "",
        allowed: Allowed::Secret(1024),
    },
    text("ldap_base_dn"),
    text("ldap_filter"),
    Editable {
        key: "ldap_uid",
        default: "cn",
        allowed: Allowed::Text(256),
    },
    Editable {
        key: "ldap_scope",
        default: "2",
        allowed: Allowed::Range(0, 2),
    },
    Editable {
        key: "ldap_timeout",
        default: "5",
        allowed: Allowed::Range(1, 300),
    },
    Editable {
        key: "ldap_verify_cert",
        default: "true",
        allowed: Allowed::Bool,
    },
    text("ldap_group_base_dn"),
    text("ldap_group_search_filter"),
    text("ldap_group_attribute_name"),
    Editable {
        key: "ldap_group_search_scope",
        default: "2",
        allowed: Allowed::Range(0, 2),
    },
    text("ldap_group_admin_dn"),
    Editable {
        key: "ldap_group_membership_attribute",
        default: "memberof",
        allowed: Allowed::Text(256),
    },
    // Berth's: whether groups of groups count (Harbor has no such setting).
    Editable {
        key: "ldap_nested_groups",
        default: "false",
        allowed: Allowed::Bool,
    },
    text("oidc_name"),
    text("oidc_endpoint"),
    text("oidc_client_id"),
    Editable {
        key: "oidc_client_secret",
        default: "",
        allowed: Allowed::Secret(1024),
    },
    Editable {
        key: "oidc_scope",
        default: "openid,offline_access",
        allowed: Allowed::Text(1024),
    },
    text("oidc_groups_claim"),
    text("oidc_admin_group"),
    Editable {
        key: "oidc_group_filter",
        default: "",
        allowed: Allowed::Pattern,
    },
    text("oidc_user_claim"),
    Editable {
        key: "oidc_auto_onboard",
        default: "false",
        allowed: Allowed::Bool,
    },
    Editable {
        key: "oidc_verify_cert",
        default: "true",
        allowed: Allowed::Bool,
    },
    Editable {
        key: "oidc_extra_redirect_parms",
        default: "",
        allowed: Allowed::StringMap,
    },
    Editable {
        key: "oidc_logout",
        default: "false",
        allowed: Allowed::Bool,
    },
    text("uaa_endpoint"),
    text("uaa_client_id"),
    Editable {
        key: "uaa_client_secret",
        default: "",
        allowed: Allowed::Secret(1024),
    },
    Editable {
        key: "uaa_verify_cert",
        default: "true",
        allowed: Allowed::Bool,
    },
    Editable {
        key: "project_creation_restriction",
        default: "everyone",
        allowed: Allowed::OneOf(&["everyone", "adminonly"]),
    },
    Editable {
        key: "disabled_audit_log_event_types",
        default: "",
        allowed: Allowed::ListOf(AUDIT_EVENT_TYPES),
    },
    Editable {
        key: "quota_per_project_enable",
        default: "true",
        allowed: Allowed::Bool,
    },
    // Bytes a new project may store (Harbor's default, -1: unlimited).
    Editable {
        key: "storage_per_project",
        default: "-1",
        allowed: Allowed::StorageLimit,
    },
    Editable {
        key: "read_only",
        default: "false",
        allowed: Allowed::Bool,
    },
    Editable {
        key: "notification_enable",
        default: "true",
        allowed: Allowed::Bool,
    },
    Editable {
        key: "self_registration",
        default: "false",
        allowed: Allowed::Bool,
    },
    // Shown by the portal above every page: Harbor's stringified banner
    // object (`{"message":…,"type":…,"closable":…,"fromDate":…,"toDate":…}`).
    Editable {
        key: "banner_message",
        default: "",
        allowed: Allowed::Text(4096),
    },
    // Minutes; the default is the server's `--token-expiry-minutes`.
    Editable {
        key: "token_expiration",
        default: "",
        allowed: Allowed::Range(1, 525_600),
    },
];

/// The settings other services consult on hot paths, as last read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub admin_only_project_creation: bool,
    pub disabled_audit_event_types: Vec<String>,
    pub read_only: bool,
    pub notifications: bool,
    pub self_registration: bool,
    pub banner_message: String,
    /// Lifetime of registry tokens.
    pub token_expiration_minutes: i64,
    /// How users sign in (`db_auth`, `ldap_auth`, `oidc_auth`, `uaa_auth`).
    pub auth_mode: String,
    /// The OIDC provider's name for sign-in pages (in OIDC mode).
    pub oidc_provider_name: String,
    /// Whether projects' storage limits are enforced.
    pub quota_per_project_enable: bool,
    /// A new project's storage limit in bytes (-1: unlimited).
    pub storage_per_project: i64,
}

/// The configuration service.
#[derive(Clone)]
pub struct Configurations {
    db: Db,
    /// Seals the settings that are secrets (none can be set without it).
    secrets: Option<Secrets>,
    token_expiration_minutes: i64,
    /// The settings as last read, with the number of the read that gave
    /// them: reads overlap (the audit flush re-reads every second), and
    /// one begun before a change must not replace what a later one found.
    snapshot: Arc<RwLock<(u64, Snapshot)>>,
    reads: Arc<AtomicU64>,
    trail: Trail,
}

impl Configurations {
    /// The service on a database, recording changes on `trail`.
    pub fn new(db: Db, trail: Trail) -> Self {
        Configurations {
            db,
            trail,
            secrets: None,
            token_expiration_minutes: 30,
            snapshot: Arc::new(RwLock::new((
                0,
                Snapshot {
                    notifications: true,
                    token_expiration_minutes: 30,
                    quota_per_project_enable: true,
                    storage_per_project: -1,
                    ..Snapshot::default()
                },
            ))),
            reads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The token lifetime used until an administrator sets one.
    pub fn with_token_expiration(self, minutes: i64) -> Self {
        crate::lock_write(&self.snapshot).1.token_expiration_minutes = minutes;
        Configurations {
            token_expiration_minutes: minutes,
            ..self
        }
    }

    /// The service sealing secret settings with `secrets`.
    pub fn with_secrets(self, secrets: Secrets) -> Self {
        Configurations {
            secrets: Some(secrets),
            ..self
        }
    }

    /// The key that seals secrets.
    pub(crate) fn secrets(&self) -> CoreResult<&Secrets> {
        (self.secrets.as_ref()).ok_or_else(|| CoreError::Internal("no key to seal secrets".into()))
    }

    /// Every setting's value, secrets opened (for the services that use
    /// them, never for display).
    pub(crate) async fn current(&self) -> CoreResult<BTreeMap<&'static str, String>> {
        let mut values = self.values().await?;
        for e in EDITABLE
            .iter()
            .filter(|e| matches!(e.allowed, Allowed::Secret(_)))
        {
            if let Some(v) = values.get_mut(e.key).filter(|v| !v.is_empty()) {
                *v = self.secrets()?.open(v)?;
            }
        }
        Ok(values)
    }

    /// Every editable setting's stored text.
    async fn values(&self) -> CoreResult<BTreeMap<&'static str, String>> {
        let stored: BTreeMap<String, String> = properties::all(self.db.reader())
            .await?
            .into_iter()
            .collect();
        Ok(EDITABLE
            .iter()
            .map(|e| {
                let v = stored.get(e.key).cloned().unwrap_or_else(|| match e.key {
                    "token_expiration" => self.token_expiration_minutes.to_string(),
                    _ => e.default.to_string(),
                });
                (e.key, v)
            })
            .collect())
    }

    /// Re-reads the settings (every process does so every second, so a
    /// change made through any of them is followed within seconds).
    pub async fn refresh(&self) -> CoreResult<Snapshot> {
        let read = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
        let v = self.values().await?;
        let get = |k: &str| v.get(k).map(String::as_str).unwrap_or("");
        let snap = Snapshot {
            admin_only_project_creation: get("project_creation_restriction") == "adminonly",
            disabled_audit_event_types: get("disabled_audit_log_event_types")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            read_only: get("read_only") == "true",
            notifications: get("notification_enable") == "true",
            self_registration: get("self_registration") == "true",
            banner_message: get("banner_message").to_string(),
            token_expiration_minutes: get("token_expiration")
                .parse()
                .unwrap_or(self.token_expiration_minutes),
            auth_mode: get("auth_mode").to_string(),
            oidc_provider_name: match get("auth_mode") {
                "oidc_auth" => get("oidc_name").to_string(),
                _ => String::new(),
            },
            quota_per_project_enable: get("quota_per_project_enable") == "true",
            storage_per_project: get("storage_per_project").parse().unwrap_or(-1),
        };
        let mut last = crate::lock_write(&self.snapshot);
        if read > last.0 {
            *last = (read, snap.clone());
        }
        Ok(snap)
    }

    /// The settings as last read.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// Whether only system administrators may create projects (read now).
    pub async fn admin_only_project_creation(&self) -> CoreResult<bool> {
        Ok(self.refresh().await?.admin_only_project_creation)
    }

    /// Every setting (administrators only).
    pub async fn all(&self, ctx: &SecurityContext) -> CoreResult<BTreeMap<&'static str, Item>> {
        require(ctx, Action::Read, Resource::Configuration).await?;
        let fixed = |value: serde_json::Value| Item {
            value,
            editable: false,
        };
        let mut out = BTreeMap::from([("robot_name_prefix", fixed("robot$".into()))]);
        let values = self.values().await?;
        let mode_editable = self.auth_mode_editable().await?;
        // Secrets are never shown (as Harbor leaves passwords out).
        for e in EDITABLE
            .iter()
            .filter(|e| !matches!(e.allowed, Allowed::Secret(_)))
        {
            let stored = values.get(e.key).map(String::as_str).unwrap_or_default();
            out.insert(
                e.key,
                Item {
                    value: e.allowed.show(stored),
                    editable: e.key != "auth_mode" || mode_editable,
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
        let work = self.apply(ctx, changes);
        (self.trail)
            .audited(ctx, Operation::Update, Target::Configuration, work)
            .await
    }

    async fn apply(
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
            let v = e.allowed.admit(value).ok_or_else(|| {
                CoreError::BadRequest(format!("{key} must be {}", e.allowed.describe()))
            })?;
            let v = match e.allowed {
                Allowed::Secret(_) => self.secrets()?.seal(&v)?,
                _ => v,
            };
            valid.push((e.key, v));
        }
        let mode = changes.get("auth_mode").and_then(|m| m.as_str());
        if mode.is_some_and(|m| m != self.snapshot().auth_mode)
            && !self.auth_mode_editable().await?
        {
            return Err(CoreError::BadRequest(
                "the auth mode cannot be modified as new users have been inserted into database"
                    .into(),
            ));
        }
        let mut tx = self.db.begin().await?;
        for (k, v) in &valid {
            properties::set(&mut *tx, k, v).await?;
        }
        berth_db::commit(tx).await?;
        self.refresh().await?;
        Ok(())
    }

    /// Whether the authentication mode may change: only while the first
    /// administrator is the only user, as in Harbor (users on-boarded by
    /// one mode would not sign in through another).
    async fn auth_mode_editable(&self) -> CoreResult<bool> {
        let query = berth_db::query::ListQuery::default();
        Ok(berth_db::users::count(self.db.reader(), &query).await? <= 1)
    }
}
