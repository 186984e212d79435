//! The direction of the dependencies between the top-level modules of `src/`, read from the
//! source: every `crate::<module>` path outside comments and test code is an edge. The graph
//! must have no cycle, and some modules may only lean on leaves: the ACME client on the
//! printable-text and unit helpers, the schedule on units; nothing names the daemon or the
//! crate root. A new edge that closes a loop fails here, naming the loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Modules a module may depend on, and nothing else.
const ONLY: &[(&str, &[&str])] = &[
    ("acme", &["printable", "units"]),
    ("schedule", &["units"]),
    ("units", &[]),
    ("printable", &[]),
    ("setting", &[]),
    ("chain_kind", &["acme"]),
];

/// Modules nothing may depend on.
const TOP: &[&str] = &["daemon", "lib", "main"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments and its `#[cfg(test)] mod tests { … }` blocks.
fn code(text: &str) -> String {
    let mut text = text.to_owned();
    while let Some(at) = text.find("#[cfg(test)]\nmod tests") {
        let open = at + text[at..].find('{').unwrap_or(text.len() - at);
        let mut depth = 0;
        let mut end = text.len();
        for (i, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        text.replace_range(at..end, "");
    }
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules that `code` names: `crate::x` paths, and `x` in `use crate::{x, …}`.
fn named(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        start = true;
                        continue;
                    }
                    _ => {}
                }
                if start && !c.is_whitespace() {
                    start = false;
                    let name = ident(&group[i..]);
                    if !name.is_empty() && name != "self" {
                        names.insert(name);
                    }
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.components().next().unwrap().as_os_str();
        let top = top.to_str().unwrap().trim_end_matches(".rs").to_owned();
        if relative.ends_with("tests.rs") || relative.components().any(|c| c.as_os_str() == "tests")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let edges = graph.entry(top.clone()).or_default();
        for name in named(&code(&text)) {
            if name != top {
                edges.insert(name);
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one: depth-first search back to it.
fn cycle_through(graph: &Graph, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &Graph,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then(|| {
        path.push(start.to_owned());
        path
    })
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = graph();
    assert!(graph.len() > 15, "read too few modules: {graph:?}");
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_through(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(
        cycles.is_empty(),
        "dependency cycles:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn leaves_stay_leaves_and_nothing_names_the_daemon() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (module, allowed) in ONLY {
        for dep in graph.get(*module).into_iter().flatten() {
            if !allowed.contains(&dep.as_str()) {
                wrong.push(format!("{module} -> {dep} (only {allowed:?})"));
            }
        }
    }
    for (module, deps) in &graph {
        for top in TOP {
            if deps.contains(*top) {
                wrong.push(format!("{module} -> {top}"));
            }
        }
    }
    assert!(wrong.is_empty(), "forbidden edges:\n{}", wrong.join("\n"));
}

#[test]
fn the_reader_sees_grouped_imports_and_ignores_comments() {
    let text =
        "use crate::{acme::Client, units};\n// crate::daemon\nfn f() { crate::ramp::x(); }\n\
                #[cfg(test)]\nmod tests { fn t() { crate::config::x(); } }\nuse crate::db;";
    let names: Vec<_> = named(&code(text)).into_iter().collect();
    assert_eq!(names, ["acme", "db", "ramp", "units"]);
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    assert_eq!(cycle_through(&g, "a").unwrap(), ["a", "b", "a"]);
}
