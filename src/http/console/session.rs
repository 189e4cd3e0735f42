//! Signing in and out of the console, and the session cookie.
//!
//! The cookie holds the session secret: `HttpOnly` (no script reads it), `SameSite=Strict`
//! (no other site's page sends it), and behind HTTPS `Secure` with the `__Host-` prefix (no
//! subdomain can set or scope it). The sign-in form carries a double-submit token against
//! login CSRF; every later state-changing form carries the session's CSRF token
//! (`Operator::csrf_matches`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::ConsoleError;
use super::view::{self, html};
use super::{CONSOLE_PATH, SIGN_IN_PATH};
use crate::access::credentials::CredentialKind;
use crate::access::operator_sessions::{self, Operator};
use crate::http::auth::authenticate_secret;
use crate::http::error::ApiError;
use crate::http::{AppState, blocking, request_info};
use crate::scim::ScimError;

/// The session cookie's name over plain HTTP, and (with `__Host-`) behind HTTPS.
const SESSION_COOKIE: &str = "scimitar-console";
/// The sign-in form's double-submit cookie.
const SIGN_IN_COOKIE: &str = "scimitar-console-sign-in";

/// A request of a signed-in operator; anything else is sent to the sign-in page.
pub struct SignedIn(pub Operator);

impl FromRequest for SignedIn {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let secret = cookie(request, SESSION_COOKIE);
        let state = request.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (Some(secret), Some(state)) = (secret, state) else {
                return Err(ConsoleError::SignInRequired);
            };
            let (store, limits, now) = (state.store.clone(), state.console, state.clock.now());
            let operator =
                blocking(move || Ok(operator_sessions::resume(&store, &secret, limits, now)?))
                    .await?;
            operator.map(SignedIn).ok_or(ConsoleError::SignInRequired)
        })
    }
}

/// Refuses a state-changing form that does not carry the session's CSRF token.
pub fn check_csrf(operator: &Operator, presented: Option<&str>) -> Result<(), ConsoleError> {
    match presented {
        Some(token) if operator.csrf_matches(token) => Ok(()),
        _ => {
            tracing::warn!(client_id = %operator.client_id, "console form refused: CSRF token missing or wrong");
            Err(ConsoleError::CsrfRefused)
        }
    }
}

#[derive(Template)]
#[template(path = "sign_in.html", config = "src/http/console/askama.toml")]
struct SignInPage<'a> {
    csrf: &'a str,
    problem: Option<&'a str>,
}

/// `GET /console/sign-in`: the form, with a fresh double-submit token.
pub async fn sign_in_form(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    sign_in_page(&request, &state, actix_web::http::StatusCode::OK, None)
}

fn sign_in_page(
    request: &HttpRequest,
    state: &AppState,
    status: actix_web::http::StatusCode,
    problem: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let token = operator_sessions::new_secret()?;
    let page = SignInPage {
        csrf: &token,
        problem,
    };
    let mut response = html(status, &page)?;
    set_cookie(
        &mut response,
        request,
        state,
        SIGN_IN_COOKIE,
        &token,
        Some(3600),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    secret: String,
    csrf: Option<String>,
}

/// `POST /console/sign-in`: an admin credential's secret opens a new session (any session the
/// browser already had is ended, so no id chosen before sign-in survives it).
pub async fn sign_in(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form: SignInForm = view::form(&body)?;
    let expected = cookie(&request, SIGN_IN_COOKIE).unwrap_or_default();
    let presented = form.csrf.unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        tracing::warn!("console sign-in refused: double-submit token missing or wrong");
        return Err(ConsoleError::CsrfRefused);
    }
    let secret = form.secret.trim().to_string();
    let missing = if secret.is_empty() {
        Err(ApiError::Unauthorized("no secret given".into()))
    } else {
        Ok(secret)
    };
    let caller = match authenticate_secret(&request, missing, None, &[CredentialKind::Admin]).await
    {
        Ok(caller) => caller,
        Err(ApiError::Unauthorized(_)) => {
            let problem = "That secret is not a valid credential.";
            return sign_in_page(
                &request,
                &state,
                actix_web::http::StatusCode::UNAUTHORIZED,
                Some(problem),
            );
        }
        Err(ApiError::Scim(ScimError::Forbidden(_))) => {
            let problem =
                "Only an admin credential can sign in; this one is an app or SCIM credential.";
            return sign_in_page(
                &request,
                &state,
                actix_web::http::StatusCode::FORBIDDEN,
                Some(problem),
            );
        }
        Err(other) => return Err(other.into()),
    };
    let replacing = cookie(&request, SESSION_COOKIE);
    let info = request_info(&request);
    let (store, limits, now) = (state.store.clone(), state.console, state.clock.now());
    let opened = blocking(move || {
        Ok(operator_sessions::open(
            &store,
            &caller,
            replacing.as_deref(),
            &info,
            limits,
            now,
        )?)
    })
    .await?;
    let mut response = redirect(CONSOLE_PATH);
    let lifetime = limits.lifetime.num_seconds();
    set_cookie(
        &mut response,
        &request,
        &state,
        SESSION_COOKIE,
        &opened.secret,
        Some(lifetime),
    );
    set_cookie(&mut response, &request, &state, SIGN_IN_COOKIE, "", Some(0));
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

/// `POST /console/sign-out`: the session ends on every replica, and the cookie is cleared.
pub async fn sign_out(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form: CsrfForm = view::form(&body)?;
    check_csrf(&operator, form.csrf.as_deref())?;
    let info = request_info(&request);
    let (store, now) = (state.store.clone(), state.clock.now());
    blocking(move || Ok(operator_sessions::close(&store, &operator, &info, now)?)).await?;
    let mut response = redirect(SIGN_IN_PATH);
    set_cookie(&mut response, &request, &state, SESSION_COOKIE, "", Some(0));
    Ok(response)
}

/// `303 See Other` to `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Whether the browser reaches us over HTTPS: we terminate TLS, the configured public URL is
/// `https://`, or a trusted proxy says so in `X-Forwarded-Proto`.
fn over_https(request: &HttpRequest, state: &AppState) -> bool {
    let forwarded = state.trust_forwarded_for
        && request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    request.app_config().secure()
        || state
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
        || forwarded
}

/// The cookie's name on this connection: `__Host-` prefixed behind HTTPS.
fn cookie_name(request: &HttpRequest, name: &str) -> String {
    let state = request.app_data::<web::Data<AppState>>();
    match state {
        Some(state) if over_https(request, state) => format!("__Host-{name}"),
        _ => name.to_string(),
    }
}

fn set_cookie(
    response: &mut HttpResponse,
    request: &HttpRequest,
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) {
    let secure = if over_https(request, state) {
        "; Secure"
    } else {
        ""
    };
    let max_age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{max_age}",
        cookie_name(request, name)
    );
    if let Ok(value) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The value of the named cookie (under its name on this connection), if the browser sent it.
fn cookie(request: &HttpRequest, name: &str) -> Option<String> {
    let name = cookie_name(request, name);
    request
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_string())
}
