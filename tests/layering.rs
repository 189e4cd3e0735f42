//! The layering rule of `src/`, checked on every test run (see docs/architecture.md).
//!
//! Each top-level module has a rank; a module may name (`crate::name`, `super::…::name`)
//! only modules of a lower rank, so no module imports one above it and no two import each
//! other. Only `http` and `cli` (with the composition root, `lib.rs` and `main.rs`) may name
//! actix, and only `store` may branch on the database backend. A new top-level module fails
//! this test until it is given a rank here, which is the point: where it sits is a decision,
//! not an accident. Files stay small enough to read in one sitting.
//!
//! The checker reads whole files as tokens (comments and literals dropped), so an import
//! after a test module, a group split over lines, a nested group or a `super::super::` path
//! is seen like any other; `the_checker_catches_each_kind_of_violation_planted_in_a_copy`
//! plants each kind in a copy of the tree and sees it fail.

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

/// Longest source file, in lines, not counting comment lines and `#[cfg(test)]` modules.
const MAX_LINES: usize = 700;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// The tokens of Rust source, each with its line, without comments, strings and characters.
fn tokens(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // Raw strings: r"…", r#"…"#, br#"…"#.
            if (word == "r" || word == "br") && (at(i) == '"' || at(i) == '#') {
                let mut hashes = 0;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                if at(i) == '"' {
                    i += 1;
                    loop {
                        if i >= chars.len() {
                            break;
                        }
                        if chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                            i += 1 + hashes;
                            break;
                        }
                        line += usize::from(chars[i] == '\n');
                        i += 1;
                    }
                    continue;
                }
            }
            if word.chars().next().is_some_and(|f| f.is_ascii_digit()) {
                continue;
            }
            out.push((Token::Ident(word), line));
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Token::Path, line));
            i += 2;
        } else {
            out.push((Token::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn ident(token: Option<&(Token, usize)>) -> Option<&str> {
    match token {
        Some((Token::Ident(name), _)) => Some(name),
        _ => None,
    }
}

/// The first names of the items of the group that opens at `tokens[open]` (`{`), each with
/// its line: `{ a::b, c::{d, e}, f }` → a, c, f.
fn group_heads(tokens: &[(Token, usize)], open: usize) -> Vec<(String, usize)> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expecting = true;
    for (token, line) in &tokens[open..] {
        match token {
            Token::Punct('{') => {
                depth += 1;
                expecting = depth == 1;
            }
            Token::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Token::Punct(',') if depth == 1 => expecting = true,
            Token::Ident(name) if expecting && depth == 1 => {
                heads.push((name.clone(), *line));
                expecting = false;
            }
            _ => {}
        }
    }
    heads
}

/// Every top-level module a file names, with the line: `crate::x`, `crate::{x, y}` (over any
/// number of lines), and `super::…::x` where the supers climb to the crate root. `path` is
/// the file's module path (`src/scim/users.rs` → ["scim", "users"]); inline `mod m { … }`
/// blocks deepen it.
fn named_modules(text: &str, path: &[String]) -> Vec<(String, usize)> {
    let tokens = tokens(text);
    let mut found = Vec::new();
    // Inline modules open: the brace depth at which each closes.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    for i in 0..tokens.len() {
        match &tokens[i].0 {
            Token::Punct('{') => {
                depth += 1;
                if i >= 2
                    && ident(tokens.get(i - 2)) == Some("mod")
                    && ident(tokens.get(i - 1)).is_some()
                {
                    inline.push(depth);
                }
            }
            Token::Punct('}') => {
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(word) if word == "crate" || word == "super" => {
                // Only the start of a path: not `x::super`, not `pub(crate)`.
                if i > 0 && tokens[i - 1].0 == Token::Path {
                    continue;
                }
                let mut j = i;
                let mut level = path.len() + inline.len();
                if word == "crate" {
                    level = 0;
                } else {
                    while ident(tokens.get(j)) == Some("super") {
                        level = level.saturating_sub(1);
                        if tokens.get(j + 1).map(|t| &t.0) == Some(&Token::Path)
                            && ident(tokens.get(j + 2)) == Some("super")
                        {
                            j += 2;
                        } else {
                            break;
                        }
                    }
                }
                if level != 0 || tokens.get(j + 1).map(|t| &t.0) != Some(&Token::Path) {
                    continue;
                }
                match tokens.get(j + 2) {
                    Some((Token::Ident(name), line)) => found.push((name.clone(), *line)),
                    Some((Token::Punct('{'), _)) => found.extend(group_heads(&tokens, j + 2)),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    found.retain(|(name, _)| name != "self" && name != "super");
    found
}

/// Lines that count towards a file's length: not blank-only comment lines, not inside a
/// `#[cfg(test)] mod … { … }` block.
fn counted_lines(text: &str) -> usize {
    let tokens = tokens(text);
    let mut excluded: Vec<(usize, usize)> = Vec::new();
    for i in 0..tokens.len() {
        let window: Vec<&Token> = tokens[i..].iter().take(7).map(|t| &t.0).collect();
        let is_cfg_test = window.len() == 7
            && window[0] == &Token::Punct('#')
            && window[1] == &Token::Punct('[')
            && window[2] == &Token::Ident("cfg".into())
            && window[4] == &Token::Ident("test".into());
        if !is_cfg_test {
            continue;
        }
        let Some(open) = (i + 7..tokens.len())
            .find(|&k| matches!(tokens[k].0, Token::Punct('{') | Token::Punct(';')))
        else {
            continue;
        };
        if tokens[open].0 != Token::Punct('{') || ident(tokens.get(open - 2)) != Some("mod") {
            continue;
        }
        let mut depth = 0;
        for (token, line) in &tokens[open..] {
            match token {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        excluded.push((tokens[i].1, *line));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    text.lines()
        .enumerate()
        .filter(|(n, line)| {
            let number = n + 1;
            !line.trim_start().starts_with("//")
                && !excluded
                    .iter()
                    .any(|(from, to)| (*from..=*to).contains(&number))
        })
        .count()
}

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

/// A file's module path: `scim/users.rs` → [scim, users], `scim/mod.rs` → [scim], `lib.rs` → [].
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = relative
        .iter()
        .filter_map(|p| p.to_str())
        .map(|p| p.trim_end_matches(".rs").to_string())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// Every violation of the rule in the tree at `src`.
fn violations(src: &Path) -> Vec<String> {
    let ranks: BTreeMap<&str, u8> = RANKS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let path = module_path(src, file);
        let Some(module) = path.first().cloned() else {
            continue;
        };
        let shown = file.strip_prefix(src).unwrap_or(file).display().to_string();
        let Some(&rank) = ranks.get(module.as_str()) else {
            violations.push(format!(
                "{shown}: module `{module}` has no rank in tests/layering.rs"
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable source file");
        let lines = counted_lines(&text);
        if lines > MAX_LINES {
            violations.push(format!(
                "{shown}: {lines} lines of code and docs, over {MAX_LINES}; split it by job"
            ));
        }
        for (imported, line) in named_modules(&text, &path) {
            if imported == module {
                continue;
            }
            if let Some(&other) = ranks.get(imported.as_str())
                && other >= rank
            {
                violations.push(format!(
                    "{shown}:{line}: `{module}` imports `{imported}`, which is not below it"
                ));
            }
        }
        let tokens = tokens(&text);
        for (i, (token, line)) in tokens.iter().enumerate() {
            let Token::Ident(word) = token else {
                continue;
            };
            let next_is_path = tokens.get(i + 1).map(|t| &t.0) == Some(&Token::Path);
            let variant = ident(tokens.get(i + 2));
            let branches_on_backend = next_is_path
                && (word == "Backend"
                    || (word == "AnyConnection" && matches!(variant, Some("Postgres" | "Sqlite"))));
            if branches_on_backend && module != "store" {
                violations.push(format!(
                    "{shown}:{line}: `{module}` branches on the backend; only store may"
                ));
            }
            if (word == "actix" || word.starts_with("actix_"))
                && !ACTIX_ALLOWED.contains(&module.as_str())
            {
                violations.push(format!(
                    "{shown}:{line}: `{module}` names actix; only http and cli may"
                ));
            }
        }
    }
    violations
}

#[test]
fn no_module_imports_one_above_it_and_actix_and_backends_stay_in_their_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_sees_every_form_of_a_path() {
    let names = |text: &str, path: &[&str]| -> Vec<String> {
        let path: Vec<String> = path.iter().map(|p| p.to_string()).collect();
        named_modules(text, &path)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    assert_eq!(names("use crate::store::users;", &["scim"]), ["store"]);
    assert_eq!(
        names("use crate::{audit, store::Store};", &["scim"]),
        ["audit", "store"]
    );
    assert_eq!(
        names(
            "use crate::{\n    http::AppState,\n    signals::{a, b},\n};",
            &["store"]
        ),
        ["http", "signals"]
    );
    assert_eq!(
        names(
            "fn f() { crate::metrics::inc(\"crate::http\", &[]); crate::scim::fold(x) }",
            &["store"]
        ),
        ["metrics", "scim"]
    );
    assert_eq!(
        names("use super::super::http::X;", &["store", "users"]),
        ["http"]
    );
    assert_eq!(
        names("use super::users;", &["store", "groups"]),
        Vec::<String>::new()
    );
    assert_eq!(
        names("mod inner { use super::super::http::X; }", &["store"]),
        ["http"]
    );
    assert_eq!(
        names(
            "// use crate::http;\n/* crate::http */ let s = r#\"crate::http\"#;",
            &["store"]
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            "pub(crate) fn f<'a>(x: &'a str) -> char { 'x' }",
            &["store"]
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        counted_lines("use a;\n// note\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\nuse b;"),
        2
    );
}

/// Copies `src` into a temporary directory and applies `plant` to the copy.
fn planted(plant: impl FnOnce(&Path)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let copy = dir.path().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let target = copy.join(file.strip_prefix(&src).expect("inside src"));
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("directories");
        std::fs::copy(&file, &target).expect("copy");
    }
    plant(&copy);
    (dir, copy)
}

fn append(file: &Path, text: &str) {
    let mut content = std::fs::read_to_string(file).expect("read");
    content.push_str(text);
    std::fs::write(file, content).expect("write");
}

#[test]
fn the_checker_catches_each_kind_of_violation_planted_in_a_copy() {
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "actix after a test module",
            "scim/users.rs",
            "\n#[cfg(test)]\nmod planted {}\nuse actix_web::HttpResponse;\n".into(),
            "names actix",
        ),
        (
            "a grouped import over lines",
            "store/users.rs",
            "\nuse crate::{\n    http::AppState,\n    signals::feed,\n};\n".into(),
            "`store` imports `http`",
        ),
        (
            "a relative path",
            "store/users.rs",
            "\nuse super::super::scim::ScimError;\n".into(),
            "`store` imports `scim`",
        ),
        (
            "an inline path",
            "access/roles.rs",
            "\nfn planted() { let _ = crate::signals::feed::MAX_PAGE; }\n".into(),
            "`access` imports `signals`",
        ),
        (
            "a backend branch",
            "scim/users.rs",
            "\nfn planted(b: Backend) { let _ = Backend::Sqlite; }\n".into(),
            "branches on the backend",
        ),
        (
            "a file too long",
            "audit/reading.rs",
            "\nconst _: u8 = 0;".repeat(MAX_LINES),
            "split it by job",
        ),
    ];
    for (why, file, text, expected) in cases {
        let (_dir, copy) = planted(|copy| append(&copy.join(file), &text));
        let found = violations(&copy);
        assert!(
            found.iter().any(|v| v.contains(expected)),
            "{why}: {found:?}"
        );
    }
    let (_dir, copy) = planted(|copy| {
        std::fs::write(copy.join("unranked.rs"), "pub fn f() {}\n").expect("write");
    });
    assert!(violations(&copy).iter().any(|v| v.contains("has no rank")));
}
