//! The protected apps the bench asks: the Rust guard's example (`examples/guarded-app`), the
//! Python guard's (`guard-python/examples/guarded_app.py`, WSGI), the Node guard's
//! (`guard-node/examples/guarded-app.js`, Express), and nginx running
//! `docs/proxies/nginx.conf` (forward auth to Scimitar) in front of a trivial app. Each
//! follows, or asks, the last replica; each answers `GET /me` 200 or 401.
//!
//! `GUARD_APPS` chooses them (comma-separated, default `rust,python,node,nginx`). The Python
//! app runs on `GUARD_PYTHON`, or the virtualenv `cargo test` makes (`target/guard-python-venv`,
//! with the guard installed); the Node app needs `node` and `guard-node/node_modules`
//! (`npm ci`); nginx is Debian's `/usr/sbin/nginx`. One that cannot run is skipped with a
//! message.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

const NGINX: &str = "/usr/sbin/nginx";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    Rust,
    Python,
    Node,
    Nginx,
}

impl Guard {
    pub fn name(self) -> &'static str {
        match self {
            Guard::Rust => "Rust guard",
            Guard::Python => "Python guard",
            Guard::Node => "Node guard",
            Guard::Nginx => "nginx forward auth",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Guard::Rust => "rust",
            Guard::Python => "python",
            Guard::Node => "node",
            Guard::Nginx => "nginx",
        }
    }

    /// The apps `GUARD_APPS` names, in its order.
    pub fn wanted() -> Vec<Guard> {
        let wanted =
            std::env::var("GUARD_APPS").unwrap_or_else(|_| "rust,python,node,nginx".into());
        wanted
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                [Guard::Rust, Guard::Python, Guard::Node, Guard::Nginx]
                    .into_iter()
                    .find(|guard| guard.key() == name)
                    .unwrap_or_else(|| panic!("unknown app {name} in GUARD_APPS"))
            })
            .collect()
    }
}

/// What an app needs to start.
pub struct Setting<'a> {
    /// The replica the app follows (its issuer too).
    pub scimitar: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub dir: &'a Path,
    pub rust_binary: &'a Path,
}

/// A running app: its processes, its `/me`, and any task of this process it needs.
pub struct Running {
    pub processes: Vec<Child>,
    pub me: String,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>`, from the server binary at `<target>/<profile>/scimitar`.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_scimitar"))
        .parent()
        .and_then(Path::parent)
        .expect("the binary is in <target>/<profile>/")
        .to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts `guard`'s app, or says why it cannot and returns `None`.
pub async fn start(guard: Guard, setting: &Setting<'_>) -> Option<Running> {
    let port = free_port();
    let me = format!("http://127.0.0.1:{port}/me");
    let guarded = |program: &Path| {
        let mut command = Command::new(program);
        command
            .env("SCIMITAR_URL", setting.scimitar)
            .env("CLIENT_ID", setting.client_id)
            .env("CLIENT_SECRET", setting.client_secret)
            .env("BIND", format!("127.0.0.1:{port}"));
        command
    };
    let process = match guard {
        Guard::Rust => guarded(setting.rust_binary),
        Guard::Python => {
            let python = std::env::var_os("GUARD_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| target_dir().join("guard-python-venv/bin/python"));
            if !python.is_file() {
                println!(
                    "Python guard: skipped (no {}: run `cargo test` once, which makes it, or set GUARD_PYTHON to a Python with guard-python installed)",
                    python.display()
                );
                return None;
            }
            let mut command = guarded(&python);
            command
                .arg(repository().join("guard-python/examples/guarded_app.py"))
                .env("PYTHONDONTWRITEBYTECODE", "1");
            command
        }
        Guard::Node => {
            let package = repository().join("guard-node");
            if !package.join("node_modules").is_dir() {
                println!("Node guard: skipped (no guard-node/node_modules: run `npm ci` there)");
                return None;
            }
            let mut command = guarded(Path::new("node"));
            command
                .arg(package.join("examples/guarded-app.js"))
                .current_dir(&package);
            command
        }
        Guard::Nginx => return nginx(setting, port).await,
    };
    let (child, _) = crate::deployment::spawn(process, "guarded-app listening on ").await;
    Some(Running {
        processes: vec![child],
        me,
        tasks: Vec::new(),
    })
}

/// nginx with `docs/proxies/nginx.conf` (its placeholders replaced) on `port`, asking
/// `setting.scimitar`'s forward auth, in front of a trivial app of this process.
async fn nginx(setting: &Setting<'_>, port: u16) -> Option<Running> {
    if !Path::new(NGINX).is_file() {
        println!("nginx forward auth: skipped (no {NGINX}: apt-get install nginx)");
        return None;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the app");
    let app_port = listener.local_addr().expect("address").port();
    let app = axum::Router::new().fallback(|| async { "ok" });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let template = std::fs::read_to_string(repository().join("docs/proxies/nginx.conf"))
        .expect("docs/proxies/nginx.conf");
    let server_block = template
        .replace("SCIMITAR_URL", setting.scimitar)
        .replace("CLIENT_ID", setting.client_id)
        .replace("APP_PORT", &app_port.to_string())
        .replace("LISTEN_PORT", &format!("127.0.0.1:{port}"));
    let prefix = setting.dir.join(format!("nginx-{port}"));
    for dir in ["logs", "tmp"] {
        std::fs::create_dir_all(prefix.join(dir)).expect("nginx directories");
    }
    let p = prefix.display();
    let config = format!(
        "error_log {p}/logs/error.log warn;\n\
         pid {p}/logs/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         access_log off;\n\
         client_body_temp_path {p}/tmp/body;\n\
         proxy_temp_path {p}/tmp/proxy;\n\
         fastcgi_temp_path {p}/tmp/fastcgi;\n\
         uwsgi_temp_path {p}/tmp/uwsgi;\n\
         scgi_temp_path {p}/tmp/scgi;\n\
         {server_block}\n\
         }}\n"
    );
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, config).expect("nginx.conf");
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(&prefix)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off; master_process off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nginx did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some(Running {
        processes: vec![child],
        me: format!("http://127.0.0.1:{port}/me"),
        tasks: vec![task],
    })
}
