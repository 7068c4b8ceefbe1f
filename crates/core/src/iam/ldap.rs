//! LDAP and Active Directory, as Harbor's LDAP authenticator uses them: a
//! user is found with the search DN's bind (`ldap_uid` equal to the name
//! given, under `ldap_base_dn`, within `ldap_filter`), then signs in by
//! binding as that entry with their own password. Every value from a
//! caller goes into a filter escaped (RFC 4515), so a name cannot widen a
//! search.

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Duration;

/// At most this many entries are read from one search.
const MAX_ENTRIES: i32 = 1000;
/// Groups one sign-in follows at most (a cycle or a huge tree of nested
/// groups ends there).
const MAX_GROUPS: usize = 1000;

/// The LDAP settings of `/configurations`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LdapSettings {
    pub url: String,
    pub start_tls: bool,
    pub search_dn: String,
    pub search_password: String,
    pub base_dn: String,
    pub filter: String,
    pub uid: String,
    pub scope: i64,
    pub timeout_secs: i64,
    pub verify_cert: bool,
    pub group_base_dn: String,
    pub group_filter: String,
    pub group_name_attribute: String,
    pub group_scope: i64,
    /// Members of this group are system administrators.
    pub group_admin_dn: String,
    /// The user attribute listing their groups' DNs.
    pub group_membership_attribute: String,
    /// Whether a user's groups include the groups their groups belong to,
    /// through any depth (Berth's `ldap_nested_groups`).
    pub nested_groups: bool,
}

impl LdapSettings {
    /// The settings in a set of stored values (keys as `/configurations`
    /// names them).
    pub fn from_values(v: &BTreeMap<&'static str, String>) -> Self {
        let get = |k: &str| v.get(k).cloned().unwrap_or_default();
        let number = |k: &str, default: i64| get(k).parse().unwrap_or(default);
        LdapSettings {
            url: get("ldap_url"),
            start_tls: get("ldap_start_tls") == "true",
            search_dn: get("ldap_search_dn"),
            search_password: get("ldap_search_password"),
            base_dn: get("ldap_base_dn"),
            filter: get("ldap_filter"),
            uid: get("ldap_uid"),
            scope: number("ldap_scope", 2),
            timeout_secs: number("ldap_timeout", 5),
            verify_cert: get("ldap_verify_cert") != "false",
            group_base_dn: get("ldap_group_base_dn"),
            group_filter: get("ldap_group_search_filter"),
            group_name_attribute: get("ldap_group_attribute_name"),
            group_scope: number("ldap_group_search_scope", 2),
            group_admin_dn: get("ldap_group_admin_dn"),
            group_membership_attribute: get("ldap_group_membership_attribute"),
            nested_groups: get("ldap_nested_groups") == "true",
        }
    }
}

/// A user entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LdapUser {
    pub dn: String,
    /// The `ldap_uid` attribute's value.
    pub username: String,
    /// `cn`, else `uid`.
    pub realname: String,
    /// `mail`, else `email`.
    pub email: String,
    /// The DNs the membership attribute lists.
    pub group_dns: Vec<String>,
}

/// A group entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LdapGroup {
    pub dn: String,
    pub name: String,
}

/// Why the directory could not answer (down, misconfigured): never a
/// wrong password, which is `Ok(None)` where it can happen.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, Unavailable>;

fn failed(what: &str) -> impl Fn(ldap3::LdapError) -> Unavailable + '_ {
    move |e| Unavailable(format!("{what}: {e}"))
}

/// Harbor's reading of `ldap_url`: `ldap://` unless it says `ldaps://` or
/// names port 636; the scheme's port when none is given.
fn url_of(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) if s == "ldap" || s == "ldaps" => (s, r),
        Some((s, _)) => return Err(Unavailable(format!("unknown LDAP scheme {s:?}"))),
        None => ("ldap", raw),
    };
    let hostport = rest.trim_end_matches('/');
    if hostport.is_empty() || hostport.contains(['/', '?', '#', '@']) {
        return Err(Unavailable(format!("{raw:?} is not an LDAP URL")));
    }
    let explicit_port = hostport
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.contains(']'));
    let (scheme, hostport) = match explicit_port {
        Some("636") => ("ldaps", hostport.to_string()),
        Some(_) => (scheme, hostport.to_string()),
        None if scheme == "ldaps" => (scheme, format!("{hostport}:636")),
        None => (scheme, format!("{hostport}:389")),
    };
    Ok(format!("{scheme}://{hostport}"))
}

/// `0`, `1`, `2` as base, one level, subtree (Harbor's numbers).
fn scope_of(n: i64) -> Scope {
    match n {
        0 => Scope::Base,
        1 => Scope::OneLevel,
        _ => Scope::Subtree,
    }
}

/// An attribute name from the settings, checked so it cannot change a
/// filter's structure.
fn attribute(name: &str, default: &str) -> Result<String> {
    let name = match name.trim() {
        "" => default,
        n => n,
    };
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ';');
    match ok && !name.is_empty() {
        true => Ok(name.to_string()),
        false => Err(Unavailable(format!("{name:?} is not an attribute name"))),
    }
}

/// A filter from the settings, in parentheses as one (Harbor's
/// normalisation), checked to parse.
fn base_filter(filter: &str) -> Result<Option<String>> {
    let f = filter.trim();
    if f.is_empty() {
        return Ok(None);
    }
    let f = match f.starts_with('(') {
        true => f.to_string(),
        false => format!("({f})"),
    };
    ldap3::parse_filter(&f).map_err(|_| Unavailable(format!("invalid filter syntax: {f}")))?;
    Ok(Some(f))
}

/// `(&base(attr=value))`, the value escaped; an empty value matches any.
fn equality(base: Option<String>, attr: &str, value: &str) -> String {
    let value = match value {
        "" => "*".into(),
        v => ldap3::ldap_escape(v),
    };
    match base {
        Some(b) => format!("(&{b}({attr}={value}))"),
        None => format!("({attr}={value})"),
    }
}

/// An open connection, bound as nobody yet.
struct Session {
    ldap: Ldap,
    settings: LdapSettings,
    /// Whether the connection is bound as the search DN (a sign-in's
    /// group searches then need no bind each).
    as_search_dn: bool,
}

impl Session {
    async fn open(settings: &LdapSettings) -> Result<Session> {
        let url = url_of(&settings.url)?;
        let timeout = Duration::from_secs(settings.timeout_secs.clamp(1, 300) as u64);
        let conn = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(settings.start_tls && url.starts_with("ldap://"))
            .set_no_tls_verify(!settings.verify_cert);
        let (conn, mut ldap) = LdapConnAsync::with_settings(conn, &url)
            .await
            .map_err(failed(&format!("connecting to {url}")))?;
        ldap3::drive!(conn);
        ldap.with_timeout(timeout);
        Ok(Session {
            ldap,
            settings: settings.clone(),
            as_search_dn: false,
        })
    }

    /// Binds with the search DN's credentials.
    async fn bind_search_dn(&mut self) -> Result<()> {
        if self.as_search_dn {
            return Ok(());
        }
        let (dn, password) = (&self.settings.search_dn, &self.settings.search_password);
        let r = self.ldap.simple_bind(dn, password).await;
        let r = r.map_err(failed("binding the search DN"))?;
        r.success().map_err(failed("binding the search DN"))?;
        self.as_search_dn = true;
        Ok(())
    }

    /// Whether `dn` and `password` bind (an empty password never does:
    /// LDAP takes it as an anonymous bind).
    async fn binds(&mut self, dn: &str, password: &str) -> Result<bool> {
        if password.is_empty() {
            return Ok(false);
        }
        self.as_search_dn = false;
        let r = self.ldap.simple_bind(dn, password).await;
        let r = r.map_err(failed("binding a user"))?;
        match r.rc {
            0 => Ok(true),
            // invalidCredentials, inappropriateAuthentication
            49 | 48 => Ok(false),
            _ => r.success().map(|_| false).map_err(failed("binding a user")),
        }
    }

    async fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: Vec<String>,
    ) -> Result<Vec<SearchEntry>> {
        let ldap = self
            .ldap
            .with_search_options(ldap3::SearchOptions::new().sizelimit(MAX_ENTRIES));
        let r = (ldap.search(base, scope, filter, attrs).await).map_err(failed("searching"))?;
        // noSuchObject: a base that does not exist holds nothing;
        // sizeLimitExceeded: the first entries are kept.
        let entries = match r.1.rc {
            32 => return Ok(Vec::new()),
            4 => r.0,
            _ => r.success().map_err(failed("searching"))?.0,
        };
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// Users whose `ldap_uid` is `name` (everyone for an empty name).
    async fn users(&mut self, name: &str) -> Result<Vec<LdapUser>> {
        let s = self.settings.clone();
        let uid = attribute(&s.uid, "cn")?;
        let filter = equality(base_filter(&s.filter)?, &uid, name);
        self.bind_search_dn().await?;
        let member_of = attribute(&s.group_membership_attribute, "memberof")?;
        let attrs = ["uid", "cn", "mail", "email", &uid, &member_of];
        let attrs = attrs.iter().map(|a| a.to_string()).collect();
        let entries = self
            .search(&s.base_dn, scope_of(s.scope), &filter, attrs)
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                let first = |a: &str| {
                    (e.attrs.iter())
                        .find(|(k, _)| k.eq_ignore_ascii_case(a))
                        .and_then(|(_, v)| v.first())
                        .map(|v| v.trim().to_string())
                };
                let group_dns = (e.attrs.iter())
                    .filter(|(k, _)| k.eq_ignore_ascii_case(&member_of))
                    .flat_map(|(_, v)| v.clone())
                    .collect();
                Some(LdapUser {
                    group_dns,
                    username: first(&uid)?,
                    realname: first("cn").or_else(|| first("uid")).unwrap_or_default(),
                    email: first("mail").or_else(|| first("email")).unwrap_or_default(),
                    dn: e.dn,
                })
            })
            .collect())
    }

    /// Groups named `name` (all for an empty one) under the group base DN,
    /// or the group whose DN is `dn`; each with the DNs of the groups it
    /// belongs to (its membership attribute).
    async fn groups(
        &mut self,
        name: &str,
        dn: Option<&str>,
    ) -> Result<Vec<(LdapGroup, Vec<String>)>> {
        let s = self.settings.clone();
        let base = match s.group_base_dn.trim() {
            "" => s.base_dn.clone(),
            b => b.to_string(),
        };
        let name_attr = attribute(&s.group_name_attribute, "cn")?;
        let member_of = attribute(&s.group_membership_attribute, "memberof")?;
        let filter = equality(base_filter(&s.group_filter)?, &name_attr, name);
        let (search_base, scope) = match dn {
            Some(dn) if !under(&base, dn) => return Ok(Vec::new()),
            Some(dn) => (dn.to_string(), Scope::Base),
            None => (base, scope_of(s.group_scope)),
        };
        self.bind_search_dn().await?;
        let attrs = vec![name_attr.clone(), member_of.clone()];
        let entries = self.search(&search_base, scope, &filter, attrs).await?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let values = |a: &str| {
                    (e.attrs.iter())
                        .filter(|(k, _)| k.eq_ignore_ascii_case(a))
                        .flat_map(|(_, v)| v.clone())
                        .collect::<Vec<_>>()
                };
                let name = (values(&name_attr).into_iter().next()).unwrap_or_else(|| e.dn.clone());
                let parents = values(&member_of);
                (LdapGroup { dn: e.dn, name }, parents)
            })
            .collect())
    }

    async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }
}

/// A DN's components, normalised (lower case, spaces around `=` and `,`
/// dropped) for comparison.
fn dn_parts(dn: &str) -> Vec<String> {
    dn.split(',')
        .map(|rdn| {
            let (k, v) = rdn.split_once('=').unwrap_or((rdn, ""));
            format!("{}={}", k.trim().to_lowercase(), v.trim().to_lowercase())
        })
        .filter(|p| p != "=")
        .collect()
}

/// Whether `dn` is `base` or below it.
fn under(base: &str, dn: &str) -> bool {
    let (base, dn) = (dn_parts(base), dn_parts(dn));
    dn.len() >= base.len() && dn[dn.len() - base.len()..] == base[..]
}

/// Checks settings: the server answers and the search DN binds.
pub async fn ping(settings: &LdapSettings) -> Result<()> {
    let mut s = Session::open(settings).await?;
    let bound = s.bind_search_dn().await;
    s.close().await;
    bound
}

/// Users whose `ldap_uid` is `name` (every user for an empty name).
pub async fn search_users(settings: &LdapSettings, name: &str) -> Result<Vec<LdapUser>> {
    let mut s = Session::open(settings).await?;
    let users = s.users(name).await;
    s.close().await;
    users
}

/// Groups by name (every group for an empty one) or by DN.
pub async fn search_groups(
    settings: &LdapSettings,
    name: &str,
    dn: Option<&str>,
) -> Result<Vec<LdapGroup>> {
    let mut s = Session::open(settings).await?;
    let groups = s.groups(name, dn).await;
    s.close().await;
    Ok(groups?.into_iter().map(|(g, _)| g).collect())
}

/// Who signed in: the entry, the groups it belongs to that the group
/// search finds, and whether it is in the group admin DN.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    pub user: LdapUser,
    pub groups: Vec<LdapGroup>,
    pub admin: bool,
}

/// The user `name` if `password` is theirs; None when it is not or there
/// is no one entry of that name.
pub async fn authenticate(
    settings: &LdapSettings,
    name: &str,
    password: &str,
) -> Result<Option<SignedIn>> {
    if name.trim().is_empty() {
        return Ok(None);
    }
    let mut s = Session::open(settings).await?;
    let found = async {
        let mut users = s.users(name).await?;
        if users.len() != 1 {
            return Ok(None);
        }
        let user = users.remove(0);
        if !s.binds(&user.dn, password).await? {
            return Ok(None);
        }
        // The groups the entry lists, then (nested groups on) the groups
        // those belong to, each DN once, at most MAX_GROUPS of them.
        let mut pending: VecDeque<String> = user.group_dns.iter().cloned().collect();
        let mut seen: HashSet<String> = pending.iter().map(|d| normalized_dn(d)).collect();
        let mut groups = Vec::new();
        while let Some(dn) = pending.pop_front() {
            for (group, parents) in s.groups("", Some(&dn)).await? {
                groups.push(group);
                for p in parents.into_iter().filter(|_| settings.nested_groups) {
                    if seen.len() < MAX_GROUPS && seen.insert(normalized_dn(&p)) {
                        pending.push_back(p);
                    }
                }
            }
        }
        let admin_dn = normalized_dn(&settings.group_admin_dn);
        let admin = !admin_dn.is_empty() && seen.contains(&admin_dn);
        Ok(Some(SignedIn {
            user,
            groups,
            admin,
        }))
    }
    .await;
    s.close().await;
    found
}

/// A DN as groups are keyed by: lower case, without spaces around its
/// separators (as Harbor stores LDAP group DNs).
pub fn normalized_dn(dn: &str) -> String {
    dn_parts(dn).join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_as_harbor_reads_them() {
        let u = |s: &str| url_of(s).map_err(|e| e.0);
        assert_eq!(
            u("ldap.example.com").unwrap(),
            "ldap://ldap.example.com:389"
        );
        assert_eq!(
            u("ldaps://ldap.example.com").unwrap(),
            "ldaps://ldap.example.com:636"
        );
        assert_eq!(
            u("ldap.example.com:636").unwrap(),
            "ldaps://ldap.example.com:636"
        );
        assert_eq!(
            u("ldap://127.0.0.1:3890/").unwrap(),
            "ldap://127.0.0.1:3890"
        );
        assert!(u("http://ldap.example.com").is_err());
        assert!(u("ldap://x/dc=evil??sub").is_err());
    }

    #[test]
    fn names_are_escaped_into_filters() {
        let f = equality(Some("(objectClass=person)".into()), "uid", "*)(uid=*");
        assert_eq!(f, r"(&(objectClass=person)(uid=\2a\29\28uid=\2a))");
        assert_eq!(equality(None, "cn", ""), "(cn=*)");
        assert!(base_filter("objectClass=person").unwrap().is_some());
        assert!(base_filter("(&(a=b)").is_err());
        assert!(attribute("uid)(x", "cn").is_err());
    }

    #[test]
    fn dns_compare_without_case_or_spaces() {
        assert!(under(
            "dc=Berth, dc=test",
            "cn=devs,ou=groups,dc=berth,dc=test"
        ));
        assert!(!under(
            "ou=groups,dc=berth,dc=test",
            "cn=x,ou=people,dc=berth,dc=test"
        ));
    }
}
