//! Cosign signatures checked against public keys: a signature manifest's
//! layers are simple-signing payloads naming the signed digest, each with
//! its signature in an annotation; keys are ECDSA P-256 (cosign's own).

use berth_oci::Digest;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

/// The annotation holding a layer's signature (base64).
const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// A P-256 SubjectPublicKeyInfo before its 65-byte point.
const P256_SPKI: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A public key signatures are verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    /// A key from PEM (`-----BEGIN PUBLIC KEY-----`, as `cosign
    /// generate-key-pair` writes `cosign.pub`).
    pub fn parse(pem: &str) -> Result<PublicKey, String> {
        use base64::Engine;
        let body: String = (pem.lines())
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END PUBLIC KEY-----")
            .collect();
        if body.is_empty() {
            return Err("a PEM public key (-----BEGIN PUBLIC KEY-----) is needed".into());
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| "the PEM public key is not valid base64".to_string())?;
        match der.strip_prefix(P256_SPKI) {
            Some(point) if point.len() == 65 && point[0] == 4 => Ok(PublicKey(point.to_vec())),
            _ => Err("only ECDSA P-256 public keys (cosign's own) are supported".into()),
        }
    }

    /// Whether `signature` (ASN.1 DER) signs `payload` with this key.
    pub fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.0)
            .verify(payload, signature)
            .is_ok()
    }
}

/// A signature manifest's layers: each payload's digest and size, and its signature.
pub fn signed_layers(manifest: &[u8]) -> Vec<(Digest, u64, Vec<u8>)> {
    use base64::Engine;
    #[derive(serde::Deserialize)]
    struct Manifest {
        #[serde(default)]
        layers: Vec<Layer>,
    }
    #[derive(serde::Deserialize)]
    struct Layer {
        digest: String,
        size: u64,
        #[serde(default)]
        annotations: std::collections::HashMap<String, String>,
    }
    let Ok(m) = serde_json::from_slice::<Manifest>(manifest) else {
        return Vec::new();
    };
    (m.layers.into_iter())
        .filter_map(|l| {
            let digest = Digest::parse(&l.digest).ok()?;
            let signature = base64::engine::general_purpose::STANDARD
                .decode(l.annotations.get(SIGNATURE)?)
                .ok()?;
            Some((digest, l.size, signature))
        })
        .collect()
}

/// The manifest digest a simple-signing payload says it signs.
pub fn signed_digest(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    fn pem(point: &[u8]) -> String {
        use base64::Engine;
        let der = [P256_SPKI, point].concat();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }

    #[test]
    fn a_signature_verifies_with_its_key_only() {
        let rng = ring::rand::SystemRandom::new();
        let pair = |_| {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .unwrap_or_else(|e| panic!("{e}"));
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref(), &rng)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let (mine, other) = (pair(0), pair(1));
        let payload = br#"{"critical":{"image":{"docker-manifest-digest":"sha256:ab"}}}"#;
        let sig = mine.sign(&rng, payload).unwrap_or_else(|e| panic!("{e}"));
        let key =
            PublicKey::parse(&pem(mine.public_key().as_ref())).unwrap_or_else(|e| panic!("{e}"));
        let theirs =
            PublicKey::parse(&pem(other.public_key().as_ref())).unwrap_or_else(|e| panic!("{e}"));
        assert!(key.verifies(payload, sig.as_ref()));
        assert!(!theirs.verifies(payload, sig.as_ref()));
        assert!(!key.verifies(b"other", sig.as_ref()));
        assert_eq!(signed_digest(payload).as_deref(), Some("sha256:ab"));
        assert!(PublicKey::parse("not a key").is_err());
        assert!(
            PublicKey::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err()
        );
    }
}
