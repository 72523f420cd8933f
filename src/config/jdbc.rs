//! JDBC URLs, as ActiveMQ's data sources write them, translated to the
//! sqlx URLs the stores open; and `database.username` / `database.password`
//! merged into the URL.
//!
//! Messages never contain a password: errors name the offending part of
//! the URL, and notes about dropped parameters hide the values of
//! parameters whose name mentions a password or key.

use super::{invalid, Backend, ConfigError, DatabaseConfig};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use url::Url;

/// A JDBC URL taken apart: the sqlx URL without credentials, the
/// credentials it carried (userinfo or `user=` / `password=` parameters),
/// and one note per JDBC-only parameter that was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JdbcUrl {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dropped: Vec<String>,
}

/// Whether `url` is a JDBC URL (`jdbc:...`).
pub fn is_jdbc(url: &str) -> bool {
    url.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("jdbc:"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Postgres,
    Mysql,
    Mariadb,
}

/// Translates `jdbc:postgresql:`, `jdbc:mysql:`, `jdbc:mariadb:` and
/// `jdbc:sqlite:` URLs. The error says what is wrong without repeating the
/// URL (it may hold a password).
pub fn translate(jdbc: &str) -> Result<JdbcUrl, String> {
    let rest = jdbc.get(5..).unwrap_or("");
    let Some((sub, after)) = rest.split_once(':') else {
        return Err(
            "a JDBC URL has the form jdbc:<database>:..., e.g. jdbc:postgresql://host/db".into(),
        );
    };
    let dialect = match sub.to_ascii_lowercase().as_str() {
        "postgresql" => Dialect::Postgres,
        "mysql" => Dialect::Mysql,
        "mariadb" => Dialect::Mariadb,
        "sqlite" => {
            return Ok(JdbcUrl {
                url: format!("sqlite:{after}"),
                user: None,
                password: None,
                dropped: Vec::new(),
            })
        }
        "derby" => {
            return Err("jdbc:derby: (ActiveMQ's embedded Derby) is not supported; use sqlite:PATH for a single node, or PostgreSQL / MySQL / MariaDB for several".into())
        }
        other => {
            return Err(format!(
                "jdbc:{other}: is not supported; expected jdbc:postgresql:, jdbc:mysql: or jdbc:mariadb: (or sqlite:, postgres://, mysql://, mariadb://)"
            ))
        }
    };
    let after = match (dialect, after.strip_prefix("//")) {
        (_, Some(a)) => a.to_string(),
        // jdbc:postgresql:dbname and jdbc:postgresql:/ mean localhost.
        (Dialect::Postgres, None) => format!("localhost/{}", after.trim_start_matches('/')),
        (_, None) => {
            let mode = after.split(':').next().unwrap_or(after);
            return Err(format!(
                "jdbc:{sub}:{mode}: is not supported: Baton connects to one database host; give jdbc:{sub}://host:port/database"
            ));
        }
    };
    let authority = &after[..after.find(['/', '?']).unwrap_or(after.len())];
    if authority.contains(',') {
        return Err(format!(
            "the JDBC URL names several hosts; Baton connects to one database host (use the address that always reaches the primary), jdbc:{sub}://host:port/database"
        ));
    }
    let scheme = match dialect {
        Dialect::Postgres => "postgres",
        Dialect::Mysql => "mysql",
        Dialect::Mariadb => "mariadb",
    };
    let mut url = Url::parse(&format!("{scheme}://{after}"))
        .map_err(|e| format!("the JDBC URL's host part is invalid: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        url.set_host(Some("localhost"))
            .map_err(|e| format!("the JDBC URL's host part is invalid: {e}"))?;
    }
    let mut out = JdbcUrl {
        url: String::new(),
        user: decoded(url.username()),
        password: url.password().and_then(decoded),
        dropped: Vec::new(),
    };
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    let mut kept: Vec<(String, String)> = Vec::new();
    let explicit_sslmode = pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("sslmode"));
    for (key, value) in pairs {
        match key.to_ascii_lowercase().as_str() {
            "user" => out.user = Some(value),
            "password" => out.password = Some(value),
            lower => match map_param(dialect, lower, &value, explicit_sslmode) {
                Param::Keep(k, v) => kept.push((k.to_string(), v)),
                Param::Drop(why) => out.dropped.push(dropped_note(&key, &value, why)),
            },
        }
    }
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    out.url = url.to_string();
    Ok(out)
}

enum Param {
    Keep(&'static str, String),
    Drop(&'static str),
}

fn map_param(dialect: Dialect, key: &str, value: &str, explicit_sslmode: bool) -> Param {
    let timeout = "use database.connect_timeout_ms / database.statement_timeout_ms";
    match (dialect, key) {
        (_, "connecttimeout" | "sockettimeout" | "logintimeout") => Param::Drop(timeout),
        (Dialect::Postgres, "sslmode") => Param::Keep("sslmode", value.to_string()),
        (Dialect::Postgres, "ssl") if explicit_sslmode => Param::Drop("sslmode decides"),
        (Dialect::Postgres, "ssl") => match value {
            "" | "true" => Param::Keep("sslmode", "verify-full".into()),
            _ => Param::Drop("ssl=false is the default"),
        },
        (Dialect::Postgres, "sslrootcert") => Param::Keep("sslrootcert", value.to_string()),
        (Dialect::Postgres, "sslcert") => Param::Keep("sslcert", value.to_string()),
        (Dialect::Postgres, "sslkey") => Param::Keep("sslkey", value.to_string()),
        (Dialect::Postgres, "applicationname") => {
            Param::Keep("application_name", value.to_string())
        }
        (Dialect::Postgres, "currentschema") => {
            Param::Keep("options[search_path]", value.to_string())
        }
        (Dialect::Mysql | Dialect::Mariadb, "usessl") => match value {
            "true" => Param::Keep("ssl-mode", "required".into()),
            _ => Param::Keep("ssl-mode", "disabled".into()),
        },
        (Dialect::Mysql | Dialect::Mariadb, "sslmode") => {
            match value.to_ascii_lowercase().replace('-', "_").as_str() {
                "disabled" | "disable" => Param::Keep("ssl-mode", "disabled".into()),
                "preferred" => Param::Keep("ssl-mode", "preferred".into()),
                "required" | "trust" => Param::Keep("ssl-mode", "required".into()),
                "verify_ca" => Param::Keep("ssl-mode", "verify_ca".into()),
                "verify_identity" | "verify_full" => {
                    Param::Keep("ssl-mode", "verify_identity".into())
                }
                _ => Param::Drop("unknown sslMode"),
            }
        }
        _ => Param::Drop("JDBC-only, no sqlx equivalent"),
    }
}

fn dropped_note(key: &str, value: &str, why: &str) -> String {
    let lower = key.to_ascii_lowercase();
    let secret = ["pass", "secret", "key", "token"]
        .iter()
        .any(|s| lower.contains(s));
    if secret {
        format!("database.url: dropped JDBC parameter {key} ({why})")
    } else {
        format!("database.url: dropped JDBC parameter {key}={value} ({why})")
    }
}

fn decoded(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The URL the store opens: a JDBC URL translated, with `database.username`
/// and `database.password` merged in. The user may be given in both places
/// if they agree; a password in both places is an error (which one was
/// meant cannot be known). Returns the URL and notes to log.
pub(super) fn resolve(db: &DatabaseConfig) -> Result<(String, Vec<String>), ConfigError> {
    let jdbc = is_jdbc(&db.url);
    if !jdbc && db.username.is_none() && db.password.is_none() {
        return Ok((db.url.clone(), Vec::new()));
    }
    let parts = if jdbc {
        translate(&db.url).map_err(|m| invalid("database.url", m))?
    } else {
        match Backend::of(&db.url) {
            // validate() names the URL problem.
            None => return Ok((db.url.clone(), Vec::new())),
            Some(Backend::Sqlite) => {
                let key = if db.username.is_some() {
                    "database.username"
                } else {
                    "database.password"
                };
                return Err(invalid(key, "SQLite takes no credentials"));
            }
            Some(_) => native_parts(&db.url)?,
        }
    };
    if Backend::of(&parts.url) == Some(Backend::Sqlite) {
        if db.username.is_some() || db.password.is_some() {
            return Err(invalid("database.username", "SQLite takes no credentials"));
        }
        return Ok((parts.url, parts.dropped));
    }
    let user = match (parts.user, &db.username) {
        (Some(u), Some(k)) if u != *k => {
            return Err(invalid(
                "database.username",
                format!(
                "'{k}' disagrees with the user '{u}' in database.url; give the user in one place"
            ),
            ))
        }
        (u, k) => k.clone().or(u),
    };
    let password = match (parts.password, &db.password) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "database.password",
                "database.url carries a password too; give the password in one place only (preferably database.password or BATON_DATABASE_PASSWORD)",
            ))
        }
        (p, k) => k.clone().or(p),
    };
    let mut url =
        Url::parse(&parts.url).map_err(|e| invalid("database.url", format!("invalid URL: {e}")))?;
    let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    if let Some(u) = user {
        url.set_username(&encode(&u))
            .map_err(|()| invalid("database.username", "the URL cannot carry a user"))?;
    }
    if let Some(p) = password {
        url.set_password(Some(&encode(&p)))
            .map_err(|()| invalid("database.password", "the URL cannot carry a password"))?;
    }
    Ok((url.to_string(), parts.dropped))
}

/// A native (`postgres://`, `mysql://`, `mariadb://`) URL split into the
/// URL without credentials and the credentials it carried, in its userinfo
/// or as `user=` / `password=` parameters.
fn native_parts(raw: &str) -> Result<JdbcUrl, ConfigError> {
    let mut url =
        Url::parse(raw).map_err(|e| invalid("database.url", format!("invalid URL: {e}")))?;
    let mut parts = JdbcUrl {
        url: String::new(),
        user: decoded(url.username()),
        password: url.password().and_then(decoded),
        dropped: Vec::new(),
    };
    let mut kept = Vec::new();
    for (k, v) in url.query_pairs().into_owned() {
        match k.as_str() {
            "user" => parts.user = Some(v),
            "password" if parts.password.is_some() => {
                return Err(invalid(
                    "database.url",
                    "carries two passwords (userinfo and password=)",
                ))
            }
            "password" => parts.password = Some(v),
            _ => kept.push((k, v)),
        }
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    parts.url = url.to_string();
    Ok(parts)
}

#[cfg(test)]
mod tests;
