//! Secrets kept out of configuration files, and out of logs.
//!
//! A string value that is exactly `${env:NAME}` is replaced by the
//! environment variable `NAME`; one that is exactly `${file:PATH}` by the
//! contents of the file at `PATH` without its final line break (Docker and
//! Kubernetes secrets). This works for every string key, in the file, in
//! `BATON_*` variables and in flags. Errors name the key and the variable
//! or file, never a value.

use super::{invalid, ConfigError, DatabaseConfig};
use std::collections::HashMap;
use std::io::Read;

/// Replaces every `${env:..}` / `${file:..}` value in `table` (and in
/// nested tables and arrays, e.g. `auth.users`).
pub(super) fn expand(
    table: &mut toml::Table,
    env: &HashMap<String, String>,
) -> Result<(), ConfigError> {
    for (name, value) in table.iter_mut() {
        expand_value(name, value, env)?;
    }
    Ok(())
}

fn expand_value(
    key: &str,
    value: &mut toml::Value,
    env: &HashMap<String, String>,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) => {
            if let Some(resolved) = resolve(key, s, env)? {
                *s = resolved;
            }
        }
        toml::Value::Table(t) => {
            for (name, v) in t.iter_mut() {
                expand_value(&format!("{key}.{name}"), v, env)?;
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                expand_value(&format!("{key}[{i}]"), v, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The value a reference stands for; `None` when `raw` is no reference.
fn resolve(
    key: &str,
    raw: &str,
    env: &HashMap<String, String>,
) -> Result<Option<String>, ConfigError> {
    let Some(inner) = raw.strip_prefix("${").and_then(|r| r.strip_suffix('}')) else {
        return Ok(None);
    };
    if let Some(var) = inner.strip_prefix("env:") {
        return match env.get(var) {
            Some(v) => Ok(Some(v.clone())),
            None => Err(invalid(
                key,
                format!("it refers to the environment variable {var}, which is not set"),
            )),
        };
    }
    if let Some(path) = inner.strip_prefix("file:") {
        let text = read_secret(path).map_err(|e| {
            invalid(
                key,
                format!("cannot read the file {path} it refers to: {e}"),
            )
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        return Ok(Some(text.strip_suffix('\r').unwrap_or(text).to_string()));
    }
    Err(invalid(
        key,
        "a value of the form ${...} must be ${env:NAME} or ${file:PATH}",
    ))
}

/// Largest secret file read: a secret is one value, and a reference to
/// something endless (`/dev/zero`) must not exhaust memory.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

fn read_secret(path: &str) -> std::io::Result<String> {
    // Devices and pipes (`/dev/stdin`) could block start-up for ever.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} KiB; a secret file holds one value",
            MAX_SECRET_BYTES / 1024
        )));
    }
    Ok(text)
}

/// A database URL without its password (user info and `password=` query
/// parameters), for logs, errors and pages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (head, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***{host}"),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                        format!("{k}=***")
                    }
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{head}{authority}{tail}")
}

/// Shows the URL without its password and never the password.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("table_prefix", &self.table_prefix)
            .field("write_queue", &self.write_queue)
            .field("max_batch", &self.max_batch)
            .field("commit_wait_us", &self.commit_wait_us)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .finish()
    }
}

/// The parser's message with the line and column, but without the quoted
/// source line it would show: that line may hold a password.
pub(super) fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn env_and_file_references_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut t = table(&format!(
            "[database]\npassword = \"${{file:{}}}\"\nusername = \"${{env:DB_USER}}\"\nurl = \"x${{env:DB_USER}}\"\n[[auth.users]]\nname = \"${{env:DB_USER}}\"",
            file.display()
        ));
        expand(&mut t, &env(&[("DB_USER", "alice")])).unwrap();
        assert_eq!(t["database"]["password"].as_str(), Some("from-file"));
        assert_eq!(t["database"]["username"].as_str(), Some("alice"));
        assert_eq!(t["database"]["url"].as_str(), Some("x${env:DB_USER}"));
        assert_eq!(t["auth"]["users"][0]["name"].as_str(), Some("alice"));
    }

    #[test]
    fn errors_name_the_key_and_the_source_but_no_value() {
        let mut t = table("[database]\npassword = \"${env:NOPE_PW}\"");
        let e = expand(&mut t, &env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("database.password") && e.contains("NOPE_PW"),
            "{e}"
        );
        let mut t = table("[database]\npassword = \"${file:/nonexistent/pw}\"");
        let e = expand(&mut t, &env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("database.password") && e.contains("/nonexistent/pw"),
            "{e}"
        );
        let mut t = table("[database]\npassword = \"${file:/dev/zero}\"");
        let e = expand(&mut t, &env(&[])).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let big = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(big.path(), vec![b'x'; 70 * 1024]).unwrap();
        let mut t = table(&format!(
            "[database]\npassword = \"${{file:{}}}\"",
            big.path().display()
        ));
        let e = expand(&mut t, &env(&[])).unwrap_err().to_string();
        assert!(e.contains("larger than 64 KiB"), "{e}");
        let mut t = table("[[auth.users]]\nname = \"${vault:x}\"");
        let e = expand(&mut t, &env(&[])).unwrap_err().to_string();
        assert!(e.contains("auth.users[0].name"), "{e}");
    }

    #[test]
    fn debug_output_hides_the_password() {
        let db = crate::config::DatabaseConfig {
            url: "postgres://u:in-url-pw@h/db".into(),
            password: Some("key-pw".into()),
            ..Default::default()
        };
        let shown = format!("{db:?}");
        assert!(
            !shown.contains("in-url-pw") && !shown.contains("key-pw"),
            "{shown}"
        );
        assert!(shown.contains("postgres://u:***@h/db"), "{shown}");
    }

    #[test]
    fn syntax_errors_give_the_place_not_the_line() {
        let text = "[database]\npassword = \"hunter2";
        let e = text.parse::<toml::Table>().unwrap_err();
        let m = syntax_message(text, &e);
        assert!(m.starts_with("line 2, column "), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("postgres://u:s3cret@h:5432/db?sslmode=disable"),
            "postgres://u:***@h:5432/db?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?password=s3cret&application_name=a"),
            "postgres://u@h/db?password=***&application_name=a"
        );
        assert_eq!(redact_url("mysql://u:p%40ss@h/db"), "mysql://u:***@h/db");
        assert_eq!(redact_url("mysql://root@h/db"), "mysql://root@h/db");
        assert_eq!(
            redact_url("sqlite:./data/baton.db"),
            "sqlite:./data/baton.db"
        );
    }
}
