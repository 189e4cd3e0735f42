//! The layering rule of `src/`, checked on every test run (see docs/architecture.md).
//!
//! Each top-level module has a rank; a module may import (`crate::name`) only modules of a
//! lower rank, so no module imports one above it and no two import each other. Only `http`
//! and `cli` (with the composition root, `lib.rs` and `main.rs`) may name actix, and only
//! `store` may branch on the database backend. A new
//! top-level module fails this test until it is given a rank here, which is the point: where
//! it sits is a decision, not an accident. Files stay small enough to read in one sitting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top. Equal ranks may not import each other either.
const RANKS: &[(&str, u8)] = &[
    ("clock", 0),
    ("hashing", 0),
    ("metrics", 0),
    ("text", 0),
    ("sealing", 0),
    ("store", 1),
    ("egress", 1),
    ("config", 2),
    ("tenancy", 2),
    ("audit", 3),
    ("telemetry", 3),
    ("outbox", 4),
    ("access", 5),
    ("scim", 6),
    ("signals", 7),
    ("http", 8),
    ("cli", 9),
];

/// Modules allowed to name actix: the HTTP face and the composition root's commands.
const ACTIX_ALLOWED: &[&str] = &["http", "cli"];

/// Longest source file, in lines, not counting its `#[cfg(test)]` module.
const MAX_LINES: usize = 700;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/scim/users.rs` → `scim`), or `None` for the
/// crate root files.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// The code of a file without comments and without its unit-test module.
fn code_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start() == "#[cfg(test)]" {
            break;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        lines.push(line);
    }
    lines
}

/// Every top-level module named by `crate::…` on a line, grouped imports included.
fn imported_modules(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn no_module_imports_one_above_it_and_actix_and_backends_stay_in_their_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let ranks: BTreeMap<&str, u8> = RANKS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let shown = file
            .strip_prefix(&src)
            .unwrap_or(file)
            .display()
            .to_string();
        let Some(&rank) = ranks.get(module.as_str()) else {
            violations.push(format!(
                "{shown}: module `{module}` has no rank in tests/layering.rs"
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable source file");
        let code = code_lines(&text);
        if code.len() > MAX_LINES {
            violations.push(format!(
                "{shown}: {} lines of code and docs, over {MAX_LINES}; split it by job",
                code.len()
            ));
        }
        for (number, line) in code.iter().enumerate() {
            for imported in imported_modules(line) {
                if imported == module {
                    continue;
                }
                match ranks.get(imported.as_str()) {
                    Some(&other) if other < rank => {}
                    Some(_) => violations.push(format!(
                        "{shown}:{}: `{module}` imports `{imported}`, which is not below it",
                        number + 1
                    )),
                    None => {}
                }
            }
            let branches_on_backend = [
                "Backend::",
                "AnyConnection::Postgres",
                "AnyConnection::Sqlite",
            ]
            .iter()
            .any(|pattern| line.contains(pattern));
            if branches_on_backend && module != "store" {
                violations.push(format!(
                    "{shown}:{}: `{module}` branches on the backend; only store may",
                    number + 1
                ));
            }
            if line.contains("actix") && !ACTIX_ALLOWED.contains(&module.as_str()) {
                violations.push(format!(
                    "{shown}:{}: `{module}` names actix; only http and cli may",
                    number + 1
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_plain_grouped_and_inline_imports() {
    assert_eq!(imported_modules("use crate::store::users;"), ["store"]);
    assert_eq!(
        imported_modules("use crate::{audit, store::Store};"),
        ["audit", "store"]
    );
    assert_eq!(
        imported_modules("    crate::metrics::inc(\"x\", &[]); crate::scim::fold(x)"),
        ["metrics", "scim"]
    );
    assert_eq!(
        code_lines("use a;\n// crate::http\n#[cfg(test)]\nuse crate::http;"),
        ["use a;"]
    );
}
