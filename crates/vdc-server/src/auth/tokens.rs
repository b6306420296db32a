//! Named API tokens: a user makes them for scripts, optionally limited to some of the
//! permissions they hold, lists them (never their secrets) and revokes them.

use vdc_db as db;
use vdc_types::*;

use crate::app::Actor;
use crate::app::App;

const DAY_MS: i64 = 86_400_000;

fn view(t: &db::TokenRecord) -> TokenView {
    TokenView {
        id: t.id.map(|i| i.to_string()).unwrap_or_default(),
        name: t.name.clone().unwrap_or_default(),
        permissions: t.permissions.clone(),
        created_at: rfc3339(t.created_at),
        expires_at: rfc3339(t.expires_at),
    }
}

impl App {
    /// Makes a named token for the caller; it may be limited only to permissions the caller
    /// holds, and a caller whose own token is limited makes tokens within that limit.
    pub async fn create_token(
        &self,
        actor: &Actor,
        mut p: TokenCreateParams,
    ) -> Result<TokenCreated, Error> {
        p.validate()?;
        if p.permissions.is_none() {
            p.permissions = actor.token_limit.clone();
        }
        if let Some(missing) = p
            .permissions
            .iter()
            .flatten()
            .find(|perm| !actor.has_anywhere(**perm))
        {
            return Err(Error::invalid(
                "permissions",
                format!("you do not hold {missing}"),
            ));
        }
        // An API token mints only tokens that end no later than itself (a 30-day token cannot
        // make a 365-day one); a password login's session may.
        let asked = db::now_ms() + i64::from(p.expires_in_days.unwrap_or(90)) * DAY_MS;
        let expires_at = actor.token_expires_at.map_or(asked, |end| asked.min(end));
        let (token, rec) = self
            .issue_token(
                actor.user.id,
                TokenKind::Api,
                expires_at,
                Some(p.name),
                p.permissions,
                None,
            )
            .await?;
        self.audit(
            actor.name(),
            "token.create",
            ("token", rec.id.map(|i| i.to_string())),
            AuditResult::Ok,
            Some(format!(
                "name={} permissions={}",
                rec.name.as_deref().unwrap_or(""),
                rec.permissions.as_ref().map_or_else(
                    || "all".to_string(),
                    |p| p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")
                )
            )),
        )
        .await;
        Ok(TokenCreated {
            token,
            info: view(&rec),
        })
    }

    /// The caller's named tokens.
    pub async fn list_tokens(&self, actor: &Actor) -> Result<Vec<TokenView>, Error> {
        Ok(self
            .db
            .api_tokens(actor.user.id, db::now_ms())
            .await?
            .iter()
            .map(view)
            .collect())
    }

    /// Revokes one of the caller's named tokens.
    pub async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<(), Error> {
        self.db.revoke_token(actor.user.id, id).await?;
        self.audit(
            actor.name(),
            "token.revoke",
            ("token", Some(id.to_string())),
            AuditResult::Ok,
            None,
        )
        .await;
        Ok(())
    }
}
