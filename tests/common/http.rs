//! A small blocking HTTP/1.1 client for the admin server tests: one
//! request per connection, Basic or Bearer credentials, JSON helpers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a JSON error body with this status; returns its message.
    pub fn expect_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "error without JSON content type: {:?}",
            self.headers
        );
        let v = self.json();
        assert_eq!(v["status"], status, "{v}");
        v["error"].as_str().expect("error text").to_string()
    }
}

/// A client for one admin server with fixed credentials.
#[derive(Clone)]
pub struct Http {
    pub addr: String,
    pub authorization: Option<String>,
}

impl Http {
    pub fn anonymous(addr: &str) -> Http {
        Http {
            addr: addr.to_string(),
            authorization: None,
        }
    }

    pub fn basic(addr: &str, user: &str, password: &str) -> Http {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Http {
            addr: addr.to_string(),
            authorization: Some(format!("Basic {token}")),
        }
    }

    pub fn bearer(addr: &str, token: &str) -> Http {
        Http {
            addr: addr.to_string(),
            authorization: Some(format!("Bearer {token}")),
        }
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut s = TcpStream::connect(&self.addr)
            .unwrap_or_else(|e| panic!("connect to admin {}: {e}", self.addr));
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(a) = &self.authorization {
            req.push_str(&format!("Authorization: {a}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        // A server may answer (413) before reading a large body.
        let _ = s.write_all(&bytes);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        parse(&raw)
            .unwrap_or_else(|| panic!("bad HTTP response: {}", String::from_utf8_lossy(&raw)))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], b"")
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, &[], b"")
    }

    /// POST with a content type.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Resp {
        self.request("POST", path, &[("Content-Type", content_type)], body)
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Resp {
        self.post(path, "application/json", body.to_string().as_bytes())
    }
}

fn parse(raw: &[u8]) -> Option<Resp> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = data.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&data[..nl]).ok()?.trim(), 16).ok()?;
        data = &data[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
