//! A manifest an index lists cannot be deleted on its own: the index would
//! refer to nothing (delete the index, and its children go with it).

use super::{Policy, Write};
use crate::registry::error::RegistryError;
use berth_db::{artifacts, Tx};
use futures_util::future::BoxFuture;

pub struct ReferencedByIndex;

impl Policy for ReferencedByIndex {
    fn check_write<'a>(
        &'a self,
        tx: &'a mut Tx,
        write: &'a Write<'a>,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            if let Write::DeleteArtifact { artifact_id, .. } = write {
                if artifacts::has_parent(&mut **tx, *artifact_id).await? {
                    return Err(RegistryError::Referenced);
                }
            }
            Ok(())
        })
    }
}
