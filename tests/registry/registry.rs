//! The registry against real clients: raw HTTP for the distribution API's corners, skopeo, dockerd,
//! podman and Debian's docker-registry. Each test starts its own registry on a free port.

use std::time::Duration;

use labforge::registry::{Digest, RepositoryName, push_on};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::registry_peers::{
    DockerRegistry, PASSWORD, TestRegistry, layer, noise, run, write_dir_image, write_file,
};

const PUSH: &[&str] = &["repository:datalabs/public:pull,push,delete"];

fn error_code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

/// Pushes `bytes` as a blob of `repository` with a monolithic POST.
async fn push_blob(registry: &TestRegistry, token: &str, repository: &str, bytes: &[u8]) -> Digest {
    let digest = Digest::sha256_of(bytes);
    let response = reqwest::Client::new()
        .post(registry.url(&format!("/v2/{repository}/blobs/uploads/?digest={digest}")))
        .bearer_auth(token)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    digest
}

fn image_manifest(config: &Digest, config_size: usize, layers: &[(&Digest, usize)]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": config_size },
        "layers": layers.iter().map(|(digest, size)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.to_string(), "size": size
        })).collect::<Vec<_>>(),
    })
}

async fn put_manifest(
    registry: &TestRegistry,
    token: &str,
    repository: &str,
    reference: &str,
    media_type: &str,
    manifest: &Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .put(registry.url(&format!("/v2/{repository}/manifests/{reference}")))
        .bearer_auth(token)
        .header("Content-Type", media_type)
        .body(serde_json::to_vec(manifest).unwrap())
        .send()
        .await
        .unwrap()
}

/// Sends a raw HTTP/1.1 request (clients normalise `..` away, a raw socket does not).
async fn raw_request(address: &str, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one registry"
)]
async fn distribution_api_uploads_blobs_and_errors() {
    let registry = TestRegistry::start().await;
    let client = reqwest::Client::new();

    // /v2/ challenges, and answers once a token is presented.
    let response = client.get(registry.url("/v2/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"http://127.0.0.1:"),
        "{challenge}"
    );
    assert!(
        challenge.contains("service=\"labforge-registry\""),
        "{challenge}"
    );
    let token = registry.token(Some("ci"), PUSH).await;
    let response = client
        .get(registry.url("/v2/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Monolithic POST with digest.
    let small = noise(1000, 1);
    let digest = push_blob(&registry, &token, "datalabs/public", &small).await;

    // HEAD and GET with Range.
    let url = registry.url(&format!("/v2/datalabs/public/blobs/{digest}"));
    let response = client.head(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], "1000");
    assert_eq!(
        response.headers()["docker-content-digest"],
        digest.to_string().as_str()
    );
    let response = client
        .get(&url)
        .bearer_auth(&token)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &small[10..20]);
    let response = client
        .get(&url)
        .bearer_auth(&token)
        .header("Range", "bytes=5000-")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().as_ref(), small.as_slice());

    // POST then PUT, with a sha512 digest.
    let content = noise(5000, 2);
    let sha512 = sha2_512(&content);
    let response = client
        .post(registry.url("/v2/datalabs/public/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let response = client
        .put(registry.url(&format!("{location}?digest={sha512}")))
        .bearer_auth(&token)
        .body(content.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.text().await
    );
    let response = client
        .head(registry.url(&format!("/v2/datalabs/public/blobs/{sha512}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Chunked PATCH with Content-Range; an out-of-order chunk is refused with 416; status; PUT.
    let content = noise(300_000, 3);
    let digest = Digest::sha256_of(&content);
    let response = client
        .post(registry.url("/v2/datalabs/public/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut location = response.headers()["location"].to_str().unwrap().to_owned();
    let response = client
        .patch(registry.url(&location))
        .bearer_auth(&token)
        .header("Content-Range", "0-99999")
        .body(content[..100_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()["range"], "0-99999");
    location = response.headers()["location"].to_str().unwrap().to_owned();
    let response = client
        .patch(registry.url(&location))
        .bearer_auth(&token)
        .header("Content-Range", "200000-299999")
        .body(content[200_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let response = client
        .get(registry.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["range"], "0-99999");
    let response = client
        .patch(registry.url(&location))
        .bearer_auth(&token)
        .header("Content-Range", "100000-199999")
        .body(content[100_000..200_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = client
        .put(registry.url(&format!("{location}?digest={digest}")))
        .bearer_auth(&token)
        .header("Content-Range", "200000-299999")
        .body(content[200_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()["location"],
        format!("/v2/datalabs/public/blobs/{digest}").as_str()
    );

    // Cancel.
    let response = client
        .post(registry.url("/v2/datalabs/public/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let response = client
        .delete(registry.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = client
        .get(registry.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BLOB_UPLOAD_UNKNOWN");

    // A wrong digest: refused, and nothing becomes visible under either digest.
    let content = noise(4000, 4);
    let claimed = Digest::sha256_of(b"something else");
    let response = client
        .post(registry.url(&format!(
            "/v2/datalabs/public/blobs/uploads/?digest={claimed}"
        )))
        .bearer_auth(&token)
        .body(content.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "DIGEST_INVALID");
    for digest in [claimed, Digest::sha256_of(&content)] {
        let response = client
            .head(registry.url(&format!("/v2/datalabs/public/blobs/{digest}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        std::fs::read_dir(registry.store().join("uploads"))
            .unwrap()
            .count(),
        0
    );

    // A malformed digest and a blob unknown.
    let response = client
        .get(registry.url("/v2/datalabs/public/blobs/sha256:1234"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "DIGEST_INVALID"
    );

    // Cross-repository mount, which needs pull on the source.
    let token_both = registry
        .token(
            Some("ci"),
            &[
                "repository:datalabs/other:pull,push",
                "repository:datalabs/public:pull",
            ],
        )
        .await;
    let response = client
        .post(registry.url(&format!(
            "/v2/datalabs/other/blobs/uploads/?mount={digest}&from=datalabs/public"
        )))
        .bearer_auth(&token_both)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = client
        .get(registry.url(&format!("/v2/datalabs/other/blobs/{digest}")))
        .bearer_auth(&token_both)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        content_of_chunked()
    );
    // A blob of another repository is not served without a mount.
    let response = client
        .head(registry.url(&format!(
            "/v2/datalabs/other/blobs/{}",
            Digest::sha256_of(&small)
        )))
        .bearer_auth(&token_both)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // A repository name with `..`.
    let response = raw_request(
        &registry.address,
        &format!(
            "GET /v2/datalabs/../../etc/manifests/latest HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
            registry.address
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("NAME_INVALID"), "{response}");
    assert!(!registry.store().join("etc").exists());
}

fn content_of_chunked() -> Vec<u8> {
    noise(300_000, 3)
}

fn sha2_512(bytes: &[u8]) -> Digest {
    use sha2::Digest as _;
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes)))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one registry"
)]
async fn manifests_tags_referrers_and_catalog() {
    let registry = TestRegistry::start().await;
    let client = reqwest::Client::new();
    let token = registry.token(Some("ci"), PUSH).await;
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push_blob(&registry, &token, "datalabs/public", config).await;
    let layer = noise(2000, 5);
    let layer_digest = push_blob(&registry, &token, "datalabs/public", &layer).await;

    // A manifest whose layer is unknown is refused.
    let missing = Digest::sha256_of(b"missing");
    let manifest = image_manifest(&config_digest, config.len(), &[(&missing, 7)]);
    let response = put_manifest(
        &registry,
        &token,
        "datalabs/public",
        "bad",
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "MANIFEST_BLOB_UNKNOWN"
    );

    // OCI image manifest by tag, then by digest; many tags for pagination.
    let manifest = image_manifest(
        &config_digest,
        config.len(),
        &[(&layer_digest, layer.len())],
    );
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = Digest::sha256_of(&manifest_bytes);
    for tag in ["v1", "v2", "v3", "v4", "v5"] {
        let response = put_manifest(
            &registry,
            &token,
            "datalabs/public",
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(
            response.headers()["docker-content-digest"],
            manifest_digest.to_string().as_str()
        );
    }
    let response = put_manifest(
        &registry,
        &token,
        "datalabs/public",
        &manifest_digest.to_string(),
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // By digest with the wrong digest.
    let response = put_manifest(
        &registry,
        &token,
        "datalabs/public",
        &missing.to_string(),
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .await;
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "DIGEST_INVALID"
    );

    for reference in ["v1".to_owned(), manifest_digest.to_string()] {
        let url = registry.url(&format!("/v2/datalabs/public/manifests/{reference}"));
        let response = client.head(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-length"],
            manifest_bytes.len().to_string().as_str()
        );
        let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            manifest_bytes.as_slice()
        );
    }

    // Docker schema2 manifest, and a manifest list / OCI index over it.
    let docker_manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "digest": config_digest.to_string(), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer_digest.to_string(), "size": layer.len() }],
    });
    let response = put_manifest(
        &registry,
        &token,
        "datalabs/public",
        "docker",
        "application/vnd.docker.distribution.manifest.v2+json",
        &docker_manifest,
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let docker_digest = Digest::sha256_of(&serde_json::to_vec(&docker_manifest).unwrap());
    for (media_type, child_type, tag) in [
        (
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "list",
        ),
        (
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
            "index",
        ),
    ] {
        let child = if tag == "list" {
            &docker_digest
        } else {
            &manifest_digest
        };
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [{ "mediaType": child_type, "digest": child.to_string(), "size": 1, "platform": { "architecture": "amd64", "os": "linux" } }],
        });
        let response = put_manifest(
            &registry,
            &token,
            "datalabs/public",
            tag,
            media_type,
            &index,
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{tag}");
        let response = client
            .get(registry.url(&format!("/v2/datalabs/public/manifests/{tag}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], media_type);
    }

    // Tags with n/last pagination.
    let response = client
        .get(registry.url("/v2/datalabs/public/tags/list?n=3"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(
        link,
        "</v2/datalabs/public/tags/list?n=3&last=list>; rel=\"next\""
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "name": "datalabs/public", "tags": ["docker", "index", "list"] })
    );
    let response = client
        .get(registry.url("/v2/datalabs/public/tags/list?n=3&last=v2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("link").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tags"], json!(["v3", "v4", "v5"]));

    // Referrers: two artifacts with a subject, filtered by artifactType.
    let empty = push_blob(&registry, &token, "datalabs/public", b"{}").await;
    for (artifact_type, seed) in [
        ("application/spdx+json", 6),
        ("application/vnd.dev.sigstore.bundle+json", 7),
    ] {
        let blob = push_blob(&registry, &token, "datalabs/public", &noise(100, seed)).await;
        let artifact = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type,
            "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2 },
            "layers": [{ "mediaType": "application/octet-stream", "digest": blob.to_string(), "size": 100 }],
            "subject": { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest.to_string(), "size": manifest_bytes.len() },
            "annotations": { "org.opencontainers.image.created": "2025-01-01T00:00:00Z" },
        });
        let digest = Digest::sha256_of(&serde_json::to_vec(&artifact).unwrap());
        let response = put_manifest(
            &registry,
            &token,
            "datalabs/public",
            &digest.to_string(),
            "application/vnd.oci.image.manifest.v1+json",
            &artifact,
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(
            response.headers()["oci-subject"],
            manifest_digest.to_string().as_str()
        );
    }
    let url = registry.url(&format!("/v2/datalabs/public/referrers/{manifest_digest}"));
    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let index: Value = response.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    let response = client
        .get(format!("{url}?artifactType=application/spdx%2Bjson"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["oci-filters-applied"], "artifactType");
    let index: Value = response.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/spdx+json"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.created"],
        "2025-01-01T00:00:00Z"
    );

    // Catalog: admin sees everything; anonymous only published public repositories.
    let admin = registry
        .token(Some("admin"), &["repository:datalabs/private:pull,push"])
        .await;
    let response = put_manifest(
        &registry,
        &admin,
        "datalabs/private",
        "x",
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "blobs are not in datalabs/private yet"
    );
    let body: Value = client
        .get(registry.url("/v2/_catalog"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["repositories"], json!(["datalabs/public"]));
    let anonymous = registry.token(None, &[]).await;
    let body: Value = client
        .get(registry.url("/v2/_catalog?n=1"))
        .bearer_auth(&anonymous)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["repositories"], json!(["datalabs/public"]));

    // Delete by tag, then by digest: tags pointing at it go too.
    let response = client
        .delete(registry.url("/v2/datalabs/public/manifests/v5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = client
        .delete(registry.url(&format!("/v2/datalabs/public/manifests/{manifest_digest}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = client
        .get(registry.url("/v2/datalabs/public/manifests/v1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "MANIFEST_UNKNOWN"
    );
    let body: Value = client
        .get(registry.url("/v2/datalabs/public/tags/list"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["tags"], json!(["docker", "index", "list"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_follows_visibility_and_roles() {
    let registry = TestRegistry::start().await;
    let client = reqwest::Client::new();
    let builder = registry
        .token(Some("ci"), &["repository:datalabs/private:pull,push"])
        .await;
    let blob = push_blob(&registry, &builder, "datalabs/private", b"secret").await;
    let url = registry.url(&format!("/v2/datalabs/private/blobs/{blob}"));
    let scope = ["repository:datalabs/private:pull,push"];
    for (user, allowed) in [
        (None, false),
        (Some("bob"), false),
        (Some("alice"), true),
        (Some("carol"), true),
        (Some("mod"), true),
        (Some("admin"), true),
    ] {
        let token = registry.token(user, &scope).await;
        let status = client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.is_success(), allowed, "pull by {user:?}: {status}");
        // Only the build service and admins push.
        let status = client
            .post(registry.url("/v2/datalabs/private/blobs/uploads/"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(
            status.is_success(),
            user == Some("admin"),
            "push by {user:?}: {status}"
        );
    }
    // Without any token: 401 with a scoped challenge.
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"repository:datalabs/private:pull\"")
    );
    assert_eq!(error_code(&response.json().await.unwrap()), "UNAUTHORIZED");
    // A named user refused by the grants gets 403 DENIED.
    let refused = registry.token(Some("bob"), &scope).await;
    let response = client.get(&url).bearer_auth(&refused).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(&response.json().await.unwrap()), "DENIED");
    // Wrong password.
    let response = client
        .get(registry.url("/auth/token"))
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A forged token.
    let response = client
        .get(&url)
        .bearer_auth(format!("{builder}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Anonymous pull of a public repository that is not yet published is refused.
    let draft = registry
        .token(Some("ci"), &["repository:datalabs/draft:pull,push"])
        .await;
    let blob = push_blob(&registry, &draft, "datalabs/draft", b"draft").await;
    let anonymous = registry
        .token(None, &["repository:datalabs/draft:pull"])
        .await;
    let status = client
        .get(registry.url(&format!("/v2/datalabs/draft/blobs/{blob}")))
        .bearer_auth(&anonymous)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_killed_halfway_leaves_nothing_visible_and_expires() {
    let registry = TestRegistry::start().await;
    let client = reqwest::Client::new();
    let token = registry.token(Some("ci"), PUSH).await;
    let content = noise(2 << 20, 8);
    let digest = Digest::sha256_of(&content);

    // A session whose PATCH dies halfway keeps its earlier size.
    let response = client
        .post(registry.url("/v2/datalabs/public/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    // And a monolithic POST dying halfway.
    for (method, path) in [
        ("PATCH", location.clone()),
        (
            "POST",
            format!("/v2/datalabs/public/blobs/uploads/?digest={digest}"),
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&registry.address)
            .await
            .unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
            registry.address,
            content.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
            .write_all(&content[..content.len() / 2])
            .await
            .unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = client
        .get(registry.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        response.headers()["range"],
        "0-0",
        "the broken chunk was rolled back"
    );
    let response = client
        .head(registry.url(&format!("/v2/datalabs/public/blobs/{digest}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let blobs = registry.state.service.storage().list_blobs().await.unwrap();
    assert!(blobs.is_empty(), "nothing reached the blob store");
    assert_eq!(
        std::fs::read_dir(registry.store().join("uploads"))
            .unwrap()
            .filter(|entry| {
                // Each session keeps its repository's name beside its bytes.
                !entry
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".repository")
            })
            .count(),
        1
    );

    // The idle session expires with its bytes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let purged = registry
        .state
        .service
        .purge_expired_uploads(Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(
        std::fs::read_dir(registry.store().join("uploads"))
            .unwrap()
            .count(),
        0
    );
    let response = client
        .get(registry.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_collection_spares_referenced_blobs_and_uploads_in_flight() {
    let registry = TestRegistry::start().await;
    let client = reqwest::Client::new();
    let token = registry.token(Some("ci"), PUSH).await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = push_blob(&registry, &token, "datalabs/public", config).await;
    let kept = noise(1000, 9);
    let kept_digest = push_blob(&registry, &token, "datalabs/public", &kept).await;
    let manifest = image_manifest(&config_digest, config.len(), &[(&kept_digest, kept.len())]);
    let response = put_manifest(
        &registry,
        &token,
        "datalabs/public",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let orphan = push_blob(&registry, &token, "datalabs/public", &noise(1000, 10)).await;

    // An upload in flight while collection runs.
    let in_flight = noise(200_000, 11);
    let in_flight_digest = Digest::sha256_of(&in_flight);
    let response = client
        .post(registry.url("/v2/datalabs/public/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    client
        .patch(registry.url(&location))
        .bearer_auth(&token)
        .body(in_flight[..100_000].to_vec())
        .send()
        .await
        .unwrap();

    // Within the grace period nothing goes.
    let report = registry
        .state
        .service
        .collect_garbage(Duration::from_hours(1))
        .await
        .unwrap();
    assert_eq!(report.blobs_removed, 0);
    let report = registry
        .state
        .service
        .collect_garbage(Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.blobs_removed, 1);
    assert_eq!(report.bytes_freed, 1000);

    let status = |digest: Digest| {
        let request = client
            .head(registry.url(&format!("/v2/datalabs/public/blobs/{digest}")))
            .bearer_auth(&token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(status(orphan).await, StatusCode::NOT_FOUND);
    assert_eq!(status(kept_digest).await, StatusCode::OK);
    assert_eq!(status(config_digest).await, StatusCode::OK);
    let response = client
        .put(registry.url(&format!("{location}?digest={in_flight_digest}")))
        .bearer_auth(&token)
        .body(in_flight[100_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(status(in_flight_digest).await, StatusCode::OK);
    let response = client
        .get(registry.url("/v2/datalabs/public/manifests/v1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn skopeo_creds(user: &str) -> String {
    format!("{user}:{PASSWORD}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one registry"
)]
async fn skopeo_copies_both_ways_and_inspects_and_push_on_reaches_docker_registry() {
    let mirror = DockerRegistry::start().await;
    let target = mirror.push_on_target();
    let registry = TestRegistry::start_with(|config| config.push_on = vec![target]).await;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let layers = [layer("a.bin", 3 << 20, 12), layer("b.bin", 1 << 20, 13)];
    let manifest_digest = write_dir_image(&source, &layers);
    let creds = skopeo_creds("ci");
    let destination = format!("docker://{}/datalabs/public:1.0", registry.address);
    let (ok, output) = run(
        "skopeo",
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &format!("dir:{}", source.display()),
            &destination,
        ],
        None,
    )
    .await;
    assert!(ok, "{output}");

    // Inspect anonymously (published public).
    let (ok, output) = run(
        "skopeo",
        &["inspect", "--tls-verify=false", "--raw", &destination],
        None,
    )
    .await;
    assert!(ok, "{output}");
    assert_eq!(
        Digest::sha256_of(output.trim_end().as_bytes()),
        manifest_digest,
        "{output}"
    );
    let (ok, output) = run(
        "skopeo",
        &["inspect", "--tls-verify=false", &destination],
        None,
    )
    .await;
    assert!(ok, "{output}");
    let inspected: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(inspected["Digest"], manifest_digest.to_string());
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 2);

    // And back.
    let back = work.path().join("back");
    let (ok, output) = run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &destination,
            &format!("dir:{}", back.display()),
        ],
        None,
    )
    .await;
    assert!(ok, "{output}");
    for layer in &layers {
        let digest = Digest::sha256_of(layer);
        assert_eq!(&std::fs::read(back.join(digest.hex())).unwrap(), layer);
    }

    // Push-on by digest to Debian's docker-registry.
    let repository: RepositoryName = "datalabs/public".parse().unwrap();
    let copied = push_on(
        &registry.state,
        "mirror",
        &repository,
        &manifest_digest,
        Some(&"1.0".parse().unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(
        copied,
        format!("{}/datalabs/public@{manifest_digest}", mirror.address)
    );
    let (ok, output) = run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{}/datalabs/public:1.0", mirror.address),
        ],
        None,
    )
    .await;
    assert!(ok, "{output}");
    assert_eq!(
        Digest::sha256_of(output.trim_end().as_bytes()),
        manifest_digest
    );

    // skopeo from docker-registry into labforge (the other direction between registries).
    let (ok, output) = run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &format!("docker://{}/datalabs/public:1.0", mirror.address),
            &format!("docker://{}/datalabs/copied:1.0", registry.address),
        ],
        None,
    )
    .await;
    assert!(ok, "{output}");
    assert!(matches!(
        push_on(
            &registry.state,
            "nowhere",
            &repository,
            &manifest_digest,
            None
        )
        .await,
        Err(labforge::registry::PushOnError::UnknownTarget { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_of_the_same_layers_store_them_once() {
    let registry = TestRegistry::start().await;
    let work = tempfile::tempdir().unwrap();
    let shared = [
        layer("base1.bin", 2 << 20, 20),
        layer("base2.bin", 2 << 20, 21),
    ];
    let mut pushes = Vec::new();
    for index in 0..4_u64 {
        let folder = work.path().join(format!("image{index}"));
        let mut layers = shared.to_vec();
        layers.push(layer("own.bin", 10_000, 100 + index));
        write_dir_image(&folder, &layers);
        let destination = format!("docker://{}/datalabs/lab{index}:1", registry.address);
        pushes.push(tokio::spawn(async move {
            run(
                "skopeo",
                &[
                    "copy",
                    "--preserve-digests",
                    "--dest-tls-verify=false",
                    "--dest-creds",
                    &skopeo_creds("ci"),
                    &format!("dir:{}", folder.display()),
                    &destination,
                ],
                None,
            )
            .await
        }));
    }
    for push in pushes {
        let (ok, output) = push.await.unwrap();
        assert!(ok, "{output}");
    }
    let blobs = registry.state.service.storage().list_blobs().await.unwrap();
    // 2 shared layers + 4 own layers + 4 configs + 4 manifests.
    assert_eq!(blobs.len(), 14);
    for shared in &shared {
        let digest = Digest::sha256_of(shared);
        assert_eq!(blobs.iter().filter(|blob| blob.digest == digest).count(), 1);
        assert_eq!(
            std::fs::read(
                registry
                    .store()
                    .join("blobs/sha256")
                    .join(&digest.hex()[..2])
                    .join(digest.hex())
            )
            .unwrap(),
            *shared
        );
    }
}

/// Deletes a docker image when the test ends, however it ends.
struct DockerImage(String);

impl Drop for DockerImage {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", &self.0])
            .output();
    }
}

struct PodmanImage(String);

impl Drop for PodmanImage {
    fn drop(&mut self) {
        let _ = std::process::Command::new("podman")
            .args(["rmi", "-f", &self.0])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one registry"
)]
async fn dockerd_pushes_and_pulls_and_podman_pulls_private_images_with_a_grant_only() {
    let registry = TestRegistry::start().await;
    let work = tempfile::tempdir().unwrap();
    let docker_config = work.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    let config = docker_config.to_str().unwrap();
    let tarball = write_file(work.path(), "rootfs.tar", &layer("hello.txt", 100_000, 30));
    let mut cleanup = Vec::new();
    for repository in ["datalabs/public", "datalabs/private"] {
        let image = format!("{}/{repository}:1", registry.address);
        let (ok, output) = run(
            "docker",
            &["import", tarball.to_str().unwrap(), &image],
            None,
        )
        .await;
        assert!(ok, "{output}");
        cleanup.push(DockerImage(image.clone()));
        let (ok, output) = run(
            "docker",
            &[
                "--config",
                config,
                "login",
                "-u",
                "ci",
                "--password-stdin",
                &registry.address,
            ],
            Some(PASSWORD),
        )
        .await;
        assert!(ok, "{output}");
        let (ok, output) = run("docker", &["--config", config, "push", &image], None).await;
        assert!(ok, "{output}");
        let (ok, output) = run(
            "docker",
            &["--config", config, "logout", &registry.address],
            None,
        )
        .await;
        assert!(ok, "{output}");
        let (ok, output) = run("docker", &["rmi", &image], None).await;
        assert!(ok, "{output}");
    }
    // The public one pulls anonymously.
    let public = format!("{}/datalabs/public:1", registry.address);
    let (ok, output) = run("docker", &["--config", config, "pull", &public], None).await;
    assert!(ok, "{output}");
    // The private one: refused anonymously and to bob, pulled by carol (listed).
    let private = format!("{}/datalabs/private:1", registry.address);
    let (ok, output) = run("docker", &["--config", config, "pull", &private], None).await;
    assert!(!ok, "anonymous pull of a private image: {output}");
    let (ok, _) = run(
        "docker",
        &[
            "--config",
            config,
            "login",
            "-u",
            "bob",
            "--password-stdin",
            &registry.address,
        ],
        Some(PASSWORD),
    )
    .await;
    assert!(ok);
    let (ok, output) = run("docker", &["--config", config, "pull", &private], None).await;
    assert!(!ok, "bob has no grant: {output}");
    let (ok, _) = run(
        "docker",
        &[
            "--config",
            config,
            "login",
            "-u",
            "carol",
            "--password-stdin",
            &registry.address,
        ],
        Some(PASSWORD),
    )
    .await;
    assert!(ok);
    let (ok, output) = run("docker", &["--config", config, "pull", &private], None).await;
    assert!(ok, "carol is listed: {output}");

    // podman, rootful.
    let _podman = PodmanImage(private.clone());
    let (ok, output) = run(
        "podman",
        &[
            "pull",
            "--tls-verify=false",
            "--creds",
            &format!("bob:{PASSWORD}"),
            &private,
        ],
        None,
    )
    .await;
    assert!(!ok, "bob has no grant: {output}");
    let (ok, output) = run(
        "podman",
        &[
            "pull",
            "--tls-verify=false",
            "--creds",
            &format!("alice:{PASSWORD}"),
            &private,
        ],
        None,
    )
    .await;
    assert!(ok, "alice owns it: {output}");
    let _podman_public = PodmanImage(public.clone());
    let (ok, output) = run("podman", &["pull", "--tls-verify=false", &public], None).await;
    assert!(ok, "{output}");
}
