//! Docker registry token auth: the signing key, issuing tokens for the
//! scopes a caller may have, and verifying tokens presented on `/v2`.

use super::context::SecurityContext;
use super::rbac::{can, Action, Kind, ProjectRef, Resource};
use super::secrets::Secrets;
use crate::error::{CoreError, CoreResult};
use crate::project::Projects;
use base64::Engine;
use berth_db::{system_keys, Db};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// The token issuer Harbor names in its tokens.
pub const ISSUER: &str = "harbor-token-issuer";
/// The service (audience) Harbor's registry expects.
pub const SERVICE: &str = "harbor-registry";
/// The signing key's name among the shared keys.
const KEY_NAME: &str = "token_signing_key";
/// Where versions before the key moved to the database kept it.
const LEGACY_KEY_FILE: &str = "token-signing-key.p8";
/// Verified tokens remembered, so a hot client is not re-verified per request.
const CACHE_LIMIT: usize = 10_000;

/// One granted resource in a token's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    access: Vec<Access>,
}

/// A token that passed verification.
#[derive(Debug, Clone)]
pub struct Verified {
    pub subject: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub access: Vec<Access>,
}

impl Verified {
    /// Whether the token grants `action` on a repository.
    pub fn allows(&self, repository: &str, action: &str) -> bool {
        self.access.iter().any(|a| {
            a.kind == "repository"
                && a.name == repository
                && a.actions.iter().any(|x| x == action || x == "*")
        })
    }

    /// Whether the token grants `action` on a repository of `project` (none
    /// when the project does not exist): a token issued before the project
    /// was created was for an older project of the same name, and grants
    /// nothing in this one.
    pub fn allows_in(&self, project: Option<&ProjectRef>, repository: &str, action: &str) -> bool {
        let fresh = project.is_some_and(|p| self.issued_at * 1000 >= p.created_at - 1000);
        fresh && self.allows(repository, action)
    }

    /// Whether the token grants the catalog.
    pub fn allows_catalog(&self) -> bool {
        self.access.iter().any(|a| {
            a.kind == "registry" && a.name == "catalog" && a.actions.iter().any(|x| x == "*")
        })
    }
}

/// An issued token as the token endpoint returns it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
    pub issued_at: i64,
}

/// Issues and verifies ES256-signed registry tokens.
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    cache: Mutex<HashMap<String, Verified>>,
}

impl TokenService {
    /// The signing key every replica shares: kept in the database sealed
    /// under the secret key, made at the first start — or taken from the
    /// file an earlier version kept in `data_dir`, so the tokens it issued
    /// stay valid.
    pub async fn load_or_create(db: &Db, secrets: &Secrets, data_dir: &Path) -> CoreResult<Self> {
        let b64 = base64::engine::general_purpose::STANDARD;
        if system_keys::get(db.reader(), KEY_NAME).await?.is_none() {
            let legacy = data_dir.join(LEGACY_KEY_FILE);
            let pkcs8 = match std::fs::read(&legacy) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let rng = ring::rand::SystemRandom::new();
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                        .map_err(|_| {
                            CoreError::Internal("generating the token signing key".into())
                        })?
                        .as_ref()
                        .to_vec()
                }
                Err(e) => {
                    return Err(CoreError::Internal(format!(
                        "reading {}: {e}",
                        legacy.display()
                    )))
                }
            };
            let sealed = secrets.seal(&b64.encode(pkcs8))?;
            // Replicas starting together: the first one's key stays.
            system_keys::insert_absent(db.writer(), KEY_NAME, &sealed, berth_db::now_millis())
                .await?;
        }
        let sealed = (system_keys::get(db.writer(), KEY_NAME).await?)
            .ok_or_else(|| CoreError::Internal("the token signing key vanished".into()))?;
        let pkcs8 = (secrets.open(&sealed).ok())
            .and_then(|k| b64.decode(k).ok())
            .ok_or_else(|| {
                CoreError::Internal(
                    "the token signing key in the database cannot be opened with this secret key: \
                     every Berth on one database needs the same secret key (--secret-key-file)"
                        .into(),
                )
            })?;
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|_| {
            CoreError::Internal("the token signing key is not a P-256 PKCS#8 key".into())
        })?;
        let public = pair.public_key().as_ref();
        let digest = ring::digest::digest(&ring::digest::SHA256, public);
        let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..15]);
        Ok(TokenService {
            encoding: EncodingKey::from_ec_der(&pkcs8),
            decoding: DecodingKey::from_ec_der(public),
            kid,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Signs a token for `subject` with the given access, valid for `expiry_secs`.
    pub fn issue(
        &self,
        subject: &str,
        access: Vec<Access>,
        expiry_secs: i64,
    ) -> CoreResult<IssuedToken> {
        let now = berth_db::now_millis() / 1000;
        let claims = Claims {
            iss: ISSUER.into(),
            sub: subject.into(),
            aud: SERVICE.into(),
            exp: now + expiry_secs,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            access,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| CoreError::Internal(format!("signing a token: {e}")))?;
        Ok(IssuedToken {
            token,
            expires_in: expiry_secs,
            issued_at: now,
        })
    }

    /// Verifies signature (ES256 only), issuer, audience, expiry and not-before.
    pub fn verify(&self, token: &str) -> Option<Verified> {
        let now = berth_db::now_millis() / 1000;
        {
            let cache = crate::lock(&self.cache);
            if let Some(v) = cache.get(token) {
                return (v.expires_at > now).then(|| v.clone());
            }
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[SERVICE]);
        validation.set_issuer(&[ISSUER]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        let v = Verified {
            subject: data.claims.sub,
            issued_at: data.claims.iat,
            expires_at: data.claims.exp,
            access: data.claims.access,
        };
        let mut cache = crate::lock(&self.cache);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(token.to_string(), v.clone());
        Some(v)
    }
}

/// Resolves requested scopes (`repository:<name>:<actions>`,
/// `registry:catalog:*`) to what the caller may actually do.
pub async fn grant(
    ctx: &SecurityContext,
    projects: &Projects,
    scopes: &[String],
) -> CoreResult<Vec<Access>> {
    let mut out: Vec<Access> = Vec::new();
    for scope in scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter(|s| !s.is_empty())
    {
        let mut parts = scope.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CoreError::BadRequest(format!("invalid scope {scope:?}")));
        };
        // Repository names may carry a tag-like suffix in some clients' scopes.
        let name = name.split(':').next().unwrap_or(name);
        let granted: Vec<String> = match kind {
            "registry" if name == "catalog" => {
                if ctx.is_authenticated() && actions.split(',').any(|a| a == "*") {
                    vec!["*".into()]
                } else {
                    vec![]
                }
            }
            "repository" => repository_actions(ctx, projects, name, actions).await?,
            _ => vec![],
        };
        if let Some(existing) = out.iter_mut().find(|a| a.kind == kind && a.name == name) {
            for g in granted {
                if !existing.actions.contains(&g) {
                    existing.actions.push(g);
                }
            }
        } else {
            out.push(Access {
                kind: kind.into(),
                name: name.into(),
                actions: granted,
            });
        }
    }
    Ok(out)
}

async fn repository_actions(
    ctx: &SecurityContext,
    projects: &Projects,
    name: &str,
    actions: &str,
) -> CoreResult<Vec<String>> {
    let Ok(repo) = berth_oci::RepositoryName::parse(name) else {
        return Ok(vec![]);
    };
    let Some(project) = projects.lookup(repo.project()).await? else {
        return Ok(vec![]);
    };
    let mut granted = Vec::new();
    for action in actions.split(',') {
        let wanted: &[(&str, Action)] = match action {
            "pull" => &[("pull", Action::Pull)],
            "push" => &[("push", Action::Push)],
            "delete" => &[("delete", Action::Delete)],
            "*" => &[
                ("pull", Action::Pull),
                ("push", Action::Push),
                ("delete", Action::Delete),
            ],
            _ => &[],
        };
        for (label, a) in wanted {
            if can(ctx, *a, Resource::Project(project, Kind::Repository)).await?
                && !granted.iter().any(|g| g == label)
            {
                granted.push((*label).to_string());
            }
        }
    }
    // A scan's robot asks for `pull` as any client does; its token also
    // carries `scanner-pull`, which the pull rules let through (Harbor's
    // token service adds it the same way).
    let resource = Resource::Project(project, Kind::Repository);
    if granted.iter().any(|g| g == "pull") && can(ctx, Action::ScannerPull, resource).await? {
        granted.push("scanner-pull".into());
    }
    Ok(granted)
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> CoreResult<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(|e| CoreError::Internal(format!("writing {}: {e}", path.display())))
}
