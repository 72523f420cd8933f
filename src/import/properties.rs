//! Values for Spring `${name}` placeholders, from Java properties files
//! (`--properties conf/credentials.properties`) and `-D name=value`, put
//! into the XML text before it is read. Placeholders without a value stay
//! and are reported where they occur.

use super::ImportError;
use std::collections::HashMap;
use std::path::PathBuf;

/// Known placeholder values.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    values: HashMap<String, String>,
}

impl Placeholders {
    /// Reads `files` in order (later ones win), then `defines`
    /// (`NAME=VALUE`, winning over the files).
    pub fn load(files: &[PathBuf], defines: &[String]) -> Result<Placeholders, ImportError> {
        let mut p = Placeholders::default();
        for path in files {
            let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
                path: path.display().to_string(),
                source,
            })?;
            p.values.extend(parse(&text));
        }
        for d in defines {
            let (k, v) = d
                .split_once('=')
                .ok_or_else(|| ImportError::Define(d.clone()))?;
            p.values.insert(k.trim().to_string(), v.to_string());
        }
        Ok(p)
    }

    /// One value (for tests and callers building their own).
    pub fn with(mut self, name: &str, value: &str) -> Placeholders {
        self.values.insert(name.to_string(), value.to_string());
        self
    }

    /// `xml` with every `${name}` whose value is known replaced by the value,
    /// escaped for XML. Line breaks in a value become `&#10;`, so line
    /// numbers in warnings still match the file.
    pub(super) fn apply(&self, xml: &str) -> String {
        if self.values.is_empty() {
            return xml.to_string();
        }
        let mut out = String::with_capacity(xml.len());
        let mut rest = xml;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            match self.values.get(&after[..end]) {
                Some(v) => out.push_str(&escape(v)),
                None => out.push_str(&rest[start..start + end + 3]),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// A Java properties file: `key=value`, `key: value` or `key value`;
/// `#` / `!` comments; a trailing backslash continues the line; `\t`, `\n`,
/// `\r`, `\uXXXX` and escaped separators.
pub fn parse(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        let trailing = line.len() - line.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        let (k, v) = split(&logical);
        map.insert(unescape(k), unescape(v));
        logical.clear();
    }
    if !logical.is_empty() {
        let (k, v) = split(&logical);
        map.insert(unescape(k), unescape(v));
    }
    map
}

/// Key and value at the first unescaped `=`, `:` or whitespace.
fn split(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => return (&line[..i], line[i + 1..].trim_start()),
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest.strip_prefix(['=', ':']).map_or(rest, str::trim_start);
                return (&line[..i], rest);
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
