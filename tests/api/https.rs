//! HTTPS built in: `serve --tls-cert --tls-key` answers over TLS with HTTP/2, advertises an
//! https URL, and picks up a renewed certificate without dropping open connections.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::AsyncBufReadExt;

use crate::helpers::expect_status;

struct Certificate {
    pem: String,
    key: String,
    der: Vec<u8>,
}

/// A self-signed certificate for 127.0.0.1 whose subject is `name`: distinct names, so that
/// a client trusting several of them finds the right one.
fn self_signed(name: &str) -> Certificate {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("parameters");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed certificate");
    Certificate {
        pem: cert.pem(),
        key: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// Replaces a file the way certificate renewers do: write beside it, then rename over it.
fn replace(path: &Path, contents: &str) {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, contents).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

fn client(roots: &[&Certificate]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_info(true)
        .timeout(Duration::from_secs(10));
    for root in roots {
        builder = builder.add_root_certificate(
            reqwest::Certificate::from_pem(root.pem.as_bytes()).expect("root"),
        );
    }
    builder.build().expect("client")
}

fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(<[u8]>::to_vec)
        .expect("TLS information")
}

#[tokio::test]
async fn serve_answers_over_https_and_follows_a_renewed_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let first = self_signed("scimitar test one");
    std::fs::write(&cert, &first.pem).expect("cert");
    std::fs::write(&key, &first.key).expect("key");

    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimitar"));
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
        command.env_remove(name);
    }
    let mut server = command
        .current_dir(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--database", "s.db"])
        .args(["--tls-cert", "cert.pem", "--tls-key", "key.pem"])
        .env("SCIMITAR_TLS_RELOAD_SECONDS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("serve");
    let mut lines = tokio::io::BufReader::new(server.stdout.take().expect("stdout")).lines();
    let (mut token, mut base) = (None, None);
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(t) = line.strip_prefix("SCIM bearer token: ") {
                token = Some(t.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("SCIM base URL (tenant URL for Okta or Entra): ") {
                base = Some(url.trim().to_string());
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the server starts");
    let (token, base) = (token.expect("token"), base.expect("base URL"));
    assert!(
        base.starts_with("https://127.0.0.1:"),
        "the advertised URL is https: {base}"
    );

    let open = client(&[&first]);
    let response = open
        .get(format!("{base}/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET over TLS");
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "HTTP/2 by ALPN"
    );
    assert_eq!(peer_certificate(&response), first.der);
    let hsts = |response: &reqwest::Response| {
        response
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    assert_eq!(hsts(&response).as_deref(), Some("max-age=31536000"));
    expect_status(response, StatusCode::OK).await;
    // On every answer: a refusal, a route that does not exist, a public endpoint.
    for path in ["/Users", "/no-such-route"] {
        let response = open.get(format!("{base}{path}")).send().await.expect("GET");
        assert!(response.status().is_client_error());
        assert_eq!(
            hsts(&response).as_deref(),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let root = base.trim_end_matches("/scim/v2");
    let health = open
        .get(format!("{root}/health/live"))
        .send()
        .await
        .expect("GET");
    assert_eq!(hsts(&health).as_deref(), Some("max-age=31536000"));
    let plain = base.replacen("https://", "http://", 1);
    assert!(
        crate::helpers::http_client()
            .get(format!("{plain}/Users"))
            .send()
            .await
            .is_err(),
        "no plain HTTP on a TLS port"
    );

    // A renewal: new key and certificate, replaced file by file while the server runs.
    let second = self_signed("scimitar test two");
    replace(&cert, &second.pem);
    replace(&key, &second.key);
    let mut renewed = None;
    for _ in 0..50 {
        // A new client each time, so that each try is a new handshake.
        let response = client(&[&first, &second])
            .get(format!("{base}/Users"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET");
        if peer_certificate(&response) == second.der {
            renewed = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let renewed = renewed.expect("new handshakes get the renewed certificate");
    expect_status(renewed, StatusCode::OK).await;

    // The connection opened before the renewal is still up and still on the old certificate.
    let response = open
        .get(format!("{base}/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the open connection");
    assert_eq!(
        peer_certificate(&response),
        first.der,
        "the same connection, not a new one"
    );
    expect_status(response, StatusCode::OK).await;
    server.kill().await.expect("stop");
}

#[test]
fn a_certificate_without_its_key_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let first = self_signed("scimitar test one");
    let other = self_signed("scimitar test two");
    std::fs::write(dir.path().join("cert.pem"), &first.pem).expect("cert");
    std::fs::write(dir.path().join("key.pem"), &other.key).expect("key");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_scimitar"));
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
        command.env_remove(name);
    }
    let output = command
        .current_dir(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--database", "s.db"])
        .args(["--tls-cert", "cert.pem", "--tls-key", "key.pem"])
        .output()
        .expect("serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot serve HTTPS") && stderr.contains("key.pem"),
        "{stderr}"
    );
}

/// Over plain HTTP (behind a proxy that terminates TLS) Scimitar sends no HSTS: the proxy does.
#[tokio::test]
async fn plain_http_answers_carry_no_hsts() {
    let Some(app) = crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite).await else {
        return;
    };
    let response = app
        .client
        .get(format!("{}/health/live", app.root))
        .send()
        .await
        .expect("GET");
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}
