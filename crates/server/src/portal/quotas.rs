//! Project quotas in the portal (`/harbor/project-quotas`): every
//! project's storage against its limit, sorted by use, with the limit
//! editable by system administrators.

use super::project::quota_bar;
use super::projects::pager;
use super::{csrf_field, head, outcome, page, refusal, Col, Listing, Posted, Viewer};
use crate::State;
use axum::extract::State as S;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::query::Filter;
use berth_core::CoreError;
use maud::html;

const PAGE: &str = "/harbor/project-quotas";
const PER_PAGE: i64 = 25;

pub fn router() -> Router<State> {
    Router::new().route(PAGE, get(list).post(set_limit))
}

/// A storage limit as people write it: `-1` (unlimited), bytes, or a
/// number with a unit (`500 MiB`, `2GiB`, `1.5 TiB`).
pub fn parse_limit(text: &str) -> Result<i64, CoreError> {
    let t = text.trim();
    let bad = || {
        CoreError::BadRequest(format!(
            "{t:?} is not a storage limit: write -1 (unlimited), or a size such as 500 MiB or 2 GiB"
        ))
    };
    if t == "-1" {
        return Ok(-1);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "kb" | "k" => 1 << 10,
        "mib" | "mb" | "m" => 1 << 20,
        "gib" | "gb" | "g" => 1 << 30,
        "tib" | "tb" | "t" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = (number * scale as f64).round();
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// A limit as the forms show it: `-1`, a whole number of the largest unit
/// that divides it, or bytes — so saving a form never changes it.
pub fn limit_text(limit: i64) -> String {
    if limit < 0 {
        return "-1".into();
    }
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if limit > 0 && limit % (1 << shift) == 0 {
            return format!("{} {unit}", limit >> shift);
        }
    }
    limit.to_string()
}

async fn list(S(state): S<State>, v: Viewer, listing: Listing) -> Response {
    let filter = Filter::new(None, Some("-used.storage".into()));
    let offset = listing.offset(PER_PAGE);
    let (quotas, total) = match (state.quotas)
        .list(&v.ctx, (None, None), &filter, (offset, PER_PAGE))
        .await
    {
        Ok(found) => found,
        Err(e) => return refusal(&v, &e),
    };
    let cols = [
        Col::Plain("Project"),
        Col::Wide("Owner"),
        Col::Plain("Storage"),
        Col::Plain("Limit"),
    ];
    let body = html! {
        h1 { "Project quotas" }
        p.muted {
            "Each blob and manifest counts once per project. A push that would pass its project's limit is refused. "
            "New projects get the default limit set in " a href="/harbor/configs" { "Configuration" } "."
        }
        div.scroll { table.quotas {
            (head(&cols))
            tbody {
                @for q in &quotas {
                    tr {
                        td { a href={ "/harbor/projects/" (q.project_id) "/summary" } { (q.project_name) } }
                        td.wide { (q.owner_name) }
                        td.usage { (quota_bar(q.hard, q.used)) }
                        td {
                            @if v.read_only {
                                (if q.hard < 0 { "unlimited".to_string() } else { super::projects::size(q.hard) })
                            } @else {
                                form.inline method="post" action=(PAGE) {
                                    (csrf_field(&v))
                                    input type="hidden" name="id" value=(q.id);
                                    label.sr-only for={ "limit-" (q.id) } { "Storage limit of " (q.project_name) }
                                    input id={ "limit-" (q.id) } type="text" name="limit" size="10"
                                        value=(limit_text(q.hard));
                                    button.secondary type="submit" { "Set" }
                                }
                            }
                        }
                    }
                }
            }
        } }
        (pager(PAGE, &[], listing.page, PER_PAGE, total))
    };
    page(&v, "Project quotas", body)
}

async fn set_limit(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let result = async {
        let id = (form.get("id").parse::<i64>())
            .map_err(|_| CoreError::BadRequest("no such quota".into()))?;
        let limit = parse_limit(form.get("limit"))?;
        let hard = std::collections::BTreeMap::from([("storage".to_string(), limit)]);
        state.quotas.update(&v.ctx, id, &hard).await?;
        let quota = state.quotas.get(&v.ctx, id).await?;
        Ok(format!(
            "The storage limit of {} was set.",
            quota.project_name
        ))
    }
    .await;
    outcome(PAGE, result)
}

#[cfg(test)]
mod tests {
    use super::parse_limit;

    #[test]
    fn limits_as_people_write_them() {
        assert_eq!(parse_limit("-1").unwrap(), -1);
        assert_eq!(parse_limit("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_limit("500 MiB").unwrap(), 500 << 20);
        assert_eq!(parse_limit("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_limit("1.5 tib").unwrap(), 3 << 39);
        assert!(parse_limit("lots").is_err());
        assert!(parse_limit("5 parsecs").is_err());
        assert!(parse_limit("").is_err());
        for n in [-1, 1, 1000, 1 << 20, 3 << 39, (5 << 30) + 1] {
            assert_eq!(parse_limit(&super::limit_text(n)).unwrap(), n);
        }
    }
}
