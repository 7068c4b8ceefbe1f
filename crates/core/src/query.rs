//! A list request as a client makes it: Harbor's `q` and `sort`, and the
//! name search some lists take (`?name=`, `?username=`). Each service checks
//! it against the fields its own list exposes.

use crate::error::CoreResult;
use berth_db::query::{Field, ListQuery};

/// Harbor's list parameters, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    q: Option<String>,
    sort: Option<String>,
    /// Matches on single fields besides `q` (key, value, fuzzy?): Harbor's
    /// `?name=`, `?public=` … parameters.
    terms: Vec<(&'static str, String, bool)>,
}

impl Filter {
    /// `q` and `sort` as given.
    pub fn new(q: Option<String>, sort: Option<String>) -> Self {
        Filter {
            q,
            sort,
            terms: Vec::new(),
        }
    }

    /// Also matches `term` anywhere in the field `key`.
    pub fn search(mut self, key: &'static str, term: String) -> Self {
        self.terms.push((key, term, true));
        self
    }

    /// Also matches the field `key` equal to `value`.
    pub fn exact(mut self, key: &'static str, value: String) -> Self {
        self.terms.push((key, value, false));
        self
    }

    /// Checked against a list's fields: 400 for a key or value it cannot take.
    pub(crate) fn parse(&self, fields: &'static [Field]) -> CoreResult<ListQuery> {
        let mut query = ListQuery::parse(self.q.as_deref(), self.sort.as_deref(), fields)?;
        for (key, value, fuzzy) in &self.terms {
            query = match fuzzy {
                true => query.fuzzy(fields, key, value)?,
                false => query.exact(fields, key, value)?,
            };
        }
        Ok(query)
    }
}
