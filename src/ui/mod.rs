//! The web UI: the single-page application of `web/`, built to static files (`npm run build` writes
//! `web/build`), served at `/` by `labforge serve`. Every path the API, the registry or the
//! sessions' proxy do not answer is looked up in the folder; a path naming no file gets the
//! application's `index.html`, whose router draws the page (single-page fallback). When the folder
//! holds no `index.html` the answer is a 404 saying how to build the UI, so that a missing build is
//! not mistaken for a missing page.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Where the built UI is.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// The folder `npm run build` writes in `web/`; relative paths are taken from the folder
    /// labforge was started in (the project root for `scripts/run.sh`).
    pub dir: PathBuf,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("web/build"),
        }
    }
}

/// The page every route of the application starts from.
const ENTRY: &str = "index.html";

/// Path prefixes that belong to the service, never to the UI: a request under them that reached
/// the fallback named nothing the service has, and is answered 404 rather than with a page.
const SERVICE_PREFIXES: &[&str] = &["/api/", "/v2/", "/sessions/"];

/// A router whose fallback serves the built UI from `config.dir`.
pub fn router<S: Clone + Send + Sync + 'static>(config: &UiConfig) -> Router<S> {
    let folder = Arc::new(config.dir.clone());
    if !folder.join(ENTRY).is_file() {
        tracing::warn!(
            folder = %folder.display(),
            "the web UI is not built: `/` will say so; run `npm ci && npm run build` in web/"
        );
    }
    Router::new().fallback(move |method: Method, uri: Uri| {
        let folder = Arc::clone(&folder);
        async move { serve(&folder, &method, uri.path()).await }
    })
}

async fn serve(folder: &Path, method: &Method, path: &str) -> Response {
    if SERVICE_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix) || path == prefix.trim_end_matches('/'))
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if let Some(file) = file_of(folder, path)
        && let Ok(bytes) = tokio::fs::read(&file).await
    {
        return file_response(&file, bytes, is_fingerprinted(path));
    }
    let entry = folder.join(ENTRY);
    match tokio::fs::read(&entry).await {
        Ok(bytes) => file_response(&entry, bytes, false),
        Err(_) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "The web UI is not built: {} has no {ENTRY}.\n\
                 Build it with `npm ci && npm run build` in web/ (scripts/run.sh does), or point \
                 LABFORGE_UI_DIR at a built copy. The API is under /api (/api/openapi.json).\n",
                folder.display()
            ),
        )
            .into_response(),
    }
}

/// The file `path` names inside `folder`, if it is one and stays inside it.
fn file_of(folder: &Path, path: &str) -> Option<PathBuf> {
    let decoded = percent_decoded(path.trim_start_matches('/'))?;
    let relative = Path::new(&decoded);
    if relative
        .components()
        .any(|component| !matches!(component, Component::Normal(_)))
    {
        return None;
    }
    let file = folder.join(relative);
    file.is_file().then_some(file)
}

fn percent_decoded(path: &str) -> Option<String> {
    let bytes: Vec<u8> = percent_decode(path.as_bytes())?;
    String::from_utf8(bytes).ok()
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut output = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&byte) = bytes.next() {
        if byte == b'%' {
            let high = char::from(*bytes.next()?).to_digit(16)?;
            let low = char::from(*bytes.next()?).to_digit(16)?;
            output.push(u8::try_from(high * 16 + low).ok()?);
        } else {
            output.push(byte);
        }
    }
    Some(output)
}

/// Vite names the files under `_app/immutable/` by their content: they never change.
fn is_fingerprinted(path: &str) -> bool {
    path.starts_with("/_app/immutable/")
}

fn file_response(file: &Path, bytes: Vec<u8>, immutable: bool) -> Response {
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(file)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|extension| extension.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "webmanifest") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    fn built_ui() -> tempfile::TempDir {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join(ENTRY), "<html>app</html>").unwrap();
        std::fs::create_dir_all(folder.path().join("_app/immutable")).unwrap();
        std::fs::write(folder.path().join("_app/immutable/start.js"), "js").unwrap();
        folder
    }

    async fn text(response: Response) -> String {
        String::from_utf8(
            to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn files_are_served_with_their_type_and_fingerprinted_ones_cached_for_good() {
        let folder = built_ui();
        let response = serve(folder.path(), &Method::GET, "/_app/immutable/start.js").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert!(
            response.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert_eq!(text(response).await, "js");
    }

    #[tokio::test]
    async fn a_route_of_the_application_gets_its_entry_page() {
        let folder = built_ui();
        let response = serve(folder.path(), &Method::GET, "/datalabs/jl-demo").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(text(response).await, "<html>app</html>");
    }

    #[tokio::test]
    async fn paths_outside_the_folder_and_service_paths_are_not_served() {
        let folder = built_ui();
        let parent_file = folder.path().parent().unwrap().join("secret.txt");
        let escape = format!(
            "/%2e%2e/{}",
            parent_file.file_name().unwrap().to_str().unwrap()
        );
        assert_eq!(file_of(folder.path(), &escape), None);
        assert_eq!(file_of(folder.path(), "/../etc/passwd"), None);
        for path in ["/api/nothing", "/v2/nothing", "/sessions/x/"] {
            for method in [Method::GET, Method::POST] {
                let response = serve(folder.path(), &method, path).await;
                assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            }
        }
        let response = serve(folder.path(), &Method::POST, "/").await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn an_unbuilt_ui_answers_404_saying_how_to_build_it() {
        let folder = tempfile::tempdir().unwrap();
        let response = serve(folder.path(), &Method::GET, "/").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = text(response).await;
        assert!(body.contains("npm run build"), "{body}");
        assert!(
            body.contains(&folder.path().display().to_string()),
            "{body}"
        );
    }
}
