//! Destination patterns of the permission map, with the same wildcards as
//! subscriptions (`crate::wildcard`): names are split at `.`, `*`
//! matches one segment and `>` (last) one or more remaining segments.
//! `/queue/orders.>` covers every queue below `orders` (grant `orders`
//! itself separately); a pattern without `/queue/` or `/topic/` (e.g. `>`)
//! covers queues and topics alike.

use crate::message::Destination;
use crate::wildcard;

/// Why a pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("destination pattern is empty")]
    Empty,
    #[error("destination pattern '{0}': '>' may only be the last segment")]
    GreaterNotLast(String),
    #[error("destination pattern '{0}' has an empty segment (two dots, or a dot at an end)")]
    EmptySegment(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Queue,
    Topic,
    Any,
}

/// A parsed destination pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    kind: Kind,
    /// The name part, e.g. `orders.>`.
    name: String,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let (kind, rest) = if let Some(r) = text.strip_prefix("/queue/") {
            (Kind::Queue, r)
        } else if let Some(r) = text.strip_prefix("/topic/") {
            (Kind::Topic, r)
        } else {
            (Kind::Any, text)
        };
        if rest.is_empty() {
            return Err(PatternError::Empty);
        }
        let segments: Vec<String> = rest.split('.').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(PatternError::EmptySegment(text.to_string()));
        }
        if let Some(pos) = segments.iter().position(|s| s == ">") {
            if pos + 1 != segments.len() {
                return Err(PatternError::GreaterNotLast(text.to_string()));
            }
        }
        Ok(Pattern {
            kind,
            name: rest.to_string(),
        })
    }

    /// `>`: every queue and topic.
    pub fn everything() -> Pattern {
        Pattern {
            kind: Kind::Any,
            name: ">".to_string(),
        }
    }

    /// True when the pattern covers every destination of every kind.
    pub fn is_everything(&self) -> bool {
        self.kind == Kind::Any && self.name == ">"
    }

    pub fn matches(&self, dest: &Destination) -> bool {
        let kind_ok = matches!(
            (self.kind, dest),
            (Kind::Any, _)
                | (Kind::Queue, Destination::Queue(_))
                | (Kind::Topic, Destination::Topic(_))
        );
        kind_ok && wildcard::matches(&self.name, dest.name())
    }

    /// Whether every destination `dest` names is matched by this pattern;
    /// for a plain name the same as [`Pattern::matches`], for a wildcard
    /// subscription (`/topic/prices.*`) true only when the grant is at
    /// least as wide (`/topic/prices.>` covers it, `/topic/prices.eur` does
    /// not).
    pub fn covers(&self, dest: &Destination) -> bool {
        let kind_ok = matches!(
            (self.kind, dest),
            (Kind::Any, _)
                | (Kind::Queue, Destination::Queue(_))
                | (Kind::Topic, Destination::Topic(_))
        );
        let grant: Vec<&str> = self.name.split('.').collect();
        let wanted: Vec<&str> = dest.name().split('.').collect();
        kind_ok && covers_segments(&grant, &wanted)
    }
}

/// Segment-wise: does grant pattern `g` match every name pattern `w` does?
fn covers_segments(g: &[&str], w: &[&str]) -> bool {
    match (g.first(), w.first()) {
        (None, None) => true,
        (Some(&">"), _) if g.len() == 1 => !w.is_empty(),
        (None, _) | (_, None) => false,
        (_, Some(&">")) => false,
        (Some(&"*"), Some(_)) => covers_segments(&g[1..], &w[1..]),
        (Some(a), Some(b)) => a == b && *b != "*" && covers_segments(&g[1..], &w[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: &str) -> Destination {
        Destination::Queue(n.into())
    }

    #[test]
    fn wildcards() {
        let p = Pattern::parse("/queue/orders.>").unwrap();
        assert!(!p.matches(&q("orders")));
        assert!(p.matches(&q("orders.eu.de")));
        assert!(!p.matches(&q("ordersx")));
        assert!(!p.matches(&Destination::Topic("orders.eu".into())));
        let p = Pattern::parse("/topic/prices.*").unwrap();
        assert!(p.matches(&Destination::Topic("prices.eur".into())));
        assert!(!p.matches(&Destination::Topic("prices.eur.usd".into())));
        assert!(!p.matches(&Destination::Topic("prices".into())));
        let p = Pattern::parse(">").unwrap();
        assert!(p.is_everything() && p.matches(&q("a")));
        let p = Pattern::parse("a.*.c").unwrap();
        assert!(p.matches(&q("a.b.c")) && !p.matches(&q("a.b.d")));
        assert!(Pattern::parse("/queue/a.>.b").is_err());
        assert!(Pattern::parse("/queue/a..b").is_err());
        assert!(Pattern::parse("/queue/").is_err());
    }

    #[test]
    fn covering_wildcard_subscriptions() {
        let t = |n: &str| Destination::Topic(n.into());
        let p = Pattern::parse("/topic/prices.>").unwrap();
        assert!(p.covers(&t("prices.*")));
        assert!(p.covers(&t("prices.>")));
        assert!(p.covers(&t("prices.eur.*")));
        assert!(p.covers(&t("prices.eur")));
        assert!(!p.covers(&t(">")));
        assert!(!p.covers(&t("prices")));
        assert!(!p.covers(&q("prices.*")));
        let p = Pattern::parse("/topic/prices.*").unwrap();
        assert!(p.covers(&t("prices.*")));
        assert!(!p.covers(&t("prices.>")));
        assert!(!p.covers(&t("prices.*.x")));
        let p = Pattern::parse("/topic/prices.eur").unwrap();
        assert!(!p.covers(&t("prices.*")));
        assert!(p.covers(&t("prices.eur")));
        assert!(Pattern::everything().covers(&q(">")));
        assert!(Pattern::parse("a.*.c").unwrap().covers(&t("a.*.c")));
    }
}
