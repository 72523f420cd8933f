//! Modules depend one way (ARCHITECTURE.md, "The layer rule").
//!
//! Reads every `src/**/*.rs` but the test files (`tests.rs`, `*_tests.rs`,
//! `tests_*.rs` and the folder of a test module), leaves out comments,
//! string and character literals and `#[cfg(test)]` items, and collects the
//! modules each file names through `crate::`, `super::` and `self::` paths,
//! `use` groups included (`baton::` in `main.rs`, which is its own crate).
//! Then two checks:
//!
//! * no cycle between siblings, at the top of `src/` and inside every
//!   module (`broker::durable` and `broker::state`, say). A module naming
//!   its parent or its own children is not a cycle.
//! * every top-level module uses only modules of its own layer or of a
//!   layer below it, as [`LAYERS`] (the table ARCHITECTURE.md shows) says.
//!
//! Problems name the modules and the lines that make the uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer rule, bottom up: each layer's name and its top-level modules
/// (`main` is `src/main.rs`). A module may use the modules of its own layer
/// (one way: the cycle check sees to that) and of every layer below.
/// ARCHITECTURE.md's table lists the same layers.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base types",
        &[
            "message",
            "wildcard",
            "selector",
            "metrics",
            "tls",
            "stop",
            "admission",
            "listener",
        ],
    ),
    ("settings", &["auth", "config"]),
    ("storage", &["store"]),
    ("core", &["broker", "election", "status"]),
    ("adapters", &["stomp", "openwire", "admin"]),
    ("node", &["node"]),
    ("tools", &["client", "cli", "bench", "import", "main"]),
];

/// A module's path from the crate root: `broker::durable::state` is
/// `["broker", "durable", "state"]`; the root is empty.
type ModPath = Vec<String>;

fn show(path: &[String]) -> String {
    if path.is_empty() {
        "the crate root".to_string()
    } else {
        path.join("::")
    }
}

/// True for the files of tests: `tests.rs`, `*_tests.rs`, `tests_*.rs`,
/// and everything in the folder of such a module (`openwire/tests/`).
fn is_test_file(rel: &Path) -> bool {
    rel.iter().any(|part| {
        let part = part.to_string_lossy();
        let stem = part.strip_suffix(".rs").unwrap_or(&part);
        stem == "tests" || stem.ends_with("_tests") || stem.starts_with("tests_")
    })
}

/// The module a file (its path under `src/`) holds: `broker/mod.rs` is
/// `broker`, `broker/durable/state.rs` is `broker::durable::state`,
/// `lib.rs` the root and `main.rs` the module `main`.
fn module_of(rel: &Path) -> ModPath {
    let mut parts: ModPath = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last).to_string();
        if stem != "mod" && !(parts.is_empty() && stem == "lib") {
            parts.push(stem);
        }
    }
    parts
}

/// The text with comments and the insides of string and character
/// literals turned into spaces (line breaks kept, so lines still count),
/// leaving only code to read.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let raw = if c == 'r' && (i == 0 || !ident(chars[i - 1]) || chars[i - 1] == 'b') {
            raw_string_hashes(&chars[i + 1..])
        } else {
            None
        };
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw {
            // r"..." or r#"..."#: no escapes, ends at the quote and hashes.
            let open = 2 + hashes;
            out.extend(std::iter::repeat_n(' ', open));
            i += open;
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..].iter().take_while(|&&h| h == '#').count() >= hashes
                {
                    out.extend(std::iter::repeat_n(' ', 1 + hashes));
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    blank(&mut out, ch);
                }
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal ('\n', '\'', '\u{..}'): past the
            // quote, the backslash and the escaped character, to the quote.
            out.push_str("   ");
            i += 3;
            while i < chars.len() && chars[i] != '\'' {
                blank(&mut out, chars[i]);
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next.is_some() && chars.get(i + 2) == Some(&'\'') {
            // A character literal such as '"' or '{' (not a lifetime).
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// How many `#` open a raw string at the start of `rest` (after its `r`).
fn raw_string_hashes(rest: &[char]) -> Option<usize> {
    let hashes = rest.iter().take_while(|&&c| c == '#').count();
    (rest.get(hashes) == Some(&'"')).then_some(hashes)
}

/// A token of code: a word (identifier, keyword, number, `$crate`), `::`,
/// or any other single character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    PathSep,
    Punct(char),
}

/// The tokens of code (from [`code_only`]), each with its line.
fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Word(chars[start..i].iter().collect()), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// The tokens without the items under `#[cfg(test)]` (test modules, test
/// helpers, their `mod tests;` lines).
fn without_test_items(toks: Vec<(Tok, usize)>) -> Vec<(Tok, usize)> {
    let cfg_test = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Word("cfg".into()),
        Tok::Punct('('),
        Tok::Word("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let here = toks[i..].iter().map(|(t, _)| t);
        if !here.clone().take(cfg_test.len()).eq(cfg_test.iter()) {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        i += cfg_test.len();
        // The item: through its `;` or its closing brace, whichever comes
        // first outside brackets (further attributes included).
        let mut depth = 0usize;
        while i < toks.len() {
            let t = &toks[i].0;
            i += 1;
            match t {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']') => depth = depth.saturating_sub(1),
                Tok::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                Tok::Punct(';') if depth == 0 => break,
                _ => {}
            }
        }
    }
    out
}

/// Every module path the code of a file names, made absolute, with its
/// line. `module` is the file's module; `main` says the file is `main.rs`,
/// whose `baton::` paths name the library's modules.
fn named_paths(module: &[String], main: bool, code: &str) -> Vec<(ModPath, usize)> {
    let toks = without_test_items(tokens(&code_only(code)));
    let mut found = Vec::new();
    // Inline modules (`mod key { ... }`) the scan is inside, with the brace
    // depth their body is at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let word = match &toks[i].0 {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
                continue;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
                i += 1;
                continue;
            }
            Tok::Word(w) => w.as_str(),
            _ => {
                i += 1;
                continue;
            }
        };
        if word == "mod" {
            if let (Some((Tok::Word(name), _)), Some((Tok::Punct('{'), _))) =
                (toks.get(i + 1), toks.get(i + 2))
            {
                inline.push((name.clone(), depth + 1));
            }
            i += 1;
            continue;
        }
        let after_sep = i > 0 && toks[i - 1].0 == Tok::PathSep;
        let starts_path = toks.get(i + 1).is_some_and(|(t, _)| *t == Tok::PathSep);
        let here = || -> ModPath {
            let inside = inline.iter().map(|(n, _)| n.clone());
            module.iter().cloned().chain(inside).collect()
        };
        let base = match word {
            _ if after_sep || !starts_path => None,
            "crate" | "$crate" if main => Some(module.to_vec()),
            "crate" | "$crate" => Some(Vec::new()),
            "baton" if main => Some(Vec::new()),
            "self" => Some(here()),
            "super" => {
                let mut up = here();
                up.pop();
                Some(up)
            }
            _ => None,
        };
        let Some(mut base) = base else {
            i += 1;
            continue;
        };
        i += 2;
        while let (Some((Tok::Word(w), _)), Some((Tok::PathSep, _))) =
            (toks.get(i), toks.get(i + 1))
        {
            if w != "super" {
                break;
            }
            base.pop();
            i += 2;
        }
        i = use_tree(&toks, i, base, &mut found);
    }
    found
}

/// Reads one `use` tree (or a plain path) starting at `i` under `prefix`:
/// `a::b`, `a::{b, c::d}`, `a::{self, b}`, `a::*`, `a as b`. Pushes each
/// complete path with the line of its last segment; returns where the tree
/// ends.
fn use_tree(
    toks: &[(Tok, usize)],
    mut i: usize,
    mut prefix: ModPath,
    found: &mut Vec<(ModPath, usize)>,
) -> usize {
    let mut line = toks.get(i).map_or(0, |(_, l)| *l);
    loop {
        match toks.get(i) {
            Some((Tok::Punct('{'), _)) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        None => return i,
                        Some((Tok::Punct('}'), _)) => return i + 1,
                        Some((Tok::Word(_) | Tok::Punct('{'), _)) => {
                            i = use_tree(toks, i, prefix.clone(), found)
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            Some((Tok::Punct('*'), l)) => {
                found.push((prefix, *l));
                return i + 1;
            }
            Some((Tok::Word(w), l)) => {
                line = *l;
                if w != "self" {
                    prefix.push(w.clone());
                }
                i += 1;
                match toks.get(i) {
                    Some((Tok::PathSep, _)) => {
                        i += 1;
                        continue;
                    }
                    Some((Tok::Word(a), _)) if a == "as" => i += 2,
                    _ => {}
                }
                found.push((prefix, line));
                return i;
            }
            _ => {
                found.push((prefix, line));
                return i;
            }
        }
    }
}

/// The longest prefix of `path` that is a known module.
fn resolve(path: &[String], modules: &BTreeSet<ModPath>) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default()
}

/// Uses between siblings: `(user, used)` → the `file:line`s that make it.
type Uses = BTreeMap<(ModPath, ModPath), BTreeSet<String>>;

/// The uses between siblings in the given files (paths under `src/`).
fn sibling_uses(files: &BTreeMap<PathBuf, String>) -> Uses {
    let sources: Vec<(&PathBuf, ModPath, &String)> = files
        .iter()
        .filter(|(p, _)| !is_test_file(p))
        .map(|(p, text)| (p, module_of(p), text))
        .collect();
    let modules: BTreeSet<ModPath> = sources.iter().map(|(_, m, _)| m.clone()).collect();
    let mut uses = Uses::new();
    for (path, module, text) in &sources {
        let main = path.as_path() == Path::new("main.rs");
        for (named, line) in named_paths(module, main, text) {
            let target = resolve(&named, &modules);
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == module.len() || common == target.len() {
                // Itself, a child of its own or one of its parents.
                continue;
            }
            let at = format!("src/{}:{line}", path.to_string_lossy().replace('\\', "/"));
            uses.entry((module[..=common].to_vec(), target[..=common].to_vec()))
                .or_default()
                .insert(at);
        }
    }
    uses
}

/// The first few `file:line`s of a use, and how many more there are.
fn lines(at: &BTreeSet<String>) -> String {
    const SHOWN: usize = 4;
    let first: Vec<&str> = at.iter().take(SHOWN).map(String::as_str).collect();
    match at.len().saturating_sub(SHOWN) {
        0 => first.join(", "),
        more => format!("{} and {more} more", first.join(", ")),
    }
}

/// One line per problem: siblings that use each other (directly or round
/// a longer cycle), top-level uses against `layers`, and modules missing
/// from or unknown to `layers`.
fn check(files: &BTreeMap<PathBuf, String>, layers: &[(&str, &[&str])]) -> Vec<String> {
    let uses = sibling_uses(files);
    let mut problems = Vec::new();
    let mut next: BTreeMap<&ModPath, BTreeSet<&ModPath>> = BTreeMap::new();
    for (a, b) in uses.keys() {
        next.entry(a).or_default().insert(b);
    }
    let reach = |from: &ModPath| -> BTreeSet<&ModPath> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&ModPath> = next.get(from).into_iter().flatten().copied().collect();
        while let Some(m) = stack.pop() {
            if seen.insert(m) {
                stack.extend(next.get(m).into_iter().flatten().copied());
            }
        }
        seen
    };
    let mut reported: BTreeSet<&ModPath> = BTreeSet::new();
    for &start in next.keys() {
        if reported.contains(start) {
            continue;
        }
        let from_start = reach(start);
        if !from_start.contains(start) {
            continue;
        }
        let cycle: BTreeSet<&ModPath> = from_start
            .into_iter()
            .filter(|m| reach(m).contains(start))
            .collect();
        reported.extend(cycle.iter().copied());
        let names: Vec<String> = cycle.iter().map(|m| show(m)).collect();
        let mut text = format!("modules that use each other: {}", names.join(", "));
        for ((a, b), at) in &uses {
            if cycle.contains(a) && cycle.contains(b) {
                text.push_str(&format!(
                    "\n    {} uses {} at {}",
                    show(a),
                    show(b),
                    lines(at)
                ));
            }
        }
        problems.push(text);
    }

    let layer_of: BTreeMap<&str, (usize, &str)> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, (name, mods))| mods.iter().map(move |m| (*m, (i, *name))))
        .collect();
    let top: BTreeSet<String> = files
        .keys()
        .filter(|p| !is_test_file(p))
        .filter_map(|p| module_of(p).first().cloned())
        .collect();
    for m in &top {
        if !layer_of.contains_key(m.as_str()) {
            problems.push(format!(
                "module {m} is in no layer: add it to LAYERS (tests/repository/layers.rs) and to the layer table of ARCHITECTURE.md"
            ));
        }
    }
    for m in layer_of.keys() {
        if !top.contains(*m) {
            problems.push(format!("the layers name {m}, which is no module of src/"));
        }
    }
    for ((a, b), at) in &uses {
        let (Some(a), Some(b)) = (
            a.first().filter(|_| a.len() == 1),
            b.first().filter(|_| b.len() == 1),
        ) else {
            continue;
        };
        if let (Some(&(la, na)), Some(&(lb, nb))) =
            (layer_of.get(a.as_str()), layer_of.get(b.as_str()))
        {
            if lb > la {
                problems.push(format!(
                    "{a} (layer {}, {na}) uses {b} (layer {}, {nb}), a layer above it, at {}",
                    la + 1,
                    lb + 1,
                    lines(at)
                ));
            }
        }
    }
    problems
}

/// The layers of a Markdown table whose rows start `| N. name | `a`, `b` |`.
fn layer_table(markdown: &str) -> Vec<(String, Vec<String>)> {
    let mut layers = Vec::new();
    for line in markdown.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let Some((n, name)) = cells.first().and_then(|c| c.split_once(". ")) else {
            continue;
        };
        if cells.len() < 2 || n.parse::<usize>().is_err() {
            continue;
        }
        let modules = cells[1]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        layers.push((name.to_string(), modules));
    }
    layers
}

/// Every `.rs` file under `dir`, by its path relative to `dir`.
fn rust_files(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let rel = path.strip_prefix(dir).expect("under src/").to_path_buf();
                files.insert(rel, text);
            }
        }
    }
    files
}

fn src() -> BTreeMap<PathBuf, String> {
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn no_two_modules_use_each_other_and_every_module_keeps_to_its_layer() {
    let files = src();
    let uses = sibling_uses(&files);
    // The scan must see the code: a reader that found nothing would pass.
    let top = uses.keys().filter(|(a, _)| a.len() == 1).count();
    let nested = uses.len() - top;
    assert!(
        top > 30 && nested > 50,
        "only {top} top-level and {nested} nested uses found in src/: is the scan broken?"
    );
    assert!(uses.contains_key(&(vec!["broker".to_string()], vec!["store".to_string()])));
    let problems = check(&files, LAYERS);
    assert!(
        problems.is_empty(),
        "{} layering problems (see ARCHITECTURE.md, \"The layer rule\"):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn architecture_md_shows_the_layers_checked_here() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md");
    let text = std::fs::read_to_string(&path).expect("ARCHITECTURE.md");
    let shown = layer_table(&text);
    let checked: Vec<(String, Vec<String>)> = LAYERS
        .iter()
        .map(|(name, mods)| {
            (
                name.to_string(),
                mods.iter().map(|m| m.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        shown, checked,
        "the layer table of ARCHITECTURE.md (left) differs from LAYERS in tests/repository/layers.rs (right)"
    );
}

#[test]
fn the_checker_reports_cycles_upward_uses_and_unplaced_modules() {
    let files: BTreeMap<PathBuf, String> = [
        (
            "lib.rs",
            "pub mod high;\npub mod low;\npub mod mid;\npub mod stray;\n",
        ),
        (
            "high/mod.rs",
            "mod x;\nmod y;\nuse crate::low::L;\npub use x::X;\n",
        ),
        (
            "high/x.rs",
            "use super::y::Y;\nuse super::Shared;\nfn f() -> crate::mid::M { todo!() }\n\
             mod inner {\n    use super::y::Y;\n}\n",
        ),
        ("high/y.rs", "use super::{\n    x::X,\n};\n"),
        (
            "low/mod.rs",
            "//! Mentions crate::high::X.\n\
             const S: &str = \"crate::high::X\";\n\
             const C: char = '\"';\n\
             fn g<'a>(s: &'a str) -> &'a str { s }\n\
             #[cfg(test)]\nmod tests;\n\
             #[cfg(test)]\nmod inline {\n    use crate::high::X;\n}\n\
             pub mod key {\n    pub use super::L as K;\n}\n\
             pub(in crate::low) fn f() {}\n",
        ),
        ("low/tests.rs", "use crate::high::X;\n"),
        ("mid.rs", "use crate::{low::L, high::X};\n"),
        ("stray.rs", ""),
    ]
    .into_iter()
    .map(|(p, t)| (PathBuf::from(p), t.to_string()))
    .collect();
    let layers: &[(&str, &[&str])] = &[
        ("base", &["low"]),
        ("middle", &["mid"]),
        ("top", &["high", "gone"]),
    ];
    assert_eq!(
        check(&files, layers),
        [
            "modules that use each other: high, mid\n    \
             high uses mid at src/high/x.rs:3\n    \
             mid uses high at src/mid.rs:1",
            "modules that use each other: high::x, high::y\n    \
             high::x uses high::y at src/high/x.rs:1\n    \
             high::y uses high::x at src/high/y.rs:2",
            "module stray is in no layer: add it to LAYERS (tests/repository/layers.rs) and to the layer table of ARCHITECTURE.md",
            "the layers name gone, which is no module of src/",
            "mid (layer 2, middle) uses high (layer 3, top), a layer above it, at src/mid.rs:1",
        ]
    );
}

#[test]
fn paths_are_read_from_code_only() {
    let code = "use crate::a::{b::{self, C}, d as e, f::*};\n\
                let s = r#\"crate::x\"#; let t = b\"crate::y\"; /* crate::z /* nested */ */\n\
                let c = '\\''; let d = crate::g::H; super::super::k::L;\n";
    let found: Vec<(String, usize)> = named_paths(&["m".into(), "n".into()], false, code)
        .into_iter()
        .map(|(p, l)| (p.join("::"), l))
        .collect();
    assert_eq!(
        found,
        [
            ("a::b".to_string(), 1),
            ("a::b::C".to_string(), 1),
            ("a::d".to_string(), 1),
            ("a::f".to_string(), 1),
            ("g::H".to_string(), 3),
            ("k::L".to_string(), 3),
        ]
    );
    assert_eq!(
        layer_table("| layer | modules |\n|---|---|\n| 1. base | `a`, `b` | x |\n| `c` | y |\n"),
        [("base".to_string(), vec!["a".to_string(), "b".to_string()])]
    );
}
