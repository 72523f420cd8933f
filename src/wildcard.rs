//! Destination name patterns, as ActiveMQ's wildcards: names are
//! `.`-separated segments, `*` matches exactly one segment and `>` (last
//! segment only) matches one or more remaining segments. So `PRICE.>`
//! matches `PRICE.STOCK` and `PRICE.STOCK.NYSE` but not `PRICE`, and
//! `orders.*` matches `orders.eu` but not `orders.eu.vip`.

/// Whether `name` is a pattern rather than one destination.
pub fn is_pattern(name: &str) -> bool {
    name.split('.').any(|s| s == "*" || s == ">")
}

/// Whether `name` (a plain destination name) matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let mut names = name.split('.');
    let mut parts = pattern.split('.').peekable();
    while let Some(p) = parts.next() {
        if p == ">" && parts.peek().is_none() {
            return names.next().is_some();
        }
        match names.next() {
            Some(n) if p == "*" || p == n => {}
            _ => return false,
        }
    }
    names.next().is_none()
}

/// Why a pattern cannot be used.
pub fn check_pattern(name: &str) -> Result<(), String> {
    let segments: Vec<&str> = name.split('.').collect();
    if let Some(i) = segments.iter().position(|s| *s == ">") {
        if i + 1 != segments.len() {
            return Err(format!(
                "'>' must be the last segment of a wildcard destination, got '{name}'"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_wildcards() {
        assert!(matches("PRICE.>", "PRICE.STOCK"));
        assert!(matches("PRICE.>", "PRICE.STOCK.NYSE.IBM"));
        assert!(!matches("PRICE.>", "PRICE"));
        assert!(!matches("PRICE.>", "PRICES.STOCK"));
        assert!(matches("PRICE.*.NYSE.*", "PRICE.STOCK.NYSE.IBM"));
        assert!(!matches("PRICE.*.NYSE.*", "PRICE.STOCK.NASDAQ.IBM"));
        assert!(matches("orders.*", "orders.eu"));
        assert!(!matches("orders.*", "orders.eu.vip"));
        assert!(!matches("orders.*", "orders"));
        assert!(matches(">", "anything.at.all"));
        assert!(matches("*", "one"));
        assert!(!matches("*", "one.two"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
    }

    #[test]
    fn patterns_are_recognised_and_checked() {
        assert!(is_pattern("a.*"));
        assert!(is_pattern("a.>"));
        assert!(!is_pattern("a.b*"));
        assert!(!is_pattern("a.b"));
        assert!(check_pattern("a.>").is_ok());
        assert!(check_pattern("a.>.b").is_err());
    }
}
