//! The documentation has no dead links and every page is reachable from the
//! README: every relative link in README.md, ARCHITECTURE.md, BENCHMARKS.md
//! and docs/*.md must name a file of the repository, and every `#anchor` a
//! heading (GitHub's slug) or an `<a id>` of the page it points to.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};

/// A link found in a page: the line it is on and its target as written.
struct Link {
    line: usize,
    target: String,
}

/// What the checker needs of one page.
struct Page {
    links: Vec<Link>,
    anchors: BTreeSet<String>,
}

/// GitHub's anchor for a heading: the rendered text in lower case, with
/// everything but letters, digits, spaces, `-` and `_` removed and spaces
/// turned into `-`.
fn slug(heading: &str) -> String {
    rendered(heading)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The text of inline Markdown: code spans keep their content, links their
/// text, emphasis markers go.
fn rendered(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            let ticks = rest.len() - rest.trim_start_matches('`').len();
            let fence = &rest[..ticks];
            if let Some(end) = rest[ticks..].find(fence) {
                out.push_str(&rest[ticks..ticks + end]);
                rest = &rest[ticks + end + ticks..];
                continue;
            }
        }
        if c == ']' && rest.starts_with("](") {
            if let Some(end) = rest.find(')') {
                rest = &rest[end + 1..];
                continue;
            }
        }
        if !matches!(c, '*' | '[' | ']') {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A line with its code spans emptied, so that nothing inside them is read
/// as a link.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let fence = &rest[start..start + ticks];
        let after = &rest[start + ticks..];
        match after.find(fence) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                out.push_str(&rest[start..]);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `(target)` of every `[text](target)` in one line.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].split_whitespace().next().unwrap_or("");
        targets.push(target.trim_matches(|c| c == '<' || c == '>').to_string());
        rest = &after[end..];
    }
    targets
}

/// The value of every `id="..."` / `name="..."` of an HTML anchor.
fn html_anchors(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["<a id=\"", "<a name=\""] {
        let mut rest = line;
        while let Some(at) = rest.find(attr) {
            let after = &rest[at + attr.len()..];
            let end = after.find('"').unwrap_or(after.len());
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

/// Reads the links and anchors of a Markdown text (fenced code skipped).
fn parse(text: &str) -> Page {
    let mut page = Page {
        links: Vec::new(),
        anchors: BTreeSet::new(),
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut fence: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            continue;
        }
        if trimmed.starts_with('#') {
            let level = trimmed.len() - trimmed.trim_start_matches('#').len();
            let title = trimmed[level..].trim();
            if level <= 6 && trimmed[level..].starts_with(' ') {
                let base = slug(title);
                let n = seen.entry(base.clone()).or_insert(0);
                let anchor = if *n == 0 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                };
                *n += 1;
                page.anchors.insert(anchor);
            }
        }
        page.anchors.extend(html_anchors(line));
        for target in link_targets(line) {
            page.links.push(Link {
                line: i + 1,
                target,
            });
        }
    }
    page
}

/// `a/b/../c` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Checks the pages (paths relative to the repository root) and returns
/// one line per dead link and per page the README does not reach.
fn check(root: &Path, pages: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let parsed: BTreeMap<&PathBuf, Page> = pages.iter().map(|(p, t)| (p, parse(t))).collect();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for (path, page) in &parsed {
        for link in &page.links {
            let t = link.target.as_str();
            if t.is_empty() {
                problems.push(format!("{}:{}: empty link", path.display(), link.line));
                continue;
            }
            if t.contains("://") || t.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match t.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (t, None),
            };
            let dir = path.parent().unwrap_or(Path::new(""));
            let target = if file.is_empty() {
                (*path).clone()
            } else {
                normalize(&dir.join(file))
            };
            let known = parsed.get(&target);
            if known.is_none() && !root.join(&target).exists() {
                problems.push(format!(
                    "{}:{}: link `{t}`: no file {}",
                    path.display(),
                    link.line,
                    target.display()
                ));
                continue;
            }
            if let Some(anchor) = anchor {
                match known {
                    Some(p) if p.anchors.contains(anchor) => {}
                    Some(_) => problems.push(format!(
                        "{}:{}: link `{t}`: no heading or anchor `{anchor}` in {}",
                        path.display(),
                        link.line,
                        target.display()
                    )),
                    None => problems.push(format!(
                        "{}:{}: link `{t}`: anchor into {}, which is not a checked page",
                        path.display(),
                        link.line,
                        target.display()
                    )),
                }
            }
            edges.entry((*path).clone()).or_default().push(target);
        }
    }
    let start = PathBuf::from("README.md");
    let mut reached = BTreeSet::from([start.clone()]);
    let mut queue = VecDeque::from([start]);
    while let Some(page) = queue.pop_front() {
        for next in edges.get(&page).into_iter().flatten() {
            if parsed.contains_key(next) && reached.insert(next.clone()) {
                queue.push_back(next.clone());
            }
        }
    }
    for path in parsed.keys() {
        if !reached.contains(*path) {
            problems.push(format!(
                "{}: not reachable by links from README.md",
                path.display()
            ));
        }
    }
    problems
}

/// README.md, ARCHITECTURE.md, BENCHMARKS.md and every docs/*.md.
fn repository_pages(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut paths: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md"]
        .iter()
        .map(PathBuf::from)
        .collect();
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/ exists") {
        let name = entry.expect("docs/ entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") {
            paths.push(Path::new("docs").join(name.as_ref()));
        }
    }
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(root.join(&p))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, text)
        })
        .collect()
}

#[test]
fn every_link_resolves_and_every_page_is_reachable_from_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = repository_pages(root);
    assert!(pages.len() > 3, "no pages under docs/");
    let problems = check(root, &pages);
    assert!(
        problems.is_empty(),
        "{} dead links or unreachable pages:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checker_reports_dead_files_anchors_and_unreachable_pages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages: BTreeMap<PathBuf, String> = [
        (
            "README.md",
            "# Baton\n\n[ok](docs/a.md#a-b_c-d) [gone](docs/missing.md) [bad](docs/a.md#nope)\n\
             ```\n[in code](docs/nowhere.md)\n```\n`[span](docs/nowhere.md)`\n",
        ),
        (
            "docs/a.md",
            "# A\n\n## A `b_c` [d](x.md)!\n\n[up](../README.md#baton) [self](#a)\n",
        ),
        ("docs/orphan.md", "# Orphan\n"),
    ]
    .into_iter()
    .map(|(p, t)| (PathBuf::from(p), t.to_string()))
    .collect();
    let problems = check(root, &pages);
    assert_eq!(
        problems,
        [
            "README.md:3: link `docs/missing.md`: no file docs/missing.md",
            "README.md:3: link `docs/a.md#nope`: no heading or anchor `nope` in docs/a.md",
            "docs/a.md:3: link `x.md`: no file docs/x.md",
            "docs/orphan.md: not reachable by links from README.md",
        ]
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("The load generator: `baton bench`"),
        "the-load-generator-baton-bench"
    );
    assert_eq!(
        slug("Churn: the message table under steady produce + consume (issue 6, item 2)"),
        "churn-the-message-table-under-steady-produce--consume-issue-6-item-2"
    );
    assert_eq!(
        slug("STOMP from Python (stomp.py)"),
        "stomp-from-python-stomppy"
    );
    assert_eq!(
        slug("Memory with 1,000,000 stored messages (issue 6, item 3: paging)"),
        "memory-with-1000000-stored-messages-issue-6-item-3-paging"
    );
}
