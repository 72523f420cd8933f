//! The Baton TOML the importer prints: keys in the order of the `KEYS`
//! table, grouped into sections, each with an optional comment saying where
//! it came from; values that could not be translated (Spring placeholders)
//! appear commented out.

use crate::config::KEYS;

/// One key of the output.
struct Entry {
    key: &'static str,
    value: Value,
    comment: Option<String>,
}

enum Value {
    Set(toml::Value),
    /// Not translated; shown commented out with the original text.
    Unresolved(String),
}

/// The keys collected so far.
#[derive(Default)]
pub struct Output {
    entries: Vec<Entry>,
}

impl Output {
    /// Sets `key` (replacing an earlier value), with a comment line above.
    pub fn set(&mut self, key: &'static str, value: toml::Value, comment: Option<String>) {
        self.put(key, Value::Set(value), comment);
    }

    pub fn set_str(&mut self, key: &'static str, value: &str, comment: Option<String>) {
        self.set(key, toml::Value::String(value.to_string()), comment);
    }

    pub fn set_int(&mut self, key: &'static str, value: u64, comment: Option<String>) {
        let v = i64::try_from(value).unwrap_or(i64::MAX);
        self.set(key, toml::Value::Integer(v), comment);
    }

    /// Records `key` as not translated: printed commented out.
    pub fn unresolved(&mut self, key: &'static str, original: &str, comment: String) {
        self.put(key, Value::Unresolved(original.to_string()), Some(comment));
    }

    fn put(&mut self, key: &'static str, value: Value, comment: Option<String>) {
        self.entries.retain(|e| e.key != key);
        self.entries.push(Entry {
            key,
            value,
            comment,
        });
    }

    /// The TOML text, starting with `header` (comment lines).
    pub fn render(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            out.push_str(&format!("# {}\n", comment_safe(line)));
        }
        let order = |key: &str| {
            KEYS.iter()
                .position(|k| k.name == key)
                .unwrap_or(usize::MAX)
        };
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        // Top-level keys first (a TOML table header ends the top level),
        // then sections in the order of the KEYS table.
        entries.sort_by_key(|e| (e.key.contains('.'), order(section_of(e.key)), order(e.key)));
        let mut section = "";
        for e in entries {
            let (sec, name) = match e.key.split_once('.') {
                Some((s, n)) => (s, n),
                None => ("", e.key),
            };
            if sec != section {
                out.push_str(&format!("\n[{sec}]\n"));
                section = sec;
            }
            if let Some(c) = &e.comment {
                for line in c.lines() {
                    out.push_str(&format!("# {}\n", comment_safe(line)));
                }
            }
            match &e.value {
                Value::Set(v) => out.push_str(&format!("{name} = {v}\n")),
                Value::Unresolved(raw) => out.push_str(&format!(
                    "# {name} = {}\n",
                    toml::Value::String(raw.clone())
                )),
            }
        }
        out
    }
}

/// `line` with the characters TOML forbids in comments (control
/// characters but tab, e.g. a lone CR or DEL from the XML) escaped.
fn comment_safe(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The first key of `key`'s section, for ordering sections.
fn section_of(key: &str) -> &str {
    match key.split_once('.') {
        Some((sec, _)) => KEYS
            .iter()
            .map(|k| k.name)
            .find(|n| n.split_once('.').is_some_and(|(s, _)| s == sec))
            .unwrap_or(key),
        None => "",
    }
}
