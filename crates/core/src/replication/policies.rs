//! Replication rules (`/replication/policies`): what to copy between this
//! registry and an endpoint, when, and how; Harbor's fields and checks.

use super::filters::Filters;
use crate::error::{CoreError, CoreResult};
use crate::jobs::cron_for;
/// A stored rule.
pub use berth_db::replication::Policy;
use serde::{Deserialize, Serialize};

/// A filter as Harbor's API writes one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterSpec {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub value: serde_json::Value,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub decoration: String,
}

/// A rule as a client writes it (Harbor's `ReplicationPolicy`).
#[derive(Debug, Clone, Default)]
pub struct PolicySpec {
    pub name: String,
    pub description: String,
    /// 0 (or none): this registry.
    pub src_registry_id: i64,
    pub dest_registry_id: i64,
    pub dest_namespace: String,
    /// None: -1, Harbor's legacy mode.
    pub dest_namespace_replace_count: Option<i64>,
    pub filters: Vec<FilterSpec>,
    /// Empty: `manual`.
    pub trigger_type: String,
    pub cron: String,
    pub replicate_deletion: bool,
    pub override_: bool,
    pub enabled: bool,
    pub speed: Option<i64>,
    pub copy_by_chunk: Option<bool>,
    pub single_active: Option<bool>,
}

/// Trigger types.
pub const MANUAL: &str = "manual";
pub const SCHEDULED: &str = "scheduled";
pub const EVENT_BASED: &str = "event_based";

impl PolicySpec {
    /// Checks what Harbor checks, plus what Berth cannot do yet, and gives
    /// the row to store (`id`, creator and times left to the caller).
    pub(crate) fn checked(&self) -> CoreResult<Policy> {
        let bad = |m: String| Err(CoreError::BadRequest(m));
        let name = self.name.trim();
        if name.is_empty() {
            return bad("empty name".into());
        }
        if (self.src_registry_id != 0) == (self.dest_registry_id != 0) {
            return bad("either src_registry or dest_registry should be empty and the other one shouldn't be empty".into());
        }
        Filters::parse(&self.filters)?;
        if !self.dest_namespace.is_empty() && !namespace_ok(&self.dest_namespace) {
            return bad(format!(
                "invalid destination namespace: {}",
                self.dest_namespace
            ));
        }
        let replace_count = self.dest_namespace_replace_count.unwrap_or(-1);
        if !(-128..=127).contains(&replace_count) {
            return bad(format!(
                "dest_namespace_replace_count must be between -128 and 127, not {replace_count}"
            ));
        }
        let trigger = match self.trigger_type.as_str() {
            "" => MANUAL,
            t @ (MANUAL | EVENT_BASED | SCHEDULED) => t,
            _ => return bad("invalid trigger type".into()),
        };
        let mut cron = String::new();
        if trigger == SCHEDULED {
            cron = self.cron.trim().to_string();
            if cron.is_empty() {
                return bad(format!(
                    "the cron string cannot be empty when the trigger type is {SCHEDULED}"
                ));
            }
            if cron_for("Custom", Some(&cron)).is_err() {
                return bad(format!("invalid cron string for scheduled trigger: {cron}"));
            }
            let fields: Vec<&str> = cron.split(' ').collect();
            if fields[0] != "0" {
                return bad(
                    "the 1st field (indicating Seconds of time) of the cron setting must be 0"
                        .into(),
                );
            }
            if fields.get(1) == Some(&"*") {
                return bad("* is not allowed for the Minutes field of the cron setting of replication policy".into());
            }
        }
        let single_active = self.single_active.unwrap_or(false);
        if trigger == EVENT_BASED && single_active {
            return bad("single active replication is not allowed for event_based triggers".into());
        }
        // Events are this registry's: a rule pulling from elsewhere would
        // never hear of one.
        if trigger == EVENT_BASED && self.src_registry_id != 0 {
            return bad(
                "the event_based trigger replicates pushes and deletions made here: \
                 it needs this registry as the source"
                    .into(),
            );
        }
        let filters =
            serde_json::to_string(&self.filters).map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(Policy {
            name: name.to_string(),
            description: self.description.clone(),
            src_registry_id: self.src_registry_id,
            dest_registry_id: self.dest_registry_id,
            dest_namespace: self.dest_namespace.clone(),
            dest_namespace_replace_count: replace_count,
            filters,
            trigger_type: trigger.to_string(),
            trigger_cron: cron,
            replicate_deletion: self.replicate_deletion,
            override_: self.override_,
            enabled: self.enabled,
            speed: self.speed.unwrap_or(0).max(0),
            copy_by_chunk: self.copy_by_chunk.unwrap_or(false),
            single_active,
            ..Policy::default()
        })
    }
}

/// Whether a namespace is what Harbor takes: path components of lower-case
/// letters and digits, joined inside by single `.`, `_` or `-`.
fn namespace_ok(ns: &str) -> bool {
    ns.split('/').all(|c| {
        let b = c.as_bytes();
        let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        !b.is_empty()
            && alnum(&b[0])
            && alnum(&b[b.len() - 1])
            && b.iter().all(|x| alnum(x) || b"._-".contains(x))
            && !b.windows(2).any(|w| !alnum(&w[0]) && !alnum(&w[1]))
    })
}

/// A stored rule's filters, as written.
pub fn filter_specs(p: &Policy) -> Vec<FilterSpec> {
    serde_json::from_str(&p.filters).unwrap_or_default()
}

/// Where a repository goes at the destination (Harbor's
/// `replaceNamespace`): the namespace replaces the first `replace_count`
/// path components (all but the last when negative, the legacy mode);
/// `only_two`: the destination takes exactly `namespace/name`.
pub fn destination_name(
    repository: &str,
    namespace: &str,
    replace_count: i64,
    only_two: bool,
) -> Result<String, String> {
    let parts: Vec<&str> = repository.split('/').collect();
    let n = parts.len();
    let name = parts[n - 1];
    let dst = if namespace.is_empty() {
        repository.to_string()
    } else if replace_count < 0 {
        format!("{namespace}/{name}")
    } else if replace_count as usize > n - 1 {
        return Err(format!(
            "the source repository {repository:?} contains only {} path components {:?} \
             excepting the last one, but the destination namespace flattening level is {replace_count}",
            n - 1,
            &parts[..n - 1]
        ));
    } else {
        let mut kept = vec![namespace];
        kept.extend(&parts[replace_count as usize..]);
        kept.join("/")
    };
    let count = dst.split('/').count();
    if only_two && count != 2 {
        return Err(format!(
            "the destination repository {dst:?} contains {count} path components, \
             but the destination registry only supports 2"
        ));
    }
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_replaced_as_harbor_replaces_them() {
        let d = |count| destination_name("a/b/c/image", "n", count, false);
        assert_eq!(d(-1).unwrap(), "n/image");
        assert_eq!(d(0).unwrap(), "n/a/b/c/image");
        assert_eq!(d(1).unwrap(), "n/b/c/image");
        assert_eq!(d(2).unwrap(), "n/c/image");
        assert_eq!(d(3).unwrap(), "n/image");
        assert!(d(4).is_err());
        assert_eq!(
            destination_name("a/b", "", 2, false).unwrap(),
            "a/b",
            "no namespace: the name as it was"
        );
        assert!(destination_name("a/b/c", "", -1, true).is_err());
        assert_eq!(destination_name("a/b/c", "x", -1, true).unwrap(), "x/c");
    }

    #[test]
    fn rules_are_checked_as_harbor_checks_them() {
        let ok = PolicySpec {
            name: "r".into(),
            dest_registry_id: 1,
            ..PolicySpec::default()
        };
        assert!(ok.checked().is_ok());
        let err = |spec: PolicySpec| spec.checked().unwrap_err().to_string();
        assert!(err(PolicySpec {
            src_registry_id: 2,
            ..ok.clone()
        })
        .starts_with("either src_registry"));
        let scheduled = |cron: &str| PolicySpec {
            trigger_type: SCHEDULED.into(),
            cron: cron.into(),
            ..ok.clone()
        };
        assert!(scheduled("0 0 * * * *").checked().is_ok());
        assert!(err(scheduled("5 0 * * * *")).starts_with("the 1st field"));
        assert!(err(scheduled("0 * * * * *")).starts_with("* is not allowed"));
        assert!(err(scheduled("nonsense")).starts_with("invalid cron string"));
        assert_eq!(
            err(PolicySpec {
                trigger_type: EVENT_BASED.into(),
                single_active: Some(true),
                ..ok.clone()
            }),
            "single active replication is not allowed for event_based triggers"
        );
        assert!(err(PolicySpec {
            dest_namespace: "Bad Name".into(),
            ..ok.clone()
        })
        .starts_with("invalid destination namespace"));
    }
}
