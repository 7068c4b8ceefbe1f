//! Harbor's list query language (`q` and `sort`) turned into SQL.
//!
//! Every list names the fields it exposes; a query is checked against them
//! when parsed, so user text only ever reaches the database as bound values
//! and only whitelisted column expressions reach the SQL.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use crate::Backend;

/// How a field's values are written in `q` and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text; exact, fuzzy, range, or-list and and-list all apply.
    Text,
    /// An integer.
    Int,
    /// A number (a CVSS score).
    Float,
    /// A time stored as Unix milliseconds, written `"2020-04-09 02:36:00"`
    /// (UTC) or RFC 3339.
    Time,
    /// `true` or `false`; the column expression yields the text `'true'` / `'false'`.
    Bool,
}

/// A field a list can be filtered or sorted on.
#[derive(Debug)]
pub struct Field {
    /// The key in `q` and `sort`.
    pub key: &'static str,
    /// The SQL expression compared.
    pub column: &'static str,
    /// The type of its values.
    pub kind: Kind,
    /// For a field with many values per row (an artifact's tags), the
    /// `EXISTS` condition with `{}` where the comparison goes.
    pub within: Option<&'static str>,
}

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone)]
enum Term {
    Exact(Arg),
    Fuzzy(String),
    Range(Option<Arg>, Option<Arg>),
    Or(Vec<Arg>),
    And(Vec<Arg>),
}

/// A parsed, validated `q` and `sort`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    terms: Vec<(&'static Field, Term)>,
    sort: Vec<(&'static Field, bool)>,
}

/// A `q` or `sort` the list cannot take; its text is the client's error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(String);

fn field(fields: &'static [Field], key: &str) -> Result<&'static Field, QueryError> {
    fields.iter().find(|f| f.key == key).ok_or_else(|| {
        let known: Vec<&str> = fields.iter().map(|f| f.key).collect();
        QueryError(format!(
            "unknown query key {key:?} (supported: {})",
            known.join(", ")
        ))
    })
}

fn value(f: &Field, raw: &str) -> Result<Arg, QueryError> {
    let raw = raw.trim();
    let raw = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    let bad = |what: &str| QueryError(format!("{}: {raw:?} is not {what}", f.key));
    Ok(match f.kind {
        Kind::Text => Arg::Text(raw.to_string()),
        Kind::Int => Arg::Int(raw.parse().map_err(|_| bad("an integer"))?),
        Kind::Float => Arg::Float(
            (raw.parse::<f64>().ok())
                .filter(|f| f.is_finite())
                .ok_or_else(|| bad("a number"))?,
        ),
        Kind::Bool => match raw {
            "true" | "1" => Arg::Text("true".into()),
            "false" | "0" => Arg::Text("false".into()),
            _ => return Err(bad("true or false")),
        },
        Kind::Time => Arg::Int(parse_time(raw).ok_or_else(|| bad("a time"))?),
    })
}

fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        time::PrimitiveDateTime::parse(
            s,
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        )
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn list(f: &Field, inner: &str) -> Result<Vec<Arg>, QueryError> {
    let items: Vec<Arg> = inner
        .split_whitespace()
        .map(|v| value(f, v))
        .collect::<Result<_, _>>()?;
    if items.is_empty() {
        return Err(QueryError(format!("{}: empty list", f.key)));
    }
    Ok(items)
}

fn term(f: &Field, v: &str) -> Result<Term, QueryError> {
    if let Some(s) = v.strip_prefix('~') {
        if f.kind != Kind::Text {
            return Err(QueryError(format!(
                "{}: fuzzy match needs a text field",
                f.key
            )));
        }
        return Ok(Term::Fuzzy(s.to_string()));
    }
    if let Some(inner) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let (lo, hi) = inner
            .split_once('~')
            .ok_or_else(|| QueryError(format!("{}: a range is [min~max]", f.key)))?;
        let bound = |s: &str| (!s.trim().is_empty()).then(|| value(f, s)).transpose();
        return Ok(Term::Range(bound(lo)?, bound(hi)?));
    }
    if let Some(inner) = v.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        return Ok(Term::Or(list(f, inner)?));
    }
    if let Some(inner) = v.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        return Ok(Term::And(list(f, inner)?));
    }
    Ok(Term::Exact(value(f, v)?))
}

/// `%` and `_` are literal in a fuzzy term.
pub(crate) fn like_pattern(s: &str) -> String {
    let mut out = String::from("%");
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl ListQuery {
    /// Parses `q` (`k=v,k=~v,k=[a~b],k={a b},k=(a b)`) and `sort`
    /// (`k,-k`) against the fields a list exposes.
    pub fn parse(
        q: Option<&str>,
        sort: Option<&str>,
        fields: &'static [Field],
    ) -> Result<ListQuery, QueryError> {
        let mut out = ListQuery::default();
        for part in q.unwrap_or("").split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| QueryError(format!("query term {part:?} is not key=value")))?;
            let f = field(fields, k.trim())?;
            out.terms.push((f, term(f, v.trim())?));
        }
        for key in sort
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            let (key, desc) = match key.strip_prefix('-') {
                Some(k) => (k, true),
                None => (key, false),
            };
            out.sort.push((field(fields, key)?, desc));
        }
        Ok(out)
    }

    /// Adds an exact match (for the older single-purpose query parameters).
    pub fn exact(
        mut self,
        fields: &'static [Field],
        key: &str,
        v: &str,
    ) -> Result<ListQuery, QueryError> {
        let f = field(fields, key)?;
        self.terms.push((f, Term::Exact(value(f, v)?)));
        Ok(self)
    }

    /// Adds a fuzzy match.
    pub fn fuzzy(
        mut self,
        fields: &'static [Field],
        key: &str,
        v: &str,
    ) -> Result<ListQuery, QueryError> {
        self.terms
            .push((field(fields, key)?, Term::Fuzzy(v.to_string())));
        Ok(self)
    }

    /// `AND …` conditions with placeholders numbered from `first`, and
    /// their values, in SQL both engines run the same.
    pub(crate) fn conditions(&self, first: usize) -> (String, Vec<Arg>) {
        self.conditions_on(first, Backend::Postgres)
    }

    /// `conditions` as written for `backend`. SQLite's `LIKE` is already
    /// blind to ASCII case, the only case its `LOWER` knows, so a fuzzy
    /// match there skips the `LOWER` call per row (which doubled a scan of
    /// 100,000 tags); on PostgreSQL `LOWER(column)` is what a trigram index
    /// is built on.
    pub(crate) fn conditions_on(&self, first: usize, backend: Backend) -> (String, Vec<Arg>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        let mut bind = |a: Arg| {
            args.push(a);
            format!("${}", first + args.len() - 1)
        };
        for (f, t) in &self.terms {
            let wrap = |cond: String| match f.within {
                Some(w) => w.replace("{}", &cond),
                None => cond,
            };
            let col = f.column;
            let cond = match t {
                Term::Exact(v) => wrap(format!("{col} = {}", bind(v.clone()))),
                Term::Fuzzy(s) => {
                    let p = bind(Arg::Text(like_pattern(s)));
                    wrap(match backend {
                        Backend::Sqlite => format!("{col} LIKE {p} ESCAPE '\\'"),
                        Backend::Postgres => format!("LOWER({col}) LIKE {p} ESCAPE '\\'"),
                    })
                }
                Term::Range(lo, hi) => {
                    let mut c = vec!["1 = 1".to_string()];
                    if let Some(lo) = lo {
                        c.push(format!("{col} >= {}", bind(lo.clone())));
                    }
                    if let Some(hi) = hi {
                        c.push(format!("{col} <= {}", bind(hi.clone())));
                    }
                    wrap(c.join(" AND "))
                }
                Term::Or(vs) => {
                    let ps: Vec<String> = vs.iter().map(|v| bind(v.clone())).collect();
                    wrap(format!("{col} IN ({})", ps.join(", ")))
                }
                Term::And(vs) => vs
                    .iter()
                    .map(|v| wrap(format!("{col} = {}", bind(v.clone()))))
                    .collect::<Vec<_>>()
                    .join(" AND "),
            };
            sql.push_str(&format!(" AND ({cond})"));
        }
        (sql, args)
    }

    /// `ORDER BY` the requested keys, then those of `tiebreak` on other
    /// columns so pages are stable. A column is named once: a repeated key
    /// keeps a database from reading the order off an index.
    pub(crate) fn order_by(&self, tiebreak: &str) -> String {
        let mut keys: Vec<String> = self
            .sort
            .iter()
            .map(|(f, desc)| format!("{} {}", f.column, if *desc { "DESC" } else { "ASC" }))
            .collect();
        for key in tiebreak.split(", ") {
            let column = key.split(' ').next().unwrap_or(key);
            if !self.sort.iter().any(|(f, _)| f.column == column) {
                keys.push(key.to_string());
            }
        }
        format!("ORDER BY {}", keys.join(", "))
    }
}

/// Binds a query's values in placeholder order.
pub(crate) fn bind<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    args: &[Arg],
) -> Query<'q, Any, AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.clone()),
            Arg::Int(i) => q.bind(*i),
            Arg::Float(f) => q.bind(*f),
        };
    }
    q
}

/// One page of `{select} WHERE` the query's conditions, in its order then
/// `tiebreak`'s, each row read by `read`.
pub(crate) async fn page<'e, T>(
    ex: impl sqlx::Executor<'e, Database = Any>,
    select: &str,
    query: &ListQuery,
    tiebreak: &str,
    (offset, limit): (i64, i64),
    read: fn(sqlx::any::AnyRow) -> Result<T, crate::DbError>,
) -> Result<Vec<T>, crate::DbError> {
    let (cond, args) = query.conditions(1);
    let n = args.len() + 1;
    let sql = format!(
        "{select} WHERE 1 = 1{cond} {} LIMIT ${n} OFFSET ${}",
        query.order_by(tiebreak),
        n + 1
    );
    bind(sqlx::query(&sql), &args)
        .bind(limit)
        .bind(offset)
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(read)
        .collect()
}

/// How many rows of `table` match the query.
pub(crate) async fn count<'e>(
    ex: impl sqlx::Executor<'e, Database = Any>,
    table: &str,
    query: &ListQuery,
) -> Result<i64, crate::DbError> {
    use sqlx::Row;
    let (cond, args) = query.conditions(1);
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE 1 = 1{cond}");
    Ok(bind(sqlx::query(&sql), &args)
        .fetch_one(ex)
        .await?
        .try_get(0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    static FIELDS: &[Field] = &[
        Field {
            key: "name",
            column: "x.name",
            kind: Kind::Text,
            within: None,
        },
        Field {
            key: "size",
            column: "x.size",
            kind: Kind::Int,
            within: None,
        },
        Field {
            key: "tags",
            column: "t.name",
            kind: Kind::Text,
            within: Some("EXISTS (SELECT 1 FROM tag t WHERE {})"),
        },
        Field {
            key: "push_time",
            column: "x.push_time",
            kind: Kind::Time,
            within: None,
        },
    ];

    fn sql(q: &str) -> (String, Vec<Arg>) {
        ListQuery::parse(Some(q), None, FIELDS)
            .unwrap()
            .conditions(3)
    }

    #[test]
    fn every_operator() {
        assert_eq!(sql("name=a").0, " AND (x.name = $3)");
        let (s, a) = sql("name=~a_b%");
        assert_eq!(s, " AND (LOWER(x.name) LIKE $3 ESCAPE '\\')");
        assert_eq!(a, vec![Arg::Text("%a\\_b\\%%".into())]);
        let q = ListQuery::parse(Some("name=~a"), None, FIELDS).unwrap();
        assert_eq!(
            q.conditions_on(3, Backend::Sqlite).0,
            " AND (x.name LIKE $3 ESCAPE '\\')"
        );
        let (s, a) = sql("size=[10~20]");
        assert_eq!(s, " AND (1 = 1 AND x.size >= $3 AND x.size <= $4)");
        assert_eq!(a, vec![Arg::Int(10), Arg::Int(20)]);
        assert_eq!(sql("size=[~20]").1, vec![Arg::Int(20)]);
        assert_eq!(sql("name={a b c}").0, " AND (x.name IN ($3, $4, $5))");
        assert_eq!(
            sql("tags=(v1 v2)").0,
            " AND (EXISTS (SELECT 1 FROM tag t WHERE t.name = $3) AND EXISTS (SELECT 1 FROM tag t WHERE t.name = $4))"
        );
        assert_eq!(
            sql("name=a,size=3").0,
            " AND (x.name = $3) AND (x.size = $4)"
        );
        assert_eq!(
            sql("push_time=[\"2020-04-09 02:36:00\"~]").1,
            vec![Arg::Int(1_586_399_760_000)]
        );
    }

    #[test]
    fn rejects_what_it_cannot_compare() {
        for bad in [
            "nope=1",
            "size=abc",
            "size=~1",
            "name",
            "size=[1 2]",
            "name={}",
            "push_time=[yesterday~]",
        ] {
            assert!(ListQuery::parse(Some(bad), None, FIELDS).is_err(), "{bad}");
        }
        assert!(ListQuery::parse(None, Some("bogus"), FIELDS).is_err());
    }

    #[test]
    fn sorts_then_breaks_ties() {
        let q = ListQuery::parse(None, Some("name,-size"), FIELDS).unwrap();
        assert_eq!(q.order_by("x.id"), "ORDER BY x.name ASC, x.size DESC, x.id");
        // A tiebreak key on a sorted column gives way to the requested one.
        let q = ListQuery::parse(None, Some("-size"), FIELDS).unwrap();
        assert_eq!(q.order_by("x.size ASC, x.id"), "ORDER BY x.size DESC, x.id");
    }
}
