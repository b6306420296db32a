//! The login page, the server-side login form and logout.

use super::*;

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) user: String,
    pub(crate) error: Option<String>,
    pub(crate) username: String,
}

pub(crate) async fn login_page() -> Page {
    html(&LoginPage {
        user: String::new(),
        error: None,
        username: String::new(),
    })
}

#[derive(serde::Deserialize)]
pub(crate) struct LoginForm {
    pub(crate) username: String,
    pub(crate) password: String,
}

pub(crate) async fn login(State(app): State<App>, Form(f): Form<LoginForm>) -> Page {
    let p = LoginParams {
        username: f.username.clone(),
        password: f.password,
    };
    match app.open_session(&p).await {
        Ok((token, session)) => {
            let [a, b] =
                session_cookies(&token, &session.csrf_token, app.config.token_ttl.as_secs());
            Ok((
                StatusCode::SEE_OTHER,
                AppendHeaders([
                    (header::SET_COOKIE, a),
                    (header::SET_COOKIE, b),
                    (header::LOCATION, "/".to_string()),
                ]),
            )
                .into_response())
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let page = LoginPage {
                user: String::new(),
                error: Some(e.to_string()),
                username: f.username,
            };
            Ok((status, Html(page.render()?)).into_response())
        }
    }
}

pub(crate) async fn logout(State(app): State<App>, headers: HeaderMap) -> Page {
    if let Some(token) = session_cookie(&headers)
        && let Ok(actor) = app.authenticate_with(token, true, None, true).await
    {
        app.logout(&actor, token).await?;
    }
    Ok((
        StatusCode::SEE_OTHER,
        AppendHeaders([
            (header::SET_COOKIE, cleared_session_cookie()),
            (header::SET_COOKIE, cleared_csrf_cookie()),
            (header::LOCATION, "/login".to_string()),
        ]),
    )
        .into_response())
}
