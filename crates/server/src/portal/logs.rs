//! Audit log tables: a project's Logs tab and the administrators' log.

use super::projects::{counted, minutes, pager};
use super::Col::{Plain, Wide};
use super::Viewer;
use super::{head, message};
use crate::State;
use berth_core::notify::audit::Table;
use berth_core::query::Filter;
use maud::{html, Markup};

/// Entries per page.
const PAGE: i64 = 20;

/// One page of the extended audit log (of one project, or all the viewer
/// may see), newest first; `here` is the page's own address.
pub async fn table(
    state: &State,
    v: &Viewer,
    project: Option<&str>,
    page_no: i64,
    here: &str,
) -> Markup {
    let newest_first = Filter::new(None, Some("-op_time".into()));
    let listed = state
        .audit
        .list(
            &v.ctx,
            Table::Extended,
            project,
            &newest_first,
            (page_no - 1) * PAGE,
            PAGE,
        )
        .await
        .map_err(|e| message(&e));
    html! {
        @match &listed {
            Err(e) => div.notice.err role="alert" { (e) },
            Ok((logs, _)) if logs.is_empty() => p.empty {
                "Nothing has been recorded yet: pushes, pulls, deletions and changes appear here."
            },
            Ok((logs, total)) => {
                table.logs {
                    (counted(*total, "entry", "entries"))
                    (head(&[Plain("Time"), Plain("User"), Plain("Operation"), Plain("Resource"), Wide("Type"), Plain("Result")]))
                    tbody {
                        @for l in logs {
                            tr {
                                td { (minutes(l.op_time)) }
                                td { (l.username) }
                                td { (l.operation) }
                                td { code { (l.resource) } }
                                td.wide { (l.resource_type) }
                                td { @if l.success { "Success" } @else { "Failure" } }
                            }
                        }
                    }
                }
                (pager(here, &[], page_no, PAGE, *total))
            }
        }
    }
}
