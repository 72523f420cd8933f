//! `baton browse`: lists a queue's messages through the admin API (so a
//! slave can answer too), page by page, without consuming anything.

use super::CliError;
use base64::Engine;
use std::io::Write;

#[derive(Debug, Clone, clap::Args)]
pub struct BrowseArgs {
    /// Queue name (without /queue/).
    pub queue: String,
    /// Admin server of any node.
    #[arg(long, env = "BATON_ADMIN_URL", default_value = "http://127.0.0.1:8161")]
    pub admin_url: String,
    /// Admin user (HTTP Basic).
    #[arg(long, env = "BATON_ADMIN_USER")]
    pub user: Option<String>,
    #[arg(long, env = "BATON_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Bearer token instead of user and password.
    #[arg(
        long,
        env = "BATON_ADMIN_TOKEN",
        hide_env_values = true,
        conflicts_with = "user"
    )]
    pub token: Option<String>,
    /// Stop after this many messages (0 = all).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// raw: each body and a newline; json: one message per line.
    #[arg(long, value_enum, default_value = "json")]
    pub output: super::receive::Output,
}

/// Messages per request.
const PAGE: u64 = 500;

fn authorization(args: &BrowseArgs) -> Option<String> {
    if let Some(t) = &args.token {
        return Some(format!("Bearer {t}"));
    }
    let user = args.user.as_ref()?;
    let pair = format!("{user}:{}", args.password.as_deref().unwrap_or(""));
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
}

/// One page: the messages and where the next one starts.
fn page(args: &BrowseArgs, after: i64, limit: u64) -> Result<serde_json::Value, CliError> {
    let url = format!(
        "{}/api/v1/queues/{}/messages?after={after}&limit={limit}",
        args.admin_url.trim_end_matches('/'),
        urlencode(&args.queue)
    );
    let mut req = ureq::get(&url);
    if let Some(auth) = authorization(args) {
        req = req.set("Authorization", &auth);
    }
    match req.call() {
        Ok(resp) => resp
            .into_json()
            .map_err(|e| CliError::Incomplete(format!("bad answer from {url}: {e}"))),
        Err(ureq::Error::Status(code, resp)) => {
            let text = resp.into_string().unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(text);
            Err(CliError::Incomplete(format!("HTTP {code}: {message}")))
        }
        Err(e) => Err(CliError::Incomplete(format!("cannot reach {url}: {e}"))),
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Runs the command (blocking HTTP); returns the summary line.
pub fn run(args: &BrowseArgs) -> Result<String, CliError> {
    let mut out = std::io::stdout();
    let mut after = 0i64;
    let mut shown = 0u64;
    loop {
        let want = if args.count == 0 {
            PAGE
        } else {
            (args.count - shown).min(PAGE)
        };
        let page = page(args, after, want)?;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        for m in &messages {
            match args.output {
                super::receive::Output::Json => {
                    serde_json::to_writer(&mut out, m).map_err(std::io::Error::from)?
                }
                super::receive::Output::Raw => {
                    match (m["body"].as_str(), m["body_base64"].as_str()) {
                        (Some(text), _) => out.write_all(text.as_bytes())?,
                        (None, Some(b64)) => out.write_all(
                            &base64::engine::general_purpose::STANDARD
                                .decode(b64)
                                .unwrap_or_default(),
                        )?,
                        // A map body: its decoded entries as JSON.
                        (None, None) if m["body_map"].is_object() => {
                            serde_json::to_writer(&mut out, &m["body_map"])
                                .map_err(std::io::Error::from)?
                        }
                        (None, None) => {}
                    }
                }
            }
            out.write_all(b"\n")?;
            shown += 1;
        }
        out.flush()?;
        match page["next_after"].as_i64() {
            Some(next) if args.count == 0 || shown < args.count => after = next,
            _ => break,
        }
    }
    Ok(format!("{shown} messages in queue {}", args.queue))
}
