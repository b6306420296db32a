//! Logins and sessions: a username and password checked locally or against the directory,
//! bearer tokens and browser sessions (cookie + CSRF token) issued and ended, and the caller
//! behind a token.

use vdc_db::{self as db};
use vdc_types::*;

use crate::app::views;
use crate::app::{Actor, App};
use crate::auth;

impl App {
    /// Checks a username and password, locally or (for a user vdc does not know, or knows from
    /// the directory) against the LDAP directory; audits the attempt.
    async fn check_login(&self, p: &LoginParams) -> Result<db::User, Error> {
        let user = self.db.user_by_name(&p.username).await?;
        if let Some(dir) = self.part::<Option<crate::auth::ldap::Directory>>().as_ref()
            && user.as_ref().is_none_or(|u| u.directory_dn.is_some())
            && validate_name("username", &p.username).is_ok()
        {
            return self.directory_login(dir, &p.username, &p.password).await;
        }
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| auth::dummy_hash().to_string());
        let password = p.password.clone();
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
            .await
            .map_err(|e| Error::internal(format!("password check panicked: {e}")))?;
        // The attempted name is recorded only when it is a valid name, so nothing a user
        // typed by mistake (such as a password in the name field) lands in the log.
        let who = if validate_name("username", &p.username).is_ok() {
            p.username.as_str()
        } else {
            "(invalid name)"
        };
        match (user, ok) {
            (Some(u), true) => {
                self.audit(
                    &u.username,
                    "auth.login",
                    ("user", Some(u.id.to_string())),
                    AuditResult::Ok,
                    None,
                )
                .await;
                Ok(u)
            }
            _ => {
                self.audit(who, "auth.login", ("user", None), AuditResult::Denied, None)
                    .await;
                Err(Error::BadCredentials)
            }
        }
    }

    /// Stores a new token of `kind` for `user`, valid until `expires_at`; returns the secret
    /// and its record.
    pub(crate) async fn issue_token(
        &self,
        user: UserId,
        kind: TokenKind,
        expires_at: UnixMs,
        name: Option<String>,
        permissions: Option<Vec<Permission>>,
        csrf_hash: Option<String>,
    ) -> Result<(String, db::TokenRecord), Error> {
        let token = auth::random_secret();
        let now = db::now_ms();
        let rec = db::TokenRecord {
            id: Some(TokenId::new()),
            user_id: user,
            name,
            kind,
            permissions,
            csrf_hash,
            created_at: now,
            expires_at,
        };
        self.db
            .insert_token(&auth::token_hash(&token), &rec)
            .await?;
        Ok((token, rec))
    }

    /// Checks a username and password and opens a session (a bearer token).
    pub async fn login(&self, p: &LoginParams) -> Result<LoginResponse, Error> {
        let user = self.check_login(p).await?;
        let ttl = self.config.token_ttl.as_millis() as i64;
        let (token, rec) = self
            .issue_token(
                user.id,
                TokenKind::Session,
                db::now_ms() + ttl,
                None,
                None,
                None,
            )
            .await?;
        Ok(LoginResponse {
            token,
            expires_at: rfc3339(rec.expires_at),
            user: views::user(&user, &self.db.bindings(Some(user.id)).await?),
        })
    }

    /// Checks a username and password and opens a browser session: the cookie's token and
    /// the session's CSRF token.
    pub async fn open_session(&self, p: &LoginParams) -> Result<(String, SessionResponse), Error> {
        let user = self.check_login(p).await?;
        let csrf = auth::random_secret();
        let ttl = self.config.token_ttl.as_millis() as i64;
        let (token, rec) = self
            .issue_token(
                user.id,
                TokenKind::Cookie,
                db::now_ms() + ttl,
                None,
                None,
                Some(auth::token_hash(&csrf)),
            )
            .await?;
        Ok((
            token,
            SessionResponse {
                csrf_token: csrf,
                expires_at: rfc3339(rec.expires_at),
                user: views::user(&user, &self.db.bindings(Some(user.id)).await?),
            },
        ))
    }

    /// The caller behind a token (bearer or cookie). A cookie session must also present its
    /// CSRF token (`csrf`) unless the request changes nothing (`safe`); a token limited to
    /// some permissions grants only those.
    pub async fn authenticate_with(
        &self,
        token: &str,
        from_cookie: bool,
        csrf: Option<&str>,
        safe: bool,
    ) -> Result<Actor, Error> {
        let Some((user, rec)) = self
            .db
            .user_by_token(&auth::token_hash(token), db::now_ms())
            .await?
        else {
            return Err(Error::Unauthenticated);
        };
        if from_cookie {
            if rec.kind != TokenKind::Cookie {
                return Err(Error::Unauthenticated);
            }
            let presented = csrf.map(auth::token_hash);
            if !safe && (presented.is_none() || presented != rec.csrf_hash) {
                let e = Error::forbidden(
                    "CSRF token missing or wrong: send the session's csrf_token in X-CSRF-Token",
                );
                self.audit(
                    &user.username,
                    "auth.csrf",
                    ("user", Some(user.id.to_string())),
                    AuditResult::Denied,
                    Some(e.to_string()),
                )
                .await;
                return Err(e);
            }
        }
        let mut grants = self.grants_of(user.id).await?;
        if let Some(limit) = &rec.permissions {
            for g in &mut grants {
                g.permissions.retain(|p| limit.contains(p));
            }
        }
        Ok(Actor {
            grants,
            user,
            token_limit: rec.permissions,
            // A password login (session or browser cookie) may mint a long-lived API token;
            // an API token only tokens that end no later than itself.
            token_expires_at: (rec.kind == TokenKind::Api).then_some(rec.expires_at),
        })
    }

    /// The caller behind a bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<Actor, Error> {
        self.authenticate_with(token, false, None, true).await
    }

    /// Ends the caller's session.
    pub async fn logout(&self, actor: &Actor, token: &str) -> Result<(), Error> {
        self.db.delete_token(&auth::token_hash(token)).await?;
        self.audit(
            actor.name(),
            "auth.logout",
            ("user", Some(actor.user.id.to_string())),
            AuditResult::Ok,
            None,
        )
        .await;
        Ok(())
    }
}
