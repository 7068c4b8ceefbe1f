//! Audit log tables: a project's Logs tab and the administrators' log.

use super::projects::{counted, minutes, pager};
use super::Col::{Plain, Wide};
use super::{head, message};
use super::{Listing, Viewer};
use crate::State;
use berth_core::notify::audit::Table;
use berth_core::query::Filter;
use maud::{html, Markup};

/// Entries per page.
const PAGE: i64 = 20;

/// The operations and resource types the log's filters offer.
const OPERATIONS: &[&str] = &["create", "update", "delete", "pull", "login", "logout"];
const RESOURCE_TYPES: &[&str] = &[
    "artifact",
    "tag",
    "repository",
    "project",
    "member",
    "robot",
    "user",
    "user_group",
    "configuration",
];

/// What the viewer filters the log on.
struct Filters {
    username: String,
    operation: String,
    resource: String,
    resource_type: String,
    /// Days, `YYYY-MM-DD`, both ends included.
    from: String,
    to: String,
}

impl Filters {
    fn read(list: &Listing) -> Filters {
        let day = |key| {
            Some(list.search(key))
                .filter(|d| is_day(d))
                .unwrap_or_default()
        };
        let one_of = |key, allowed: &[&str]| {
            let v = list.search(key);
            if allowed.contains(&v.as_str()) {
                v
            } else {
                String::new()
            }
        };
        Filters {
            username: list.search("username"),
            operation: one_of("operation", OPERATIONS),
            resource: list.search("resource"),
            resource_type: one_of("resource_type", RESOURCE_TYPES),
            from: day("from"),
            to: day("to"),
        }
    }

    /// The list's filter: newest first, narrowed by what is filled in.
    fn filter(&self) -> Filter {
        let range = match (self.from.as_str(), self.to.as_str()) {
            ("", "") => None,
            (from, to) => {
                let from = if from.is_empty() { "1970-01-01" } else { from };
                let to = if to.is_empty() { "9999-12-31" } else { to };
                Some(format!("op_time=[{from} 00:00:00~{to} 23:59:59]"))
            }
        };
        let mut f = Filter::new(range, Some("-op_time".into()));
        for (key, value, fuzzy) in [
            ("username", &self.username, true),
            ("operation", &self.operation, false),
            ("resource", &self.resource, true),
            ("resource_type", &self.resource_type, false),
        ] {
            if !value.is_empty() {
                f = if fuzzy {
                    f.search(key, value.clone())
                } else {
                    f.exact(key, value.clone())
                };
            }
        }
        f
    }

    /// The query parameters that keep the filters from page to page.
    fn keep(&self) -> [(&str, &str); 6] {
        [
            ("username", &self.username),
            ("operation", &self.operation),
            ("resource", &self.resource),
            ("resource_type", &self.resource_type),
            ("from", &self.from),
            ("to", &self.to),
        ]
    }

    fn any(&self) -> bool {
        self.keep().iter().any(|(_, v)| !v.is_empty())
    }
}

/// A calendar day as a date input sends it, `YYYY-MM-DD`.
fn is_day(s: &str) -> bool {
    let day = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, day).is_ok()
}

/// A labelled select of `options`, "Any" first.
fn choice(id: &str, name: &str, label: &str, options: &[&str], chosen: &str) -> Markup {
    html! {
        label for=(id) { (label) }
        select id=(id) name=(name) {
            option value="" { "Any" }
            @for o in options { option value=(o) selected[*o == chosen] { (o) } }
        }
    }
}

/// The filter form above the log.
fn filter_form(here: &str, f: &Filters) -> Markup {
    html! {
        form.filters method="get" action=(here) role="search" {
            label for="log_username" { "User" }
            input #log_username type="text" name="username" value=(f.username);
            (choice("log_operation", "operation", "Operation", OPERATIONS, &f.operation))
            label for="log_resource" { "Resource" }
            input #log_resource type="text" name="resource" value=(f.resource);
            (choice("log_type", "resource_type", "Resource type", RESOURCE_TYPES, &f.resource_type))
            label for="log_from" { "From" }
            input #log_from type="date" name="from" value=(f.from);
            label for="log_to" { "To" }
            input #log_to type="date" name="to" value=(f.to);
            p { button type="submit" { "Filter" } " " a href=(here) { "Clear" } }
        }
    }
}

/// One page of the extended audit log (of one project, or all the viewer
/// may see), newest first, narrowed by the page's filters; `here` is the
/// page's own address.
pub async fn table(
    state: &State,
    v: &Viewer,
    project: Option<&str>,
    list: &Listing,
    here: &str,
) -> Markup {
    let filters = Filters::read(list);
    let listed = state
        .audit
        .list(
            &v.ctx,
            Table::Extended,
            project,
            &filters.filter(),
            list.offset(PAGE),
            PAGE,
        )
        .await
        .map_err(|e| message(&e));
    html! {
        (filter_form(here, &filters))
        @match &listed {
            Err(e) => div.notice.err role="alert" { (e) },
            Ok((logs, _)) if logs.is_empty() && filters.any() => p.empty { "No entry matches these filters." },
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
                (pager(here, &filters.keep(), list.page, PAGE, *total))
            }
        }
    }
}
