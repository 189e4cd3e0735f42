//! A tower layer, for axum and any tower stack: `Router::new()….layer(guard.layer())`.
//! An accepted token's [`Claims`] go into the request's extensions (axum's
//! `Extension<Claims>`); a refused one is answered 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"` (503 when Scimitar could not be asked).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode, header};

use crate::{Claims, Guard, Rejection};

/// The layer, from [`Guard::layer`].
#[derive(Clone)]
pub struct GuardLayer(Guard);

impl Guard {
    /// A tower layer that lets through only requests with an accepted token.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer(self.clone())
    }
}

impl<S> tower_layer::Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Guard,
}

/// The answer to a refused request, with an empty body.
pub fn refusal<B: Default>(rejection: &Rejection) -> Response<B> {
    let status = match rejection {
        Rejection::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    };
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(&rejection.challenge()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for GuardService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The service polled ready is the one to call; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            let header = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let checked: Result<Claims, Rejection> = guard.check_header(header.as_deref()).await;
            match checked {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    inner.call(request).await
                }
                Err(rejection) => {
                    tracing::info!(reason = rejection.code(), %rejection, "token refused");
                    Ok(refusal(&rejection))
                }
            }
        })
    }
}
