//! `GET /openapi.json`: an OpenAPI 3.1 document that lists every route of the router.

use serde_json::Value;

use super::{Backend, Harness};
use crate::support::root;

/// Every `(path, method)` that the router source registers with `.route(PATH, METHOD(…))`
/// (wildcard fallbacks excluded).
fn router_routes() -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for file in ["src/http/mod.rs", "src/http/api/mod.rs"] {
        let source = std::fs::read_to_string(root().join(file)).unwrap();
        for chunk in source.split(".route(\"").skip(1) {
            let (path, rest) = chunk.split_once('"').unwrap();
            let call = rest.split("\n").next().unwrap();
            if path.contains("{*") {
                continue;
            }
            let mut found = false;
            for method in ["get", "post", "put", "patch", "delete"] {
                if call.contains(&format!(" {method}(")) || call.contains(&format!(".{method}(")) {
                    routes.push((path.to_string(), method.to_string()));
                    found = true;
                }
            }
            assert!(found, "no method found for route {path} in {file}: {call}");
        }
    }
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented() {
    let h = Harness::start(Backend::Sqlite).await;
    let response = h.get("/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let routes = router_routes();
    assert!(routes.len() >= 12, "{routes:?}");
    for (path, method) in &routes {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not in /openapi.json");
    }
    let documented: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, routes.len(), "the document lists a route the router does not have");
    assert!(doc["paths"]["/v1/scans"]["post"]["security"].is_array());
    assert!(doc["components"]["schemas"]["ScanRequest"]["properties"]["repo"].is_object(), "{}", doc["components"]);
    h.finish().await;
}
