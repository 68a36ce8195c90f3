//! `GET /openapi.json`: the OpenAPI 3.1 document of every route, generated from the
//! handlers' `#[utoipa::path]` annotations (a test checks each router route is in it).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, health, partner, webhook};

/// The document; see the module doc.
#[derive(OpenApi)]
#[openapi(
    info(title = "revokd", description = "Secret-scanning and key-revocation daemon: GitHub partner alerts and webhooks, the scan API for security teams, health and metrics."),
    paths(
        partner::secret_scanning,
        webhook::webhook,
        health::healthz,
        health::readyz,
        health::metrics,
        openapi_json,
        api::scan_text,
        api::audit,
        api::jobs::create,
        api::jobs::list,
        api::jobs::show,
        api::jobs::cancel,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The `bearer` security scheme of `/v1/*` (tokens from `api.tokens_file`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "this OpenAPI 3.1 document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
