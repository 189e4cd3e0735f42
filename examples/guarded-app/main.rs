//! A tiny API behind Scimitar, protected by `scimitar-guard` in one line: every route needs
//! a valid, unrevoked access token, checked offline; a deactivated user's token is refused
//! within milliseconds, from the revocation stream.
//!
//! ```sh
//! SCIMITAR_URL=http://127.0.0.1:8080 CLIENT_ID=… CLIENT_SECRET=… \
//!   cargo run --example guarded-app        # listens on 127.0.0.1:3000 (BIND overrides)
//! curl -H "authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3000/me
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};
use scimitar_guard::{Claims, Config, Guard};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let var =
        |name: &str| std::env::var(name).map_err(|_| std::io::Error::other(format!("set {name}")));
    let config = Config::new(
        var("SCIMITAR_URL")?,
        var("CLIENT_ID")?,
        var("CLIENT_SECRET")?,
    );
    let guard = Guard::start(config).await.map_err(std::io::Error::other)?;
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(guard.actix()) // the one line
            .route("/me", web::get().to(me))
    })
    .bind(&bind)?;
    println!("guarded-app listening on {bind}");
    server.run().await
}

/// Who is calling, and with which roles.
async fn me(claims: web::ReqData<Claims>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"user": claims.sub, "roles": claims.roles}))
}
