//! actix-web middleware: `App::new().wrap(guard.actix())`. An accepted token's [`Claims`]
//! go into the request's extensions (`web::ReqData<Claims>` in a handler); a refused one is
//! answered 401 with `WWW-Authenticate: Bearer error="invalid_token"` (503 when Scimitar
//! could not be asked).

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header;
use actix_web::{Error, HttpMessage, HttpResponse};
use futures_util::future::LocalBoxFuture;

use crate::{Claims, Guard, Rejection};

/// The middleware factory, from [`Guard::actix`].
#[derive(Clone)]
pub struct ActixGuard(Guard);

impl Guard {
    /// actix-web middleware that lets through only requests with an accepted token.
    pub fn actix(&self) -> ActixGuard {
        ActixGuard(self.clone())
    }
}

/// The answer to a refused request.
pub fn refusal(rejection: &Rejection) -> HttpResponse {
    let mut response = match rejection {
        Rejection::Unavailable(_) => HttpResponse::ServiceUnavailable(),
        _ => HttpResponse::Unauthorized(),
    };
    response
        .insert_header((header::WWW_AUTHENTICATE, rejection.challenge()))
        .finish()
}

impl<S, B> Transform<S, ServiceRequest> for ActixGuard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = ActixGuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ActixGuardService {
            service: Rc::new(service),
            guard: self.0.clone(),
        }))
    }
}

pub struct ActixGuardService<S> {
    service: Rc<S>,
    guard: Guard,
}

impl<S, B> Service<ServiceRequest> for ActixGuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let (service, guard) = (self.service.clone(), self.guard.clone());
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
                    service
                        .call(request)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(rejection) => {
                    tracing::info!(reason = rejection.code(), %rejection, "token refused");
                    Ok(request
                        .into_response(refusal(&rejection))
                        .map_into_right_body())
                }
            }
        })
    }
}
