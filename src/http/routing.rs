//! One registration for every non-SCIM route: it builds the actix resource and records the
//! (method, path) pair, so the list the OpenAPI document is checked against is the list the
//! server actually serves (`api_routes`, and the tests in `tests/api/openapi.rs`).

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Resource, Responder, web};

/// The non-SCIM routes, collected before they are handed to actix.
#[derive(Default)]
pub struct Api {
    resources: Vec<Resource>,
    routes: Vec<(Method, String)>,
}

/// The methods of one path; one actix resource per path, so other methods get 405, not 404.
pub struct Methods {
    path: String,
    resource: Resource,
    methods: Vec<Method>,
}

impl Api {
    /// Registers `path` with the methods `build` adds.
    pub fn resource(&mut self, path: &str, build: impl FnOnce(Methods) -> Methods) -> &mut Self {
        let methods = build(Methods {
            path: path.to_string(),
            resource: web::resource(path),
            methods: Vec::new(),
        });
        for method in &methods.methods {
            self.routes.push((method.clone(), methods.path.clone()));
        }
        self.resources.push(methods.resource);
        self
    }

    /// (method, path) of every route, in registration order.
    pub fn routes(&self) -> &[(Method, String)] {
        &self.routes
    }

    /// Hands the resources to actix.
    pub fn register(self, config: &mut web::ServiceConfig) {
        for resource in self.resources {
            config.service(resource);
        }
    }
}

impl Methods {
    fn add<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self
            .resource
            .route(web::route().method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }

    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, handler)
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, handler)
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PUT, handler)
    }

    pub fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PATCH, handler)
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, handler)
    }
}
