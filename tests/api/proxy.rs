//! A loopback TCP forwarder between Scimitar and Postgres that a test can cut and restore,
//! to take the database away without touching the shared Postgres server.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::helpers::replace_database;

/// Forwards connections to Postgres until it is cut; while cut, every open connection is
/// closed and new ones are accepted and closed at once, as by a server that is restarting.
/// Stalled, it keeps every connection open and forwards nothing, as a network that drops
/// packets; restored from a stall, it closes the connections that lost data.
pub struct TcpProxy {
    port: u16,
    down: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl TcpProxy {
    pub fn start(postgres_url: &str) -> Self {
        let target = target_address(postgres_url);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("address").port();
        let down = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (is_down, is_dropped, open) = (down.clone(), dropped.clone(), streams.clone());
        let is_stalled = stalled.clone();
        thread::spawn(move || {
            while !is_dropped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) if is_down.load(Ordering::SeqCst) => {
                        let _ = client.shutdown(Shutdown::Both);
                    }
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let mut list = open.lock().expect("lock");
                        for stream in [&client, &server] {
                            if let Ok(clone) = stream.try_clone() {
                                list.push(clone);
                            }
                        }
                        pipe(&client, &server, &is_stalled);
                        pipe(&server, &client, &is_stalled);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        Self {
            port,
            down,
            stalled,
            dropped,
            streams,
        }
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        replace_host(url, &format!("127.0.0.1:{}", self.port))
    }

    /// Cuts every connection and refuses new ones until `restore`.
    pub fn stop(&self) {
        self.down.store(true, Ordering::SeqCst);
        for stream in self.streams.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        thread::sleep(Duration::from_millis(50));
    }

    /// Forwards nothing, closes nothing, until `restore`.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Forwards new connections again; after a stall, closes the connections it starved.
    pub fn restore(&self) {
        if self.stalled.swap(false, Ordering::SeqCst) {
            self.down.store(true, Ordering::SeqCst);
            self.stop();
        }
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
        self.stop();
    }
}

/// Copies `from` to `to`, discarding what arrives while stalled.
fn pipe(from: &TcpStream, to: &TcpStream, stalled: &Arc<AtomicBool>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let stalled = stalled.clone();
    thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) if stalled.load(Ordering::SeqCst) => {}
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

fn target_address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    }
}

fn replace_host(url: &str, host_port: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let path_start = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..path_start];
    let userinfo = authority
        .rsplit_once('@')
        .map(|(u, _)| format!("{u}@"))
        .unwrap_or_default();
    let database = rest[path_start..].trim_start_matches('/');
    replace_database(&format!("{scheme}://{userinfo}{host_port}/x"), database)
}
