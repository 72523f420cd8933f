//! `baton import-activemq`: reads an ActiveMQ Classic XML configuration
//! (Spring beans + the `<broker>` element) and produces the equivalent
//! Baton TOML, with a warning for everything it does not translate.
//!
//! What is translated: the `jdbcPersistenceAdapter` and its data source
//! bean (`database.*`), its `lease-database-locker` and keep-alive
//! (`election.*`, `node_id`), its `statements tablePrefix`
//! (`database.table_prefix`), and the transport connectors
//! (`stomp.listen`). Spring `${...}` placeholders are never copied: the
//! key is printed commented out and reported.

mod broker;
mod datasource;
mod output;
mod properties;

pub use properties::Placeholders;

use output::Output;
use roxmltree::{Document, Node};
use std::collections::HashMap;
use std::path::Path;

/// Why a file could not be translated at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not well-formed XML: {source}")]
    Xml {
        path: String,
        source: roxmltree::Error,
    },
    #[error("{0} has no <broker> element; is it an ActiveMQ configuration (activemq.xml)?")]
    NoBroker(String),
    #[error("-D {0}: expected NAME=VALUE")]
    Define(String),
}

/// The result: TOML for stdout, warnings for stderr.
#[derive(Debug, Clone)]
pub struct Translation {
    pub toml: String,
    pub warnings: Vec<String>,
}

/// Reads and translates the file at `path`, resolving the placeholders
/// `values` knows.
pub fn translate_file(path: &Path, values: &Placeholders) -> Result<Translation, ImportError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: name.clone(),
        source,
    })?;
    translate_with(&text, &name, values)
}

/// Translates the XML text; `name` labels warnings (`name:line: ...`).
pub fn translate(xml: &str, name: &str) -> Result<Translation, ImportError> {
    translate_with(xml, name, &Placeholders::default())
}

/// Like [`translate`], with placeholder values.
pub fn translate_with(
    xml: &str,
    name: &str,
    values: &Placeholders,
) -> Result<Translation, ImportError> {
    let xml = values.apply(xml);
    let xml = xml.as_str();
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options).map_err(|source| ImportError::Xml {
        path: name.to_string(),
        source,
    })?;
    let mut brokers = doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "broker");
    let broker = brokers
        .next()
        .ok_or_else(|| ImportError::NoBroker(name.to_string()))?;
    let mut ctx = Ctx {
        doc: &doc,
        out: Output::default(),
        warnings: Vec::new(),
        beans: beans(&doc),
        used_beans: Vec::new(),
    };
    for extra in brokers {
        ctx.warn(
            extra,
            "a second <broker> element is not translated (only the first one is)",
        );
    }
    broker::translate(&mut ctx, broker);
    let root = doc.root_element();
    if root != broker {
        for child in root.children().filter(Node::is_element) {
            if child != broker && !child.ancestors().any(|a| a == broker) {
                ctx.other_top_level(child);
            }
        }
    }
    let header = format!(
        "Baton configuration translated from {name} by `baton import-activemq`.\n\
         Read the warnings it printed; check this file with `baton check-config --config FILE`.\n\
         Keys not listed keep Baton's defaults (docs/configuration.md)."
    );
    ctx.warnings.sort_by_key(|(row, _)| *row);
    Ok(Translation {
        toml: ctx.out.render(&header),
        warnings: ctx
            .warnings
            .into_iter()
            .map(|(row, w)| format!("{name}:{row}: {w}"))
            .collect(),
    })
}

/// Every Spring bean with an id (or name), by id.
fn beans<'a, 'i>(doc: &'a Document<'i>) -> HashMap<String, Node<'a, 'i>> {
    let mut map = HashMap::new();
    for n in doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "bean")
    {
        let ids = n.attribute("id").into_iter().chain(
            n.attribute("name")
                .into_iter()
                .flat_map(|s| s.split([',', ';', ' '])),
        );
        for id in ids.filter(|s| !s.is_empty()) {
            map.entry(id.to_string()).or_insert(n);
        }
    }
    map
}

/// The translation in progress.
pub(crate) struct Ctx<'a, 'i> {
    doc: &'a Document<'i>,
    out: Output,
    /// (line, message), sorted by line at the end.
    warnings: Vec<(u32, String)>,
    beans: HashMap<String, Node<'a, 'i>>,
    used_beans: Vec<Node<'a, 'i>>,
}

impl<'a, 'i> Ctx<'a, 'i> {
    /// A warning about `node`, with its line.
    fn warn(&mut self, node: Node, message: impl AsRef<str>) {
        let pos = self.doc.text_pos_at(node.range().start);
        self.warnings.push((pos.row, message.as_ref().to_string()));
    }

    /// One warning per attribute of `node` not in `handled` (namespace
    /// declarations and `xsi:` attributes are not configuration).
    fn warn_attributes(&mut self, node: Node, handled: &[&str]) {
        for a in node.attributes() {
            let xsi = a
                .namespace()
                .is_some_and(|ns| ns.contains("XMLSchema-instance"));
            if xsi || handled.contains(&a.name()) {
                continue;
            }
            let msg = format!(
                "attribute {}=\"{}\" of <{}> is not translated",
                a.name(),
                a.value(),
                node.tag_name().name()
            );
            self.warn(node, msg);
        }
    }

    /// `raw` unless it holds a Spring `${...}` placeholder; then `key` is
    /// printed commented out, a warning names the placeholder, and `None`
    /// is returned.
    fn literal(&mut self, node: Node, key: &'static str, what: &str, raw: &str) -> Option<String> {
        if !raw.contains("${") {
            return Some(raw.to_string());
        }
        let msg = format!(
            "{what} is the Spring property placeholder \"{raw}\", which is not resolved: give its value with --properties FILE or -D NAME=VALUE, or set {key} (or its BATON_ variable) yourself"
        );
        self.warn(node, &msg);
        self.out.unresolved(
            key,
            raw,
            format!("{what}: Spring placeholder, set it yourself"),
        );
        None
    }

    /// A top-level element outside `<broker>`.
    fn other_top_level(&mut self, node: Node<'a, 'i>) {
        let tag = node.tag_name().name();
        if self.used_beans.contains(&node) {
            return;
        }
        let msg = match (tag, node.attribute("class")) {
            ("bean", Some(c)) if c.contains("PlaceholderConfigurer") => format!(
                "<bean class=\"{c}\"> (Spring property placeholders) is not translated; placeholders it would resolve are reported where they occur"
            ),
            ("bean", Some(c)) => format!("<bean class=\"{c}\"> is not translated"),
            ("import", _) => format!(
                "<import resource=\"{}\"> is not translated (the web console is Baton's admin server, admin.listen)",
                node.attribute("resource").unwrap_or("")
            ),
            _ => format!("<{tag}> is not translated"),
        };
        self.warn(node, msg);
    }
}

#[cfg(test)]
mod tests;
