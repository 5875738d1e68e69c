//! Real peers for the registry tests: labforge's registry on a free loopback port with its own
//! storage and grants, Debian's `docker-registry`, and image layouts built from generated files.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use labforge::registry::{
    Digest, PushOnTarget, RegistryServerConfig, RegistryState, hash_password, router,
};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse";

/// Users: `ci` (builder), `admin`, `mod` (moderator), `alice` (author, owner of
/// `datalabs/private`), `carol` (author, listed on `datalabs/private`), `bob` (author, no grant).
pub fn grants_toml() -> String {
    let hash = hash_password(PASSWORD);
    let users = [
        ("ci", "builder"),
        ("admin", "admin"),
        ("mod", "moderator"),
        ("alice", "author"),
        ("carol", "author"),
        ("bob", "author"),
    ];
    let mut text = String::new();
    for (name, role) in users {
        let _ = write!(
            text,
            "[[users]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\nrole = \"{role}\"\n\n"
        );
    }
    text.push_str(
        r#"
[[repositories]]
name = "datalabs/public"
visibility = "public"
owner = "alice"
published = true

[[repositories]]
name = "datalabs/private"
visibility = "private"
owner = "alice"
users = ["carol"]
published = true

[[repositories]]
name = "datalabs/draft"
visibility = "public"
owner = "alice"
published = false
"#,
    );
    text
}

pub struct TestRegistry {
    pub address: String,
    pub state: RegistryState,
    pub folder: TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl TestRegistry {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut RegistryServerConfig)) -> Self {
        install_crypto_provider();
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("grants.toml"), grants_toml()).unwrap();
        let mut config = RegistryServerConfig {
            storage_root: Some(folder.path().join("store")),
            grants_file: Some(folder.path().join("grants.toml")),
            ..RegistryServerConfig::default()
        };
        adjust(&mut config);
        let grants = config.load_grants(folder.path()).unwrap();
        let state = RegistryState::open(&config, folder.path(), grants)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            address,
            state,
            folder,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn store(&self) -> PathBuf {
        self.folder.path().join("store")
    }

    /// A bearer token for `scope`, as `user` (None: anonymous).
    pub async fn token(&self, user: Option<&str>, scopes: &[&str]) -> String {
        let client = reqwest::Client::new();
        let query: Vec<(&str, &str)> = scopes.iter().map(|scope| ("scope", *scope)).collect();
        let mut request = client.get(self.url("/auth/token")).query(&query);
        if let Some(user) = user {
            request = request.basic_auth(user, Some(PASSWORD));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "token for {user:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Debian's distribution 2.8 on a free loopback port.
pub struct DockerRegistry {
    pub address: String,
    /// Kept for its lifetime: the store is deleted when the registry goes.
    _folder: TempDir,
    child: std::process::Child,
}

impl DockerRegistry {
    pub async fn start() -> Self {
        install_crypto_provider();
        let folder = tempfile::tempdir().unwrap();
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let config = folder.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
                folder.path().join("store").display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("http://{address}/v2/"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            address,
            _folder: folder,
            child,
        }
    }

    pub fn push_on_target(&self) -> PushOnTarget {
        PushOnTarget {
            name: "mirror".to_owned(),
            registry: self.address.clone(),
            plain_http: true,
            ..PushOnTarget::default()
        }
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// reqwest and oci-client use rustls without a built-in provider (see DESIGN.md): install ring.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Deterministic bytes that do not compress (xorshift).
pub fn noise(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(length);
    bytes
}

/// A tar archive holding one file of `size` noisy bytes: a valid, uncompressed image layer.
pub fn layer(name: &str, size: usize, seed: u64) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let content = noise(size, seed);
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, name, content.as_slice())
        .unwrap();
    builder.into_inner().unwrap()
}

/// Writes a skopeo `dir:` layout of an OCI image made of `layers`; returns the manifest digest.
pub fn write_dir_image(folder: &Path, layers: &[Vec<u8>]) -> Digest {
    std::fs::create_dir_all(folder).unwrap();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        let digest = Digest::sha256_of(layer);
        std::fs::write(folder.join(digest.hex()), layer).unwrap();
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest.to_string(),
            "size": layer.len(),
        }));
        diff_ids.push(digest.to_string());
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Cmd": ["/bin/true"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .unwrap();
    let config_digest = Digest::sha256_of(&config);
    std::fs::write(folder.join(config_digest.hex()), &config).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config.len(),
        },
        "layers": descriptors,
    }))
    .unwrap();
    std::fs::write(folder.join("manifest.json"), &manifest).unwrap();
    std::fs::write(folder.join("version"), "Directory Transport Version: 1.1\n").unwrap();
    Digest::sha256_of(&manifest)
}

/// Runs a command, returning (success, stdout + stderr).
pub async fn run(program: &str, arguments: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut command = tokio::process::Command::new(program);
    command
        .args(arguments)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        use tokio::io::AsyncWriteExt as _;
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
    }
    let output = child.wait_with_output().await.unwrap();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Writes `bytes` to a new file in `folder` and returns its path.
pub fn write_file(folder: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = folder.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(bytes).unwrap();
    path
}
