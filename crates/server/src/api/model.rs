//! The JSON bodies of Harbor's v2.0 API, as Berth sends them.
//!
//! Handlers serialize these types and the OpenAPI document describes the
//! same types, so the published schema cannot drift from what is sent.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Harbor's error envelope.
#[derive(Serialize, ToSchema)]
pub struct Errors {
    pub errors: Vec<Error>,
}

/// One error.
#[derive(Serialize, ToSchema)]
pub struct Error {
    /// `BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`, …
    pub code: String,
    pub message: String,
}

/// `GET /api/version`.
#[derive(Serialize, ToSchema)]
pub struct ApiVersion {
    pub version: String,
}

/// Overall health and each component's.
#[derive(Serialize, ToSchema)]
pub struct OverallHealthStatus {
    /// `healthy` or `unhealthy`.
    pub status: String,
    pub components: Vec<ComponentHealthStatus>,
}

/// One component's health.
#[derive(Serialize, ToSchema)]
pub struct ComponentHealthStatus {
    pub name: String,
    pub status: String,
    /// Why it is unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A user (never its password).
#[derive(Serialize, ToSchema)]
pub struct UserResp {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub realname: String,
    pub comment: String,
    pub sysadmin_flag: bool,
    pub admin_role_in_auth: bool,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    /// For a user the OIDC provider signs in, read by themselves or an
    /// administrator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc_user_meta: Option<OidcUserInfo>,
}

/// What is kept of a user the OIDC provider signs in.
#[derive(Serialize, ToSchema)]
pub struct OidcUserInfo {
    pub id: i64,
    pub user_id: i64,
    /// The provider's subject followed by its issuer.
    pub subiss: String,
    /// The CLI secret: the password of docker, skopeo, helm.
    pub secret: String,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
}

/// A user found by `/users/search`.
#[derive(Serialize, ToSchema)]
pub struct UserSearchRespItem {
    pub user_id: i64,
    pub username: String,
}

/// A resource and an action on it.
#[derive(Serialize, ToSchema)]
pub struct Permission {
    pub resource: String,
    pub action: String,
}

/// What robots may be granted, system-wide and in a project.
#[derive(Serialize, ToSchema)]
pub struct Permissions {
    pub system: Vec<Permission>,
    pub project: Vec<Permission>,
}

/// A project.
#[derive(Serialize, ToSchema)]
pub struct Project {
    pub project_id: i64,
    pub owner_id: i64,
    pub owner_name: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// A proxy-cache project's upstream registry endpoint.
    pub registry_id: Option<i64>,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    pub deleted: bool,
    /// Whether the caller may change the project's visibility.
    pub togglable: bool,
    pub current_user_role_id: i64,
    pub current_user_role_ids: Vec<i64>,
    pub repo_count: i64,
    /// `public`, `auto_scan`, `enable_content_trust`, … as strings.
    pub metadata: BTreeMap<String, String>,
    pub cve_allowlist: CveAllowlist,
}

/// A CVE allowlist: the system's (`project_id` 0) or a project's.
#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct CveAllowlist {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id: i64,
    #[serde(default)]
    pub project_id: i64,
    /// Seconds since the epoch; absent: it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub items: Vec<CveAllowlistItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub creation_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub update_time: Option<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl CveAllowlist {
    /// As Harbor shows a stored allowlist (one never set has no id or times).
    pub fn of(l: berth_core::project::allowlist::CveAllowlist) -> Self {
        let set = l.id != 0;
        CveAllowlist {
            id: l.id,
            project_id: l.project_id,
            expires_at: l.expires_at,
            items: (l.items.into_iter())
                .map(|cve_id| CveAllowlistItem { cve_id })
                .collect(),
            creation_time: set.then(|| crate::api::timestamp(l.creation_time)),
            update_time: set.then(|| crate::api::timestamp(l.update_time)),
        }
    }

    /// What a request asks to set.
    pub fn change(&self) -> berth_core::project::allowlist::AllowlistChange {
        berth_core::project::allowlist::AllowlistChange {
            expires_at: self.expires_at,
            items: self.items.iter().map(|i| i.cve_id.clone()).collect(),
        }
    }
}

/// One allowed CVE.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CveAllowlistItem {
    pub cve_id: String,
}

/// Whether a project can be deleted, and why not.
#[derive(Serialize, ToSchema)]
pub struct ProjectDeletable {
    pub deletable: bool,
    pub message: String,
}

/// Counts about a project.
#[derive(Serialize, ToSchema)]
pub struct ProjectSummary {
    pub repo_count: i64,
    pub project_admin_count: i64,
    pub maintainer_count: i64,
    pub developer_count: i64,
    pub guest_count: i64,
    pub limited_guest_count: i64,
    /// Absent when quotas are off (or the caller may not read them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<ProjectSummaryQuota>,
}

/// A project's limits and use, by resource (`storage`, in bytes).
#[derive(Serialize, ToSchema)]
pub struct ProjectSummaryQuota {
    /// -1: unlimited.
    pub hard: BTreeMap<String, i64>,
    pub used: BTreeMap<String, i64>,
}

/// A project member.
#[derive(Serialize, ToSchema)]
pub struct ProjectMemberEntity {
    pub id: i64,
    pub project_id: i64,
    pub entity_name: String,
    pub role_name: String,
    pub role_id: i64,
    pub entity_id: i64,
    /// `u` for users.
    pub entity_type: String,
}

/// A repository.
#[derive(Serialize, ToSchema)]
pub struct Repository {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub artifact_count: i64,
    pub pull_count: i64,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
}

/// An artifact.
#[derive(Serialize, ToSchema)]
pub struct Artifact {
    pub id: i64,
    /// Harbor's type: `IMAGE`, `CHART`, `CNAB`, `WASM`, `SBOM`, `CNAI`, a
    /// vendor's own type from its config media type, or `UNKNOWN`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The config's media type, or an index's own.
    pub media_type: String,
    pub manifest_media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub project_id: i64,
    pub repository_id: i64,
    pub repository_name: String,
    pub digest: String,
    pub size: i64,
    /// The digest of its icon (`GET /icons/{digest}`).
    pub icon: String,
    #[schema(format = DateTime)]
    pub push_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub pull_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Read from the config: an image's architecture, os, created, author
    /// and config; a chart's Chart.yaml fields; …
    #[schema(value_type = Object)]
    pub extra_attrs: serde_json::Map<String, serde_json::Value>,
    /// An index's children.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ArtifactReference>,
    /// Where its additions are (`build_history` for images).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub addition_links: BTreeMap<String, AdditionLink>,
    pub labels: Vec<Label>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accessories: Option<Vec<Accessory>>,
    /// The scan's state and findings' counts, by report type
    /// (`with_scan_overview=true`, once scanned).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub scan_overview: Option<BTreeMap<String, serde_json::Value>>,
    /// The SBOM generation's state and the SBOM's digest
    /// (`with_sbom_overview=true`, once generated).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub sbom_overview: Option<serde_json::Value>,
}

/// A child of an index.
#[derive(Serialize, ToSchema)]
pub struct ArtifactReference {
    pub parent_id: i64,
    pub child_id: i64,
    pub child_digest: String,
    /// As the index lists it: architecture, os, variant, `'os.version'` …
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub platform: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// Where an addition of an artifact is.
#[derive(Serialize, ToSchema)]
pub struct AdditionLink {
    pub href: String,
    /// Whether `href` is an absolute URL (never: it is a path).
    pub absolute: bool,
}

/// An icon (`content` in base64).
#[derive(Serialize, ToSchema)]
pub struct Icon {
    #[serde(rename = "content-type")]
    pub content_type: String,
    pub content: String,
}

/// A quota: its project (`ref`), hard limits and use by resource
/// (`storage`, in bytes; -1 unlimited).
#[derive(Serialize, ToSchema)]
pub struct Quota {
    pub id: i64,
    #[serde(rename = "ref")]
    pub reference: QuotaRef,
    pub hard: BTreeMap<String, i64>,
    pub used: BTreeMap<String, i64>,
    pub creation_time: String,
    pub update_time: String,
}

/// The project a quota is of.
#[derive(Serialize, ToSchema)]
pub struct QuotaRef {
    pub id: i64,
    pub name: String,
    pub owner_name: String,
}

/// A label: global (`scope` g, `project_id` 0) or a project's (`p`).
#[derive(Serialize, ToSchema)]
pub struct Label {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub color: String,
    pub scope: String,
    pub project_id: i64,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
}

/// A tag.
#[derive(Serialize, ToSchema)]
pub struct Tag {
    pub id: i64,
    pub repository_id: i64,
    pub artifact_id: i64,
    pub name: String,
    #[schema(format = DateTime)]
    pub push_time: String,
    /// The last pull by this tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub pull_time: Option<String>,
    pub immutable: bool,
}

/// A signature, SBOM or other artifact attached to another.
#[derive(Serialize, ToSchema)]
pub struct Accessory {
    pub id: i64,
    pub artifact_id: i64,
    pub subject_artifact_id: i64,
    pub subject_artifact_digest: String,
    pub subject_artifact_repo: String,
    pub size: i64,
    pub digest: String,
    /// `signature.cosign`, `signature.notation`, `sbom.harbor`,
    /// `accelerator.nydus` or `subject.accessory`.
    #[serde(rename = "type")]
    pub kind: String,
    pub icon: String,
    #[schema(format = DateTime)]
    pub creation_time: String,
}

/// One step of an image's build history. Documentation only: the entries
/// are passed on from the image config as they are.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BuildHistoryEntry {
    #[schema(format = DateTime)]
    pub created: Option<String>,
    pub created_by: Option<String>,
    pub author: Option<String>,
    pub comment: Option<String>,
    pub empty_layer: Option<bool>,
}

/// A chart's dependency, with Helm's fields. Documentation only: the
/// entries are read from the chart's archive.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChartDependency {
    pub name: String,
    pub version: Option<String>,
    pub repository: String,
    pub condition: Option<String>,
    pub tags: Option<Vec<String>>,
    pub enabled: Option<bool>,
    #[schema(rename = "import-values")]
    pub import_values: Option<Vec<serde_json::Value>>,
    pub alias: Option<String>,
}

/// An addition sent as JSON: an image's build history, a chart's
/// dependencies, or an image's vulnerability reports by report type.
pub struct AdditionJson;

impl utoipa::PartialSchema for AdditionJson {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder};
        use utoipa::openapi::Ref;
        let list_of = |name| ArrayBuilder::new().items(Ref::from_schema_name(name));
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let report = ObjectBuilder::new()
            .description(Some(
                "Harbor's vulnerability report: generated_at, scanner, severity, vulnerabilities",
            ))
            .property(
                "generated_at",
                ObjectBuilder::new().schema_type(Type::String),
            )
            .property("scanner", ObjectBuilder::new().schema_type(Type::Object))
            .property("severity", ObjectBuilder::new().schema_type(Type::String))
            .property(
                "vulnerabilities",
                ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)),
            );
        AnyOfBuilder::new()
            .item(list_of("BuildHistoryEntry"))
            .item(list_of("ChartDependency"))
            .item(ObjectBuilder::new().additional_properties(Some(report)))
            .into()
    }
}

impl ToSchema for AdditionJson {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push(("BuildHistoryEntry".into(), BuildHistoryEntry::schema()));
        schemas.push(("ChartDependency".into(), ChartDependency::schema()));
    }
}

/// A robot account (never its secret).
#[derive(Serialize, ToSchema)]
pub struct Robot {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// `system` or `project`.
    pub level: String,
    /// Days; -1 never expires.
    pub duration: i64,
    pub editable: bool,
    pub disable: bool,
    /// Unix seconds; -1 never.
    pub expires_at: i64,
    pub permissions: Vec<RobotPermission>,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
}

/// What a robot may do in one namespace.
#[derive(Serialize, ToSchema)]
pub struct RobotPermission {
    /// `system` or `project`.
    pub kind: String,
    /// `/`, a project name, or `*` for every project.
    pub namespace: String,
    pub access: Vec<Access>,
}

/// One granted action.
#[derive(Serialize, ToSchema)]
pub struct Access {
    pub resource: String,
    pub action: String,
    pub effect: String,
}

/// A new robot with its secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct RobotCreated {
    pub id: i64,
    pub name: String,
    pub secret: String,
    #[schema(format = DateTime)]
    pub creation_time: String,
    pub expires_at: i64,
}

/// A robot's new secret.
#[derive(Serialize, ToSchema)]
pub struct RobotSec {
    pub secret: String,
}

/// What the portal needs to know; the `Option` fields only for signed-in callers.
#[derive(Serialize, ToSchema)]
pub struct GeneralInfo {
    pub auth_mode: String,
    pub primary_auth_mode: bool,
    pub self_registration: bool,
    pub banner_message: String,
    /// The OIDC provider's name in OIDC mode, else empty.
    pub oidc_provider_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harbor_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub current_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_creation_restriction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_ca_root: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_storage_provider_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_enable: Option<bool>,
}

/// Project and repository counts over what the caller may see.
#[derive(Serialize, ToSchema)]
pub struct Statistic {
    pub public_project_count: i64,
    pub private_project_count: i64,
    pub total_project_count: i64,
    pub public_repo_count: i64,
    pub private_repo_count: i64,
    pub total_repo_count: i64,
    pub total_storage_consumption: i64,
}

/// Projects and repositories whose names match a search.
#[derive(Serialize, ToSchema)]
pub struct Search {
    pub project: Vec<Project>,
    pub repository: Vec<SearchRepository>,
}

/// A repository found by a search.
#[derive(Serialize, ToSchema)]
pub struct SearchRepository {
    pub project_id: i64,
    pub project_name: String,
    pub project_public: bool,
    pub repository_name: String,
    pub pull_count: i64,
    pub artifact_count: i64,
}

/// One setting and whether it can be changed through the API.
#[derive(Serialize, ToSchema)]
pub struct ConfigurationItem {
    pub value: serde_json::Value,
    pub editable: bool,
}

/// One run of a system job (garbage collection, audit log purge).
#[derive(Serialize, ToSchema)]
pub struct ExecHistory {
    pub id: i64,
    pub job_name: String,
    /// `MANUAL` or `SCHEDULE`.
    pub job_kind: String,
    /// The parameters, as a JSON string.
    pub job_parameters: String,
    /// How it was started: type `Manual` or `Schedule` (a run), or the
    /// schedule itself.
    pub schedule: ScheduleObj,
    /// `Pending`, `Running`, `Success`, `Error` or `Stopped`.
    pub job_status: String,
    pub deleted: bool,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
}

/// When a job runs.
#[derive(Serialize, serde::Deserialize, ToSchema, Clone)]
pub struct ScheduleObj {
    /// `Hourly`, `Daily`, `Weekly`, `Custom`, `Manual`, `Schedule` or `None`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Six fields with seconds, for `Custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub next_scheduled_time: Option<String>,
}

/// A worker pool: the job workers of one Berth process.
#[derive(Serialize, ToSchema)]
pub struct WorkerPool {
    pub pid: i64,
    pub worker_pool_id: String,
    #[schema(format = DateTime)]
    pub start_at: String,
    #[schema(format = DateTime)]
    pub heartbeat_at: String,
    pub concurrency: i64,
    pub host: String,
}

/// A worker and the job it runs, if any.
#[derive(Serialize, ToSchema)]
pub struct Worker {
    pub id: String,
    pub pool_id: String,
    pub job_name: String,
    pub job_id: String,
    /// When its job started (absent while idle).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub start_at: Option<String>,
    /// What its job last reported.
    pub check_in: String,
    /// When its job last renewed its lease (absent while idle).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub checkin_at: Option<String>,
}

/// Pending jobs of one type.
#[derive(Serialize, ToSchema)]
pub struct JobQueue {
    pub job_type: String,
    pub count: i64,
    /// Seconds the oldest pending job has waited.
    pub latency: i64,
    pub paused: bool,
}

/// A schedule.
#[derive(Serialize, ToSchema)]
pub struct ScheduleTask {
    pub id: i64,
    pub vendor_type: String,
    pub vendor_id: i64,
    pub cron: String,
    #[schema(format = DateTime)]
    pub update_time: String,
}

/// Whether a job type's scheduled runs are paused.
#[derive(Serialize, ToSchema)]
pub struct SchedulerStatus {
    pub paused: bool,
}

/// A legacy audit log entry.
#[derive(Serialize, ToSchema)]
pub struct AuditLog {
    pub id: i64,
    pub username: String,
    pub resource: String,
    pub resource_type: String,
    /// `create`, `delete` or `pull`.
    pub operation: String,
    #[schema(format = DateTime)]
    pub op_time: String,
}

/// An extended audit log entry.
#[derive(Serialize, ToSchema)]
pub struct AuditLogExt {
    pub id: i64,
    pub username: String,
    pub resource: String,
    pub resource_type: String,
    pub operation: String,
    pub operation_description: String,
    pub operation_result: bool,
    #[schema(format = DateTime)]
    pub op_time: String,
}

/// An audit event type (`create_artifact`, `login_user`, …).
#[derive(Serialize, ToSchema)]
pub struct AuditLogEventType {
    pub event_type: String,
}

/// A webhook policy.
#[derive(Serialize, ToSchema)]
pub struct WebhookPolicy {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub project_id: i64,
    pub targets: Vec<WebhookTargetObject>,
    pub event_types: Vec<String>,
    pub creator: String,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    pub enabled: bool,
}

/// Where and how a policy sends events.
#[derive(Serialize, serde::Deserialize, ToSchema)]
pub struct WebhookTargetObject {
    /// `http` or `slack`.
    #[serde(rename = "type", default)]
    pub kind: String,
    pub address: String,
    #[serde(default)]
    pub auth_header: String,
    #[serde(default)]
    pub skip_cert_verify: bool,
    /// `Default` or `CloudEvents`.
    #[serde(default)]
    pub payload_format: String,
}

/// When each policy last sent something.
#[derive(Serialize, ToSchema)]
pub struct WebhookLastTrigger {
    pub policy_name: String,
    pub event_type: String,
    pub enabled: bool,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub last_trigger_time: Option<String>,
}

/// The event types, target types and payload formats webhooks support.
#[derive(Serialize, ToSchema)]
pub struct SupportedWebhookEventTypes {
    pub event_type: Vec<String>,
    pub notify_type: Vec<String>,
    pub payload_formats: Vec<PayloadFormat>,
}

/// The payload formats of a target type.
#[derive(Serialize, ToSchema)]
pub struct PayloadFormat {
    pub notify_type: String,
    pub formats: Vec<String>,
}

/// One run of a job (a webhook delivery …).
#[derive(Serialize, ToSchema)]
pub struct Execution {
    pub id: i64,
    pub vendor_type: String,
    pub vendor_id: i64,
    pub status: String,
    pub status_message: String,
    /// `MANUAL`, `SCHEDULE` or `EVENT`.
    pub trigger: String,
    #[schema(value_type = Object)]
    pub extra_attrs: serde_json::Value,
    #[schema(format = DateTime)]
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub end_time: Option<String>,
}

/// One task of an execution.
#[derive(Serialize, ToSchema)]
pub struct Task {
    pub id: i64,
    pub execution_id: i64,
    pub status: String,
    pub status_message: String,
    pub run_count: i64,
    #[schema(format = DateTime)]
    pub creation_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub end_time: Option<String>,
}
