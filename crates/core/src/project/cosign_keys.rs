//! A project's cosign public keys (beyond Harbor): with cosign content
//! trust on, a signature of an image must verify against one of them. The
//! content-trust rule reads them through `ProjectSettings`, which these
//! writes clear.

use super::{ProjectKey, Projects};
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{Action, Kind};
use crate::notify::trail::Operation;
use crate::policy::cosign::PublicKey;
/// A stored key as the API and portal render it.
pub use berth_db::cosign_keys::CosignKey;
use berth_db::{cosign_keys as db, now_millis};

impl Projects {
    /// A project's keys (whoever may read the project).
    pub async fn cosign_keys(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
    ) -> CoreResult<Vec<CosignKey>> {
        let view = self
            .authorized(ctx, key, Action::Read, Kind::Project)
            .await?;
        Ok(db::of_project(self.db.reader(), view.project.project_id).await?)
    }

    /// Adds a key (ECDSA P-256 in PEM, as `cosign generate-key-pair`
    /// writes `cosign.pub`); its id. Project administrators only.
    pub async fn add_cosign_key(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        name: &str,
        pem: &str,
    ) -> CoreResult<i64> {
        let work = async {
            let view = self
                .authorized(ctx, key, Action::Update, Kind::Metadata)
                .await?;
            let name = name.trim();
            if name.is_empty() || name.len() > 255 {
                return Err(CoreError::BadRequest(
                    "a key needs a name of 1 to 255 characters".into(),
                ));
            }
            PublicKey::parse(pem).map_err(CoreError::BadRequest)?;
            let id = db::insert(
                self.db.writer(),
                view.project.project_id,
                name,
                pem.trim(),
                now_millis(),
            )
            .await
            .map_err(|e| CoreError::taken(e, format!("the project has a key named {name:?}")))?;
            self.settings.forget(&view.project.name);
            Ok(id)
        };
        self.audited(ctx, Operation::Update, key, work).await
    }

    /// Deletes a key. Project administrators only.
    pub async fn delete_cosign_key(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        id: i64,
    ) -> CoreResult<()> {
        let work = async {
            let view = self
                .authorized(ctx, key, Action::Update, Kind::Metadata)
                .await?;
            if !db::delete(self.db.writer(), view.project.project_id, id).await? {
                return Err(CoreError::NotFound(format!("cosign key {id} not found")));
            }
            self.settings.forget(&view.project.name);
            Ok(())
        };
        self.audited(ctx, Operation::Update, key, work).await
    }
}
