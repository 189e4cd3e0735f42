//! The Python and Node guards (`guard-python/`, `guard-node/`) run their own tests from
//! `cargo test`: the shared conformance vectors (`guard/vectors.json`), their unit tests, and
//! their end-to-end tests against this build's `scimitar` binary (`SCIMITAR_BIN`).
//!
//! Python: a virtualenv under the target directory (`guard-python-venv`), made with
//! `python3 -m venv` and `pip install -e guard-python[test]` when missing or when
//! `pyproject.toml` changed, then pytest. Node: `npm ci` in `guard-node` when its
//! `node_modules` is missing or `package-lock.json` changed, then `node --test`.
//!
//! Without `python3` (or `node` and `npm`) a test is skipped with a message, except under
//! `CI=true`, where it fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest an install or a test run may take.
const LIMIT: Duration = Duration::from_secs(300);

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_scimitar")
}

/// The target directory: the binary is `<target>/<profile>/scimitar`.
fn target_dir() -> PathBuf {
    Path::new(binary())
        .parent()
        .and_then(Path::parent)
        .expect("the binary is in <target>/<profile>/")
        .to_path_buf()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The tools, or `None` after a printed message when they are absent outside CI.
fn tools(names: &[&str], what: &str) -> Option<Vec<PathBuf>> {
    let found: Vec<Option<PathBuf>> = names.iter().map(|name| find_on_path(name)).collect();
    if found.iter().all(Option::is_some) {
        return Some(found.into_iter().flatten().collect());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {names:?} are not all installed: the {what} tests must run");
    }
    eprintln!("\n*** {names:?} not found: the {what} tests are SKIPPED. ***\n");
    None
}

/// Runs a command to its end (at most `LIMIT`); panics with its output if it fails.
fn run(what: &str, command: &mut Command) -> String {
    let log = tempfile::tempfile().expect("a log file");
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log.try_clone().expect("log"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {LIMIT:?}:\n{}", read(log));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = read(log);
    assert!(status.success(), "{what} failed ({status}):\n{output}");
    println!("{what}: {:.1} s", started.elapsed().as_secs_f64());
    output
}

fn read(mut file: fs::File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut text);
    text
}

/// Whether `stamp` holds `content` (an install made from that file is current).
fn current(stamp: &Path, content: &[u8]) -> bool {
    fs::read(stamp).is_ok_and(|held| held == content)
}

/// The last line of a test runner's output that says how many tests passed.
fn summary(output: &str, marker: &str) -> String {
    output
        .lines()
        .filter(|line| line.contains(marker))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn the_python_guard_passes_its_tests() {
    let Some(found) = tools(&["python3"], "Python guard") else {
        return;
    };
    let package = repository().join("guard-python");
    let venv = target_dir().join("guard-python-venv");
    let python = venv.join("bin").join("python");
    let pyproject = fs::read(package.join("pyproject.toml")).expect("pyproject.toml");
    let stamp = venv.join("scimitar-installed-from");
    if !python.is_file() || !current(&stamp, &pyproject) {
        run(
            "python3 -m venv",
            Command::new(&found[0])
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        );
        run(
            "pip install -e guard-python[test]",
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-e",
                ])
                .arg(format!("{}[test]", package.display())),
        );
        fs::write(&stamp, &pyproject).expect("stamp");
    }
    let output = run(
        "pytest guard-python",
        Command::new(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
            .current_dir(&package)
            .env("SCIMITAR_BIN", binary())
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    assert!(
        !output.contains("skipped"),
        "no test may be skipped here:\n{output}"
    );
    println!("pytest: {}", summary(&output, " passed"));
}

#[test]
fn the_node_guard_passes_its_tests() {
    let Some(found) = tools(&["node", "npm"], "Node guard") else {
        return;
    };
    let package = repository().join("guard-node");
    let lock = fs::read(package.join("package-lock.json")).expect("package-lock.json");
    let stamp = package
        .join("node_modules")
        .join(".scimitar-installed-from");
    if !current(&stamp, &lock) {
        run(
            "npm ci",
            Command::new(&found[1])
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&package),
        );
        fs::write(&stamp, &lock).expect("stamp");
    }
    let mut files: Vec<String> = fs::read_dir(package.join("test"))
        .expect("guard-node/test")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".test.js"))
        .map(|name| format!("test/{name}"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the Node tests are there: {files:?}");
    let output = run(
        "node --test guard-node",
        Command::new(&found[0])
            .arg("--test")
            .args(&files)
            .current_dir(&package)
            .env("SCIMITAR_BIN", binary()),
    );
    assert!(
        output.contains("# skipped 0") && output.contains("# fail 0"),
        "no test may fail or be skipped here:\n{output}"
    );
    println!("node --test: {}", summary(&output, "# pass"));
}
