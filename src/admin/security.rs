//! Credentials and cross-site protection for everything except `/role`,
//! `/healthz` and `/metrics`: HTTP Basic against `[auth]` users, or
//! `Authorization: Bearer <token>`; state-changing requests from another
//! origin (by `Sec-Fetch-Site` or `Origin`) are refused, so a browser that
//! remembers Basic credentials cannot be made to post a form cross-site.

use super::error::ApiError;
use super::AdminState;
use crate::auth::Principal;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// Middleware: authenticates, then hands the [`Principal`] to the handler
/// as a request extension.
pub async fn guard(State(state): State<AdminState>, mut req: Request, next: Next) -> Response {
    if let Err(e) = same_origin(req.method(), req.headers()) {
        return e.into_response();
    }
    match authenticate(&state, req.headers()).await {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

async fn authenticate(state: &AdminState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "credentials required: HTTP Basic (a user of [auth]) or a bearer token",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not valid text"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return state
            .auth
            .verify_token(rest)
            .ok_or_else(|| unauthorized("unknown bearer token"));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unauthorized(
            "unsupported Authorization scheme; use Basic or Bearer",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| unauthorized("Basic credentials are not valid base64 of user:password"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| unauthorized("Basic credentials must be user:password"))?;
    let (auth, user, password) = (state.auth.clone(), user.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || auth.verify_password(&user, &password))
        .await
        .ok()
        .flatten()
        .ok_or_else(|| unauthorized("wrong user name or password"))
}

/// Refuses a state-changing request a browser sent from another site.
/// Requests without these headers (curl, scripts) pass: they carry no
/// ambient browser credentials.
fn same_origin(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if site == "same-origin" || site == "none" {
            return Ok(());
        }
        return Err(ApiError::forbidden(format!(
            "cross-site request refused (Sec-Fetch-Site: {site})"
        )));
    }
    if let Some(origin) = text("origin") {
        let origin_host = origin
            .split_once("://")
            .map(|(_, h)| h.trim_end_matches('/'))
            .unwrap_or("");
        let host = text("host").unwrap_or("");
        if origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Err(ApiError::forbidden(format!(
                "cross-site request refused (Origin {origin} is not this server)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let post = Method::POST;
        assert!(same_origin(&post, &headers(&[])).is_ok());
        assert!(same_origin(&Method::GET, &headers(&[("origin", "http://evil")])).is_ok());
        assert!(same_origin(&post, &headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&post, &headers(&[("sec-fetch-site", "same-origin")])).is_ok());
        let same = headers(&[("origin", "http://h:8161"), ("host", "h:8161")]);
        assert!(same_origin(&post, &same).is_ok());
        let other = headers(&[("origin", "http://evil:80"), ("host", "h:8161")]);
        assert!(same_origin(&post, &other).is_err());
        assert!(same_origin(&post, &headers(&[("origin", "null"), ("host", "h")])).is_err());
    }
}
