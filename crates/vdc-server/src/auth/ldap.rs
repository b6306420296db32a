//! Users from an LDAP directory (OpenLDAP, Active Directory, 389ds/FreeIPA) beside local
//! users. At login vdc binds with its service account (or anonymously), finds the user's
//! entry, reads the groups the user is in, binds as the user to check the password, refuses a
//! disabled account, and maps the groups to role bindings (each group to a role, global or in
//! a department or cluster). The user's record in vdc is made or updated at each login; the
//! password never leaves the directory.

use std::collections::HashMap;
use std::sync::Arc;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};
use vdc_db as db;
use vdc_types::*;

use crate::app::config::{GroupMapping, LdapConfig, MappedScope};
use crate::app::{App, Part};

/// The mappings that apply to a member of `groups` (each a group's `cn` or DN), each once,
/// in configuration order.
pub fn mapped<'a>(mappings: &'a [GroupMapping], groups: &[String]) -> Vec<&'a GroupMapping> {
    let mut out: Vec<&GroupMapping> = Vec::new();
    for m in mappings {
        let member = groups.iter().any(|g| g.eq_ignore_ascii_case(&m.group));
        if member && !out.iter().any(|o| o.role == m.role && o.scope == m.scope) {
            out.push(m);
        }
    }
    out
}

/// Attributes read from a user's entry: what says it is disabled, and its groups.
const USER_ATTRS: &[&str] = &[
    "shadowExpire",
    "pwdAccountLockedTime",
    "nsAccountLock",
    "userAccountControl",
    "memberOf",
];

/// Why an account is disabled, from its entry's attributes (`today`: days since 1970), or
/// `None`: `shadowExpire` reached (NIS), `pwdAccountLockedTime` set (OpenLDAP password
/// policy), `nsAccountLock` true (389ds, FreeIPA), `userAccountControl` with ACCOUNTDISABLE
/// (Active Directory).
pub fn account_disabled(attrs: &HashMap<String, Vec<String>>, today: i64) -> Option<String> {
    let first = |name: &str| {
        attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(|v| v.trim())
    };
    if let Some(day) = first("shadowExpire").and_then(|v| v.parse::<i64>().ok())
        && (0..=today).contains(&day)
    {
        return Some(format!("the account expired (shadowExpire day {day})"));
    }
    if first("pwdAccountLockedTime").is_some() {
        return Some("the account is locked (pwdAccountLockedTime)".into());
    }
    if first("nsAccountLock").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Some("the account is locked (nsAccountLock)".into());
    }
    if first("userAccountControl")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|f| f & 2 != 0)
    {
        return Some("the account is disabled (userAccountControl)".into());
    }
    None
}

/// Why a login through the directory failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginFailure {
    /// No such user, several, or a wrong password: the caller learns only that.
    BadCredentials(String),
    /// The password is right but the account is disabled.
    Disabled(String),
    /// The directory did not answer, refused vdc's service account, or failed TLS.
    Unavailable(String),
}

/// What a refused user bind means: Active Directory says why in its message (`data 533`:
/// disabled, `data 775`: locked out, `data 532`/`701`: expired); else a wrong password.
fn bind_refusal(rc: u32, text: &str) -> LoginFailure {
    if rc != 49 {
        return LoginFailure::Unavailable(format!(
            "the directory answered the user's bind with code {rc}: {text}"
        ));
    }
    for (code, why) in [
        ("data 533", "the account is disabled"),
        ("data 775", "the account is locked out"),
        ("data 532", "the password expired"),
        ("data 701", "the account expired"),
    ] {
        if text.contains(code) {
            return LoginFailure::Disabled(why.into());
        }
    }
    LoginFailure::BadCredentials("wrong password".into())
}

/// A user the directory vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub dn: String,
    /// Each group's `cn` and DN.
    pub groups: Vec<String>,
}

/// A configured directory, with its TLS settings ready.
#[derive(Clone)]
pub struct Directory {
    pub config: LdapConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The directory users may log in through: `None` when none is configured. The server's start
/// builds it (and refuses to start with a directory it cannot use) and sets it; a server made
/// without one (no start) has none.
impl Part for Option<Directory> {
    fn new(_: &App) -> Self {
        None
    }
}

impl Directory {
    /// Checks the configuration and reads the CA file; a mistake here stops the server from
    /// starting rather than failing every login.
    pub fn new(config: LdapConfig) -> Result<Directory, String> {
        let ldaps = config.url.starts_with("ldaps://");
        if !ldaps && !config.url.starts_with("ldap://") {
            return Err(format!("{}: not an ldap:// or ldaps:// URL", config.url));
        }
        if ldaps && config.starttls {
            return Err("StartTLS is for ldap:// URLs; ldaps:// is TLS already".into());
        }
        if !config.user_filter.contains("{username}") {
            return Err("the user filter must contain {username}".into());
        }
        if !config.group_filter.contains("{dn}") && !config.group_filter.contains("{username}") {
            return Err("the group filter must contain {dn} or {username}".into());
        }
        if config.bind_dn.is_some() != config.bind_password.is_some() {
            return Err("give both the service account's DN and its password, or neither".into());
        }
        let tls = match &config.ca_file {
            None => None,
            Some(path) => Some(Arc::new(tls_with_ca(path)?)),
        };
        Ok(Directory { config, tls })
    }

    /// Checks `username` and `password` against the directory; the user's entry and groups.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, LoginFailure> {
        // An empty password makes a simple bind "unauthenticated": it would succeed.
        if password.is_empty() {
            return Err(LoginFailure::BadCredentials("empty password".into()));
        }
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.exchange(username, password)).await {
            Ok(r) => r,
            Err(_) => Err(LoginFailure::Unavailable(format!(
                "the directory at {} did not answer within {:.1} s",
                self.config.url,
                timeout.as_secs_f64()
            ))),
        }
    }

    async fn exchange(
        &self,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, LoginFailure> {
        let c = &self.config;
        let unavailable =
            |what: &str, e: ldap3::LdapError| LoginFailure::Unavailable(format!("{what}: {e}"));
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(c.timeout)
            .set_starttls(c.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &c.url)
            .await
            .map_err(|e| unavailable(&format!("cannot reach the directory at {}", c.url), e))?;
        ldap3::drive!(conn);
        if let (Some(dn), Some(pw)) = (&c.bind_dn, &c.bind_password) {
            let r = ldap
                .simple_bind(dn, pw.expose())
                .await
                .map_err(|e| unavailable("service bind", e))?;
            if r.rc != 0 {
                return Err(LoginFailure::Unavailable(format!(
                    "the directory refused vdc's service account {dn} (code {}: {})",
                    r.rc, r.text
                )));
            }
        }
        let escaped = ldap_escape(username);
        let filter = c.user_filter.replace("{username}", &escaped);
        let (entries, _) = ldap
            .search(&c.user_base, Scope::Subtree, &filter, USER_ATTRS)
            .await
            .and_then(|r| r.success())
            .map_err(|e| unavailable("user search", e))?;
        let entry = match entries.len() {
            0 => {
                return Err(LoginFailure::BadCredentials(
                    "no such user in the directory".into(),
                ));
            }
            1 => SearchEntry::construct(entries.into_iter().next().expect("one entry")),
            n => {
                return Err(LoginFailure::Unavailable(format!(
                    "{n} directory entries match {username}: the user filter must find one"
                )));
            }
        };
        let gfilter = c
            .group_filter
            .replace("{dn}", &ldap_escape(entry.dn.as_str()))
            .replace("{username}", &escaped);
        let (groups, _) = ldap
            .search(&c.group_base, Scope::Subtree, &gfilter, vec!["cn"])
            .await
            .and_then(|r| r.success())
            .map_err(|e| unavailable("group search", e))?;
        let mut names: Vec<String> = Vec::new();
        for g in groups {
            let g = SearchEntry::construct(g);
            names.extend(g.attrs.get("cn").into_iter().flatten().cloned());
            names.push(g.dn);
        }
        // Directories with a memberOf overlay (and Active Directory) list groups on the user.
        for (k, v) in &entry.attrs {
            if k.eq_ignore_ascii_case("memberOf") {
                names.extend(v.iter().cloned());
            }
        }
        let r = ldap
            .simple_bind(&entry.dn, password)
            .await
            .map_err(|e| unavailable("user bind", e))?;
        let _ = ldap.unbind().await;
        if r.rc != 0 {
            return Err(bind_refusal(r.rc, &r.text));
        }
        let today = db::now_ms().div_euclid(86_400_000);
        if let Some(why) = account_disabled(&entry.attrs, today) {
            return Err(LoginFailure::Disabled(why));
        }
        Ok(DirectoryUser {
            dn: entry.dn,
            groups: names,
        })
    }
}

/// A TLS client trusting only the CA certificates in `path` (PEM).
fn tls_with_ca(path: &std::path::Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
        format!(
            "cannot read the directory's CA file {}: {e}",
            path.display()
        )
    })?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: unusable certificate: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

impl App {
    /// Logs a user in through the directory: checks the password there, maps the groups to
    /// roles, records the user and its directory roles; refused (audited, no session) for a
    /// wrong password, a disabled account, an unreachable directory or no role at all.
    pub(crate) async fn directory_login(
        &self,
        dir: &Directory,
        username: &str,
        password: &str,
    ) -> Result<db::User, Error> {
        let refuse = |detail: String| async move {
            self.audit(
                username,
                "auth.login",
                ("user", None),
                AuditResult::Denied,
                Some(format!("source=ldap {detail}")),
            )
            .await;
        };
        let found = match dir.authenticate(username, password).await {
            Ok(u) => u,
            Err(LoginFailure::BadCredentials(why)) => {
                refuse(why).await;
                return Err(Error::BadCredentials);
            }
            Err(LoginFailure::Disabled(why)) => {
                refuse(format!("disabled: {why}")).await;
                return Err(Error::forbidden(format!(
                    "{username} is disabled in the directory: {why}"
                )));
            }
            Err(LoginFailure::Unavailable(why)) => {
                tracing::warn!(%why, "directory login failed");
                refuse(format!("directory unavailable: {why}")).await;
                return Err(Error::Unavailable {
                    message: format!("the directory cannot check logins now: {why}"),
                });
            }
        };
        let mut candidate = db::User {
            id: UserId::new(),
            username: username.to_string(),
            password_hash: "directory".into(),
            department_id: None,
            directory_dn: Some(found.dn.clone()),
            created_at: db::now_ms(),
        };
        let (bindings, skipped) = self.resolve_mappings(dir, &found, &mut candidate).await?;
        let (user, before, added) = self.db.sync_directory_user(&candidate, &bindings).await?;
        let after = self.db.bindings(Some(user.id)).await?;
        let target = ("user", Some(user.id.to_string()));
        if added {
            self.audit(
                "directory",
                "user.create",
                target.clone(),
                AuditResult::Ok,
                Some(format!("username={username} dn={}", found.dn)),
            )
            .await;
        }
        let texts = |bs: &[db::RoleBinding]| {
            bs.iter()
                .map(crate::app::views::binding_text)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if texts(&before) != texts(&after) {
            self.audit(
                "directory",
                "user.roles_synced",
                target.clone(),
                AuditResult::Ok,
                Some(format!(
                    "username={username} before=[{}] after=[{}]",
                    texts(&before),
                    texts(&after)
                )),
            )
            .await;
        }
        if after.is_empty() {
            refuse("no role: in none of the mapped groups".into()).await;
            return Err(Error::forbidden(format!(
                "{username} is in none of the directory groups vdc maps to a role"
            )));
        }
        let mut detail = "source=ldap".to_string();
        if !skipped.is_empty() {
            detail.push_str(&format!(" skipped: {}", skipped.join("; ")));
        }
        self.audit(
            username,
            "auth.login",
            target,
            AuditResult::Ok,
            Some(detail),
        )
        .await;
        Ok(user)
    }

    /// The role bindings a directory user's groups map to (for `user`, which joins the
    /// department of the first department-scoped one), and the mappings skipped (unknown
    /// role, department or cluster).
    async fn resolve_mappings(
        &self,
        dir: &Directory,
        found: &DirectoryUser,
        user: &mut db::User,
    ) -> Result<(Vec<db::RoleBinding>, Vec<String>), Error> {
        let custom = self.custom_role_map().await?;
        let departments = self.db.list_departments().await?;
        let clusters = self.db.list_clusters().await?;
        let (mut out, mut skipped) = (Vec::new(), Vec::new());
        for m in mapped(&dir.config.groups, &found.groups) {
            if Self::role_permissions(&m.role, &custom).is_none() {
                skipped.push(format!("{}: no role {}", m.group, m.role));
                continue;
            }
            let (d, c) = match &m.scope {
                MappedScope::Global => (None, None),
                MappedScope::Department(name) => {
                    match departments.iter().find(|d| &d.name == name) {
                        Some(d) => (Some(d.id), None),
                        None => {
                            skipped.push(format!("{}: no department {name}", m.group));
                            continue;
                        }
                    }
                }
                MappedScope::Cluster(name) => match clusters.iter().find(|c| &c.name == name) {
                    Some(c) => (None, Some(c.id)),
                    None => {
                        skipped.push(format!("{}: no cluster {name}", m.group));
                        continue;
                    }
                },
            };
            user.department_id = user.department_id.or(d);
            out.push(db::RoleBinding {
                id: RoleBindingId::new(),
                user_id: user.id,
                role: m.role.clone(),
                department_id: d,
                cluster_id: c,
                from_group: Some(m.group.clone()),
                created_at: db::now_ms(),
            });
        }
        if !skipped.is_empty() {
            tracing::warn!(skipped = ?skipped, "directory group mappings that match nothing in vdc");
        }
        Ok((out, skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect()
    }

    #[test]
    fn mappings_parse_with_their_scope() {
        let m: GroupMapping = "vdc-admins=admin".parse().unwrap();
        assert_eq!(m.scope, MappedScope::Global);
        let m: GroupMapping = "cn=web,ou=groups,dc=x=requester@web".parse().unwrap();
        assert_eq!(m.group, "cn=web,ou=groups,dc=x");
        assert_eq!(m.scope, MappedScope::Department("web".into()));
        let m: GroupMapping = "ops=operator@cluster:c1".parse().unwrap();
        assert_eq!(m.scope, MappedScope::Cluster("c1".into()));
        for bad in ["admins", "=admin", "g=", "g=admin@", "g=admin@cluster:"] {
            assert!(bad.parse::<GroupMapping>().is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_match_by_cn_or_dn_without_case_each_role_once() {
        let ms: Vec<GroupMapping> = ["Admins=admin", "cn=admins,dc=x=admin", "devs=requester@web"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got = mapped(&ms, &["admins".into(), "CN=Admins,DC=x".into()]);
        assert_eq!(got.len(), 1, "the same role and scope once");
        assert_eq!(got[0].role, "admin");
        assert!(mapped(&ms, &["other".into()]).is_empty());
    }

    #[test]
    fn disabled_accounts_are_recognised_per_directory_kind() {
        let today = 20_000;
        assert!(account_disabled(&attrs(&[("shadowExpire", "1")]), today).is_some());
        assert!(account_disabled(&attrs(&[("shadowExpire", "20001")]), today).is_none());
        assert!(account_disabled(&attrs(&[("shadowExpire", "-1")]), today).is_none());
        assert!(
            account_disabled(&attrs(&[("pwdAccountLockedTime", "000001010000Z")]), today).is_some()
        );
        assert!(account_disabled(&attrs(&[("nsaccountlock", "TRUE")]), today).is_some());
        assert!(account_disabled(&attrs(&[("nsAccountLock", "false")]), today).is_none());
        assert!(account_disabled(&attrs(&[("userAccountControl", "514")]), today).is_some());
        assert!(account_disabled(&attrs(&[("userAccountControl", "512")]), today).is_none());
        assert!(account_disabled(&attrs(&[]), today).is_none());
    }

    #[test]
    fn refused_binds_say_why_when_the_directory_does() {
        assert_eq!(
            bind_refusal(
                49,
                "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v2580"
            ),
            LoginFailure::Disabled("the account is disabled".into())
        );
        assert!(matches!(
            bind_refusal(49, ""),
            LoginFailure::BadCredentials(_)
        ));
        assert!(matches!(
            bind_refusal(52, "busy"),
            LoginFailure::Unavailable(_)
        ));
    }

    #[test]
    fn a_bad_configuration_stops_the_start() {
        let base = "dc=example,dc=test";
        assert!(Directory::new(LdapConfig::new("http://x", base)).is_err());
        let mut c = LdapConfig::new("ldaps://x", base);
        c.starttls = true;
        assert!(Directory::new(c).is_err());
        let mut c = LdapConfig::new("ldap://x", base);
        c.user_filter = "(uid=alice)".into();
        assert!(Directory::new(c).is_err());
        let mut c = LdapConfig::new("ldap://x", base);
        c.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(Directory::new(c).unwrap_err().contains("CA file"));
        assert!(Directory::new(LdapConfig::new("ldap://x", base)).is_ok());
    }
}
