//! Harbor's own API description (Swagger 2.0, vendored from a tagged
//! release) as the oracle of Berth's answers: the status must be one
//! Harbor documents for the operation, the body must validate against
//! Harbor's schema (no field Harbor does not define, every field it
//! requires, its types, no `null` where Harbor's type cannot be null), the
//! content type and the headers Harbor documents must be there. Harbor's
//! error writer answers every error with its JSON `Errors` envelope,
//! whatever an operation's document says it produces or omits, so errors
//! are held to that.

use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

const FIXTURE: &str = include_str!("../fixtures/harbor-v2.15.2-swagger.yaml");

/// Where Harbor's paths start.
const BASE: &str = "/api/v2.0";

/// Operations Berth serves that Harbor's document does not describe.
pub const BERTH_ONLY: &[(&str, &str, &str)] = &[
    (
        "get",
        "/api/version",
        "Harbor serves it too, outside its swagger document",
    ),
    (
        "get",
        "/api/v2.0/openapi.json",
        "Berth's own generated document",
    ),
    (
        "get",
        "/api/v2.0/projects/{project_name_or_id}/cosign-keys",
        "a project's cosign public keys: Harbor only asks that a signature exists",
    ),
    (
        "post",
        "/api/v2.0/projects/{project_name_or_id}/cosign-keys",
        "a project's cosign public keys: Harbor only asks that a signature exists",
    ),
    (
        "delete",
        "/api/v2.0/projects/{project_name_or_id}/cosign-keys/{key_id}",
        "a project's cosign public keys: Harbor only asks that a signature exists",
    ),
];

/// Answers that deliberately differ from Harbor's description:
/// (method, Harbor's path, status, why). Nothing else may differ.
pub const DEVIATIONS: &[(&str, &str, u16, &str)] = &[
    (
        "get",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/{addition}",
        200,
        "Harbor's document calls an addition a JSON string; Harbor, like Berth, sends the \
         addition itself: build history and dependencies as JSON arrays, values.yaml as \
         text/plain, readme.md as text/markdown",
    ),
    (
        "get",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/vulnerabilities",
        200,
        "Harbor's document calls the report a JSON string; Harbor, like Berth, sends a JSON \
         object of reports by report type ({} before a scan)",
    ),
    (
        "get",
        "/projects/{project_name_or_id}",
        404,
        "Harbor answers 404 for a project that does not exist too; its document omits it",
    ),
    (
        "get",
        "/ldap/groups/search",
        404,
        "Harbor answers 404 when no group matches too (its handler's NotFoundError); its \
         document omits it",
    ),
    (
        "post",
        "/projects/{project_name_or_id}/immutabletagrules",
        409,
        "Harbor answers 409 for a rule the project has already (its DAO's \"immutable rule \
         already exists\"); its document omits it",
    ),
];

/// Fields Berth adds to one of Harbor's definitions: (definition, field,
/// its schema, why). Everything else in the definition is still checked.
pub const ADDED_FIELDS: &[(&str, &str, &str, &str)] = &[
    (
        "ConfigurationsResponse",
        "ldap_start_tls",
        "BoolConfigItem",
        "Berth also speaks StartTLS on an ldap:// URL; Harbor's settings cannot ask for it",
    ),
    (
        "ConfigurationsResponse",
        "ldap_nested_groups",
        "BoolConfigItem",
        "Berth can count the groups a user's LDAP groups belong to; Harbor cannot",
    ),
];

/// Harbor's document, ready to check answers against.
pub struct Harbor {
    doc: Value,
    /// Harbor's definitions as JSON Schema `$defs`.
    defs: Value,
    /// How answers differed, one line each.
    pub failures: Vec<String>,
    /// (method, Harbor path) of every operation an answer was checked for.
    pub checked: BTreeSet<(String, String)>,
}

impl Harbor {
    pub fn load() -> Harbor {
        let doc: Value = serde_norway::from_str(FIXTURE).expect("Harbor's swagger parses");
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["basePath"], BASE);
        let mut defs = convert(&doc["definitions"], true);
        for (definition, field, schema, _) in ADDED_FIELDS {
            let props = &mut defs[definition]["properties"];
            assert!(props.is_object(), "Harbor defines {definition}");
            props[field] = json!({"$ref": format!("#/$defs/{schema}")});
        }
        Harbor {
            doc,
            defs,
            failures: Vec::new(),
            checked: BTreeSet::new(),
        }
    }

    /// Harbor's path for a concrete path or a template, if Harbor
    /// describes one.
    pub fn template(&self, path: &str) -> Option<String> {
        template_of(
            self.doc["paths"].as_object()?.keys(),
            path.strip_prefix(BASE)?,
        )
    }

    /// Harbor's operation id for a method on a path, if Harbor has it.
    pub fn operation_id(&self, method: &str, path: &str) -> Option<String> {
        let t = self.template(path)?;
        self.doc["paths"][&t][method]["operationId"]
            .as_str()
            .map(String::from)
    }

    fn deviation(method: &str, template: &str, status: u16) -> bool {
        DEVIATIONS
            .iter()
            .any(|(m, p, s, _)| *m == method && *p == template && *s == status)
    }

    /// Checks one answer; a difference is recorded in `failures`.
    pub fn check(
        &mut self,
        method: &str,
        path_and_query: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        let path = path_and_query.split('?').next().unwrap_or_default();
        if BERTH_ONLY
            .iter()
            .any(|(m, p, _)| *m == method && instantiates(p, path))
        {
            return;
        }
        let what = format!("{method} {path_and_query} → {status}");
        let Some(template) = self.template(path) else {
            self.failures
                .push(format!("{what}: Harbor has no such path"));
            return;
        };
        let op = &self.doc["paths"][&template][method];
        if !op.is_object() {
            self.failures
                .push(format!("{what}: Harbor has no {method} {template}"));
            return;
        }
        self.checked.insert((method.to_string(), template.clone()));
        if Self::deviation(method, &template, status) {
            return;
        }
        let mut resp = &op["responses"][status.to_string()];
        if let Some(r) = resp["$ref"].as_str() {
            let name = r.trim_start_matches("#/responses/");
            resp = &self.doc["responses"][name];
        }
        if !resp.is_object() {
            self.failures.push(format!(
                "{what}: Harbor does not answer {template} with {status}"
            ));
            return;
        }
        if let Some(documented) = resp["headers"].as_object() {
            for h in documented.keys() {
                // Link is only sent when there is another page.
                if h != "Link" && !headers.contains_key(h.as_str()) {
                    self.failures.push(format!("{what}: header {h} missing"));
                }
            }
        }
        let errors_schema = json!({"$ref": "#/definitions/Errors"});
        let schema = match &resp["schema"] {
            Value::Null if status >= 400 => &errors_schema,
            s => s,
        };
        if method == "head" || body.is_empty() {
            if !schema.is_null() && method != "head" && schema["type"] != "file" {
                self.failures
                    .push(format!("{what}: Harbor's answer has a body"));
            }
            return;
        }
        if schema.is_null() {
            self.failures.push(format!(
                "{what}: Harbor's answer has no body, Berth sent {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
            return;
        }
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        let produces = match op.get("produces") {
            Some(p) if status < 400 => p,
            _ => &self.doc["produces"],
        }
        .as_array()
        .cloned()
        .unwrap_or_default();
        if !produces.iter().any(|p| p == essence) {
            self.failures
                .push(format!("{what}: content type {ct} is not one Harbor sends"));
            return;
        }
        if essence != "application/json" {
            return;
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                self.failures.push(format!("{what}: not JSON: {e}"));
                return;
            }
        };
        let mut closed = convert(schema, false);
        closed["$defs"] = self.defs.clone();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&closed)
            .expect("Harbor's schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .take(5)
            .collect();
        if !errors.is_empty() {
            self.failures.push(format!(
                "{what}: not Harbor's {}: {}",
                schema_name(schema),
                errors.join("; ")
            ));
        }
    }
}

/// Of `templates`, the one `path` (concrete, or a template itself)
/// instantiates; literal segments win over parameters, and a parameter of
/// `path` only stands for a parameter.
pub fn template_of<'a>(templates: impl Iterator<Item = &'a String>, path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &String)> = None;
    for t in templates {
        // Harbor writes a few paths with a trailing slash and serves them without.
        let tsegs: Vec<&str> = t.trim_end_matches('/').split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut literal = 0;
        let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') {
                true
            } else if s.starts_with('{') {
                false
            } else {
                literal += 1;
                t == s
            }
        });
        if fits && best.is_none_or(|(n, _)| literal > n) {
            best = Some((literal, t));
        }
    }
    best.map(|(_, t)| t.clone())
}

fn schema_name(s: &Value) -> String {
    let r = s["$ref"].as_str().or_else(|| s["items"]["$ref"].as_str());
    r.map_or_else(|| s.to_string(), |r| r.replace("#/definitions/", ""))
}

/// A Swagger 2.0 schema as JSON Schema: `$ref`s point at `$defs`,
/// `x-nullable` admits `null` (nothing else does), and objects are closed
/// to fields they do not name. `names` says `v` maps names to schemas
/// (`properties`, `definitions`) rather than being a schema.
fn convert(v: &Value, names: bool) -> Value {
    match v {
        Value::Object(m) if names => Value::Object(
            m.iter()
                .map(|(k, s)| (k.clone(), convert(s, false)))
                .collect(),
        ),
        Value::Object(m) => {
            let nullable = m.get("x-nullable") == Some(&Value::Bool(true));
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                let r = json!({"$ref": r.replace("#/definitions/", "#/$defs/")});
                return if nullable {
                    json!({"anyOf": [r, {"type": "null"}]})
                } else {
                    r
                };
            }
            let mut out = Map::new();
            for (k, s) in m {
                if k.starts_with("x-") || k == "example" {
                    continue;
                }
                // go-swagger makes `additionalProperties: {type: object}` a
                // map of any values, and Harbor fills such maps (extra
                // attributes, parameters) with strings, numbers and booleans.
                if k == "additionalProperties" && *s == json!({"type": "object"}) {
                    out.insert(k.clone(), Value::Bool(true));
                    continue;
                }
                out.insert(k.clone(), convert(s, k == "properties"));
            }
            if out.contains_key("properties") && !out.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            if nullable {
                if let Some(t) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|s| convert(s, false)).collect()),
        _ => v.clone(),
    }
}

/// Whether `path` is `template` with each `{…}` segment filled in.
fn instantiates(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}
