//! An image's SBOM as an SPDX 2.3 JSON document.

use crate::inventory::Inventory;
use serde_json::{json, Value};

/// Media type of the SBOM document.
pub const SPDX_JSON: &str = "application/spdx+json";

/// What the document is about.
pub struct Subject<'a> {
    /// `project/repository`.
    pub repository: &'a str,
    pub digest: &'a str,
    /// A unique URI for this document.
    pub namespace: &'a str,
    /// RFC 3339.
    pub created: &'a str,
    /// `Berth-0.1.0`.
    pub tool: &'a str,
}

/// The SPDX document: the image, which contains its OS (when known) and
/// every package found, each with its package URL.
pub fn spdx(inv: &Inventory, s: &Subject) -> Value {
    let image = "SPDXRef-Image";
    let mut packages = vec![json!({
        "name": s.repository,
        "SPDXID": image,
        "versionInfo": s.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!("pkg:oci/{}@{}", s.repository.rsplit('/').next().unwrap_or(s.repository), s.digest.replace(':', "%3A")),
        }],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image,
    })];
    if let Some(os) = &inv.os {
        packages.push(json!({
            "name": os.id,
            "SPDXID": "SPDXRef-OperatingSystem",
            "versionInfo": os.version_id,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        }));
        relationships.push(contains(image, "SPDXRef-OperatingSystem"));
    }
    for (n, p) in inv.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{n}");
        let mut package = json!({
            "name": p.name,
            "SPDXID": id,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "sourceInfo": format!("found in {}", p.path),
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl(inv.os.as_ref()),
            }],
            "primaryPackagePurpose": "LIBRARY",
        });
        // Declared licenses are free text in the package databases, not
        // always SPDX expressions; they go in a comment rather than be
        // passed off as one.
        if let Some(license) = &p.license {
            package["licenseComments"] = json!(format!("declared: {license}"));
        }
        packages.push(package);
        relationships.push(contains(image, &id));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{}", s.repository, s.digest),
        "documentNamespace": s.namespace,
        "creationInfo": {
            "created": s.created,
            "creators": [format!("Tool: {}", s.tool)],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

fn contains(whole: &str, part: &str) -> Value {
    json!({
        "spdxElementId": whole,
        "relationshipType": "CONTAINS",
        "relatedSpdxElement": part,
    })
}
