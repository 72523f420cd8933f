//! Errors of the admin HTTP API: every failure is a JSON body
//! `{"error": "...", "status": N}` (plus `master` on a slave), never a 500
//! for bad input. `json_errors` also rewrites axum's own plain-text
//! rejections (unknown route, wrong method, body too large) into that shape.

use crate::admin::data::DataError;
use crate::broker::{AdminOpError, BrokerError};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Extra fields merged into the body (e.g. `master`).
    pub extra: Option<(&'static str, Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            extra: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message, "status": self.status.as_u16() });
        if let (Some((k, v)), Some(map)) = (self.extra, body.as_object_mut()) {
            map.insert(k.to_string(), v);
        }
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"baton\", charset=\"UTF-8\""),
            );
        }
        resp
    }
}

impl From<DataError> for ApiError {
    fn from(e: DataError) -> ApiError {
        let status = match &e {
            DataError::NotFound(_) => StatusCode::NOT_FOUND,
            DataError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DataError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<AdminOpError> for ApiError {
    fn from(e: AdminOpError) -> ApiError {
        let status = match &e {
            AdminOpError::NoSuchDestination(_)
            | AdminOpError::NoSuchMessage { .. }
            | AdminOpError::NoSuchConnection(_) => StatusCode::NOT_FOUND,
            AdminOpError::InFlight(_)
            | AdminOpError::HasConsumers { .. }
            | AdminOpError::BeyondWindow { .. } => StatusCode::CONFLICT,
            AdminOpError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> ApiError {
        let status = match &e {
            BrokerError::Destination(_)
            | BrokerError::BadPattern(_)
            | BrokerError::SendToPattern(_)
            | BrokerError::DurableNeedsTopic(_) => StatusCode::BAD_REQUEST,
            BrokerError::UnknownDurable(_)
            | BrokerError::UnknownSubscription(_)
            | BrokerError::TempGone(_) => StatusCode::NOT_FOUND,
            BrokerError::DurableActive(_)
            | BrokerError::ClientIdInUse(_)
            | BrokerError::NotOwner(_) => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.to_string())
    }
}

/// Rewrites non-JSON error responses (axum's rejections) as JSON errors.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match (status, text.is_empty()) {
        (StatusCode::NOT_FOUND, true) => "no such endpoint (see /api/openapi.json)".to_string(),
        (StatusCode::METHOD_NOT_ALLOWED, true) => "method not allowed on this endpoint".to_string(),
        (StatusCode::PAYLOAD_TOO_LARGE, _) => {
            "request body too large (limit: admin.max_body_bytes)".to_string()
        }
        (_, true) => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string(),
        (_, false) => text,
    };
    let mut out = ApiError::new(status, message).into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    let (mut p, b) = out.into_parts();
    p.status = status;
    Response::from_parts(p, Body::new(b))
}
