//! Parser for ActiveMQ-style connection URLs (pure and synchronous).
//!
//! Accepted forms:
//! - `tcp://host:port`, `stomp://host:port`, `stomp+ssl://host:port` (one
//!   broker, no options; `stomp+ssl` is marked TLS), IPv6 as `[::1]:61613`;
//! - `failover:(uri1,...,uriN)?option=value&...` and `failover:uri1,...,uriN`
//!   (ActiveMQ's failover transport; `failover://(...)` is accepted too).
//!
//! Options and defaults follow ActiveMQ's Failover Transport Reference. Options
//! are only accepted after the parenthesised list: in `failover:a,b?x=1`
//! ActiveMQ would attach `x` to the last nested URI, which is never what is
//! meant, so that form is rejected with a hint.

use std::net::Ipv6Addr;
use std::time::Duration;

/// Transport scheme of one broker address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Tcp,
    Stomp,
    StompSsl,
}

impl Scheme {
    fn parse(s: &str) -> Option<Scheme> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Scheme::Tcp),
            "stomp" => Some(Scheme::Stomp),
            "stomp+ssl" => Some(Scheme::StompSsl),
            _ => None,
        }
    }

    /// Whether this scheme requires TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Scheme::StompSsl)
    }
}

/// One broker endpoint. IPv6 hosts are stored without brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

impl BrokerAddr {
    /// `host:port`, with brackets around IPv6 hosts (`[::1]:61613`).
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Options of ActiveMQ's failover transport.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverOptions {
    /// `initialReconnectDelay` (ms), default 10.
    pub initial_reconnect_delay: Duration,
    /// `maxReconnectDelay` (ms), default 30000.
    pub max_reconnect_delay: Duration,
    /// `useExponentialBackOff`, default true.
    pub use_exponential_backoff: bool,
    /// `reconnectDelayExponent`, default 2.0.
    pub reconnect_delay_exponent: f64,
    /// `maxReconnectAttempts`, default -1 (`None`: retry forever); 0 = never retry.
    pub max_reconnect_attempts: Option<u32>,
    /// `startupMaxReconnectAttempts`, default -1 (`None`: no limit).
    pub startup_max_reconnect_attempts: Option<u32>,
    /// `randomize`, default true.
    pub randomize: bool,
    /// `timeout` for sends (ms), default -1 (`None`: block forever). As in
    /// ActiveMQ, only a value > 0 enables it, so 0 also means `None`.
    pub timeout: Option<Duration>,
}

impl Default for FailoverOptions {
    fn default() -> Self {
        FailoverOptions {
            initial_reconnect_delay: Duration::from_millis(10),
            max_reconnect_delay: Duration::from_millis(30_000),
            use_exponential_backoff: true,
            reconnect_delay_exponent: 2.0,
            max_reconnect_attempts: None,
            startup_max_reconnect_attempts: None,
            randomize: true,
            timeout: None,
        }
    }
}

impl FailoverOptions {
    /// Delay before retry number `attempt` (0 = first retry): with exponential
    /// backoff `initial * exponent^attempt` capped at `max` (whole ms),
    /// otherwise always `initial`.
    pub fn delay(&self, attempt: u32) -> Duration {
        if !self.use_exponential_backoff {
            return self.initial_reconnect_delay;
        }
        let initial = self.initial_reconnect_delay.as_millis() as f64;
        let ms = initial * self.reconnect_delay_exponent.powf(f64::from(attempt));
        if !ms.is_finite() || ms >= self.max_reconnect_delay.as_millis() as f64 {
            return self.max_reconnect_delay;
        }
        Duration::from_millis(ms.max(0.0) as u64)
    }
}

/// A parsed connection URL.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectUrl {
    pub brokers: Vec<BrokerAddr>,
    /// `Some` for `failover:` URLs (defaults filled in), `None` otherwise.
    pub failover: Option<FailoverOptions>,
}

impl ConnectUrl {
    /// Whether any broker needs TLS.
    pub fn needs_tls(&self) -> bool {
        self.brokers.iter().any(|b| b.scheme.is_tls())
    }
}

/// Failover option names, as ActiveMQ spells them.
pub const OPTIONS: [&str; 8] = [
    "initialReconnectDelay",
    "maxReconnectDelay",
    "useExponentialBackOff",
    "reconnectDelayExponent",
    "maxReconnectAttempts",
    "startupMaxReconnectAttempts",
    "randomize",
    "timeout",
];

const KNOWN: &str = "initialReconnectDelay, maxReconnectDelay, useExponentialBackOff, \
reconnectDelayExponent, maxReconnectAttempts, startupMaxReconnectAttempts, randomize, timeout";

/// Why a URL was rejected; each message quotes the offending part.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UrlError {
    #[error(
        "empty URL (expected e.g. tcp://host:61613 or failover:(tcp://h1:61613,tcp://h2:61613))"
    )]
    Empty,
    #[error("missing scheme in '{url}' (expected tcp://, stomp://, stomp+ssl:// or failover:)")]
    MissingScheme { url: String },
    #[error(
        "unsupported scheme '{scheme}' in '{url}' (expected tcp, stomp, stomp+ssl or failover)"
    )]
    UnsupportedScheme { scheme: String, url: String },
    #[error("missing host in '{broker}'")]
    MissingHost { broker: String },
    #[error("bad host '{host}' in '{broker}'")]
    BadHost { host: String, broker: String },
    #[error("IPv6 address '{host}' in '{broker}' must be in brackets, e.g. tcp://[::1]:61613")]
    Ipv6NeedsBrackets { host: String, broker: String },
    #[error("missing port in '{broker}' (expected host:port)")]
    MissingPort { broker: String },
    #[error("bad port '{port}' in '{broker}': expected a number 1-65535")]
    BadPort { port: String, broker: String },
    #[error("port {port} out of range in '{broker}' (expected 1-65535)")]
    PortOutOfRange { port: String, broker: String },
    #[error("unexpected path '{path}' in '{broker}' (expected scheme://host:port)")]
    UnexpectedPath { path: String, broker: String },
    #[error("empty broker list in '{url}'")]
    EmptyBrokerList { url: String },
    #[error("empty broker entry in '{url}' (check for stray commas)")]
    EmptyBroker { url: String },
    #[error("nested failover '{broker}' in '{url}' is not supported")]
    NestedFailover { broker: String, url: String },
    #[error("options on nested broker '{broker}' are not supported (put failover options after the closing parenthesis)")]
    NestedOptions { broker: String },
    #[error("unbalanced parentheses in '{url}' (expected failover:(uri1,...,uriN)?options)")]
    Unbalanced { url: String },
    #[error("unexpected '{text}' after ')' in '{url}' (expected nothing or ?option=value)")]
    TrailingText { text: String, url: String },
    #[error("options in '{url}' need the parenthesised form failover:(uri1,...,uriN)?options")]
    OptionsNeedParentheses { url: String },
    #[error("option '{option}' on plain URL '{url}': only failover:(...) URLs take options")]
    OptionOnPlainUrl { option: String, url: String },
    #[error("empty option in '{url}' (check for stray '&')")]
    EmptyOption { url: String },
    #[error("option '{option}' has no value in '{url}' (expected {option}=value)")]
    MissingValue { option: String, url: String },
    #[error("unknown option '{option}' in '{url}' (known: {known})")]
    UnknownOption {
        option: String,
        url: String,
        known: &'static str,
    },
    #[error("duplicate option '{option}' in '{url}'")]
    DuplicateOption { option: String, url: String },
    #[error("bad value '{value}' for {option}: expected {expected}")]
    BadValue {
        value: String,
        option: String,
        expected: &'static str,
    },
}

/// Parses a connection URL (see the module docs for the accepted forms).
pub fn parse(url: &str) -> Result<ConnectUrl, UrlError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(UrlError::Empty);
    }
    if let Some(rest) = strip_prefix_ci(url, "failover:") {
        return parse_failover(url, rest);
    }
    let (broker, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let addr = parse_broker(broker)?;
    if let Some(q) = query {
        let option = q.split(['&', '=']).next().unwrap_or_default();
        return Err(UrlError::OptionOnPlainUrl {
            option: option.to_string(),
            url: url.to_string(),
        });
    }
    Ok(ConnectUrl {
        brokers: vec![addr],
        failover: None,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn parse_failover(url: &str, rest: &str) -> Result<ConnectUrl, UrlError> {
    let unbalanced = || UrlError::Unbalanced {
        url: url.to_string(),
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest).trim_start();
    let (list, query) = if let Some(inner) = rest.strip_prefix('(') {
        let (list, after) = inner.split_once(')').ok_or_else(unbalanced)?;
        if list.contains('(') || after.contains(['(', ')']) {
            return Err(unbalanced());
        }
        if after.is_empty() {
            (list, None)
        } else if let Some(q) = after.strip_prefix('?') {
            (list, Some(q))
        } else {
            return Err(UrlError::TrailingText {
                text: after.to_string(),
                url: url.to_string(),
            });
        }
    } else {
        if rest.contains(['(', ')']) {
            return Err(unbalanced());
        }
        if rest.contains('?') {
            return Err(UrlError::OptionsNeedParentheses {
                url: url.to_string(),
            });
        }
        (rest, None)
    };
    if list.trim().is_empty() {
        return Err(UrlError::EmptyBrokerList {
            url: url.to_string(),
        });
    }
    let mut brokers = Vec::new();
    for entry in list.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(UrlError::EmptyBroker {
                url: url.to_string(),
            });
        }
        if strip_prefix_ci(entry, "failover:").is_some() {
            return Err(UrlError::NestedFailover {
                broker: entry.to_string(),
                url: url.to_string(),
            });
        }
        if entry.contains('?') {
            return Err(UrlError::NestedOptions {
                broker: entry.to_string(),
            });
        }
        brokers.push(parse_broker(entry)?);
    }
    let options = match query {
        Some(q) => parse_options(url, q)?,
        None => FailoverOptions::default(),
    };
    Ok(ConnectUrl {
        brokers,
        failover: Some(options),
    })
}

fn parse_broker(broker: &str) -> Result<BrokerAddr, UrlError> {
    let b = || broker.to_string();
    let Some((scheme_str, authority)) = broker.split_once("://") else {
        return Err(UrlError::MissingScheme { url: b() });
    };
    let scheme = Scheme::parse(scheme_str).ok_or_else(|| UrlError::UnsupportedScheme {
        scheme: scheme_str.to_string(),
        url: b(),
    })?;
    if let Some(i) = authority.find('/') {
        return Err(UrlError::UnexpectedPath {
            path: authority.get(i..).unwrap_or_default().to_string(),
            broker: b(),
        });
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let bad_host = |h: &str| UrlError::BadHost {
            host: h.to_string(),
            broker: b(),
        };
        let (host, after) = inner.split_once(']').ok_or_else(|| bad_host(authority))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(bad_host(host));
        }
        let port = after
            .strip_prefix(':')
            .ok_or(UrlError::MissingPort { broker: b() })?;
        (host, port)
    } else {
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or(UrlError::MissingPort { broker: b() })?;
        if host.contains(':') {
            return Err(UrlError::Ipv6NeedsBrackets {
                host: authority.to_string(),
                broker: b(),
            });
        }
        if host.is_empty() {
            return Err(UrlError::MissingHost { broker: b() });
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(UrlError::BadHost {
                host: host.to_string(),
                broker: b(),
            });
        }
        (host, port)
    };
    if port.is_empty() {
        return Err(UrlError::MissingPort { broker: b() });
    }
    if !port.bytes().all(|c| c.is_ascii_digit()) {
        return Err(UrlError::BadPort {
            port: port.to_string(),
            broker: b(),
        });
    }
    let port = match port.parse::<u32>().ok().map(u16::try_from) {
        Some(Ok(p)) if p > 0 => p,
        _ => {
            return Err(UrlError::PortOutOfRange {
                port: port.to_string(),
                broker: b(),
            })
        }
    };
    Ok(BrokerAddr {
        scheme,
        host: host.to_string(),
        port,
    })
}

/// -1 means "no limit" (`None`); other values must be >= 0.
fn parse_attempts(value: &str) -> Option<Option<u32>> {
    match value.parse::<i64>().ok()? {
        -1 => Some(None),
        n => u32::try_from(n).ok().map(Some),
    }
}

fn parse_options(url: &str, query: &str) -> Result<FailoverOptions, UrlError> {
    let mut o = FailoverOptions::default();
    let mut seen: Vec<&str> = Vec::new();
    for pair in query.split('&') {
        if pair.is_empty() {
            return Err(UrlError::EmptyOption {
                url: url.to_string(),
            });
        }
        let (key, value) = pair.split_once('=').ok_or_else(|| UrlError::MissingValue {
            option: pair.to_string(),
            url: url.to_string(),
        })?;
        if !OPTIONS.contains(&key) {
            return Err(UrlError::UnknownOption {
                option: key.to_string(),
                url: url.to_string(),
                known: KNOWN,
            });
        }
        if seen.contains(&key) {
            return Err(UrlError::DuplicateOption {
                option: key.to_string(),
                url: url.to_string(),
            });
        }
        seen.push(key);
        let bad = |expected: &'static str| UrlError::BadValue {
            value: value.to_string(),
            option: key.to_string(),
            expected,
        };
        let millis = || value.parse::<u64>().map(Duration::from_millis);
        let boolean = || match value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad("true or false")),
        };
        const ATTEMPTS: &str = "-1 (no limit) or a number of attempts";
        match key {
            "initialReconnectDelay" => {
                o.initial_reconnect_delay = millis().map_err(|_| bad("milliseconds"))?
            }
            "maxReconnectDelay" => {
                o.max_reconnect_delay = millis().map_err(|_| bad("milliseconds"))?
            }
            "useExponentialBackOff" => o.use_exponential_backoff = boolean()?,
            "reconnectDelayExponent" => {
                o.reconnect_delay_exponent = value
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .ok_or_else(|| bad("a positive number"))?
            }
            "maxReconnectAttempts" => {
                o.max_reconnect_attempts = parse_attempts(value).ok_or_else(|| bad(ATTEMPTS))?
            }
            "startupMaxReconnectAttempts" => {
                o.startup_max_reconnect_attempts =
                    parse_attempts(value).ok_or_else(|| bad(ATTEMPTS))?
            }
            "randomize" => o.randomize = boolean()?,
            _ => {
                o.timeout = match value.parse::<i64>() {
                    Ok(-1 | 0) => None,
                    Ok(n) if n > 0 => Some(Duration::from_millis(n.unsigned_abs())),
                    _ => return Err(bad("milliseconds or -1 (block forever)")),
                }
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests;
