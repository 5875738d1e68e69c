//! labforge's own BuildKit session and `Solve` call for a standalone buildkitd.
//!
//! bollard's driver builds the `SolveRequest` itself and cannot set the Dockerfile frontend's
//! `cache-imports` attribute, which is where that frontend reads the registry cache to import
//! (BuildKit's own client puts them there too); the control request's cache imports alone are
//! never read for a frontend solve. So this module opens the session itself, with only what a
//! labforge build needs from the client side:
//!
//! - `grpc.health.v1.Health`: buildkitd checks the session's health while it lasts;
//! - `moby.filesync.v1.Auth/Credentials`: the build account for the registry (buildkitd fetches
//!   its tokens itself with them);
//! - `moby.upload.v1.Upload/Pull`: the build context, a tar archive.
//!
//! The session is a `Control.Session` stream whose bytes carry an HTTP/2 connection on which
//! buildkitd is the client and this process serves those three services.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::{
    BytesMessage as SessionBytes, CacheOptions, CacheOptionsEntry, Exporter, SolveRequest,
};
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use bollard_buildkit_proto::moby::upload::v1::BytesMessage as UploadBytes;
use bollard_buildkit_proto::moby::upload::v1::upload_server::{Upload, UploadServer};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::images::Credentials;

/// The size of one message of the build context: well below buildkitd's 16 MiB limit.
const UPLOAD_CHUNK: usize = 1024 * 1024;

/// Room for the session's bytes on their way out, between the HTTP/2 server and the stream.
const SESSION_BUFFER: usize = 256 * 1024;

/// What one solve asks of buildkitd: the Dockerfile frontend's attributes, the context, the
/// exporter and the registry cache to read and write.
#[derive(Debug)]
pub(super) struct Solve {
    /// The build's ref, under which buildkitd reports its progress.
    pub build_ref: String,
    /// Frontend attributes besides `context` and `cache-imports`, which the solve sets.
    pub frontend_attrs: HashMap<String, String>,
    /// The context, a tar archive.
    pub context: Vec<u8>,
    pub exporter: Exporter,
    pub cache_imports: Vec<CacheOptionsEntry>,
    pub cache_exports: Vec<CacheOptionsEntry>,
    /// The registry account, for the registry host it signs in to.
    pub credentials: Option<(String, Credentials)>,
}

/// Runs `solve` on the buildkitd at the other end of `channel` within a session of its own;
/// returns when buildkitd has answered the `Solve` call. Dropping the future ends the call and the
/// session, and buildkitd cancels a solve whose caller left.
pub(super) async fn solve(channel: Channel, solve: Solve) -> Result<(), Status> {
    let session_id = uuid::Uuid::new_v4().simple().to_string();
    let upload_path = format!("/{}", uuid::Uuid::new_v4().simple());
    let mut control = ControlClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);

    let (server_side, session_side) = tokio::io::duplex(SESSION_BUFFER);
    let outgoing = tokio_util::io::ReaderStream::new(session_side).filter_map(|chunk| async {
        chunk.ok().map(|data| SessionBytes {
            data: data.to_vec(),
        })
    });
    let mut opening = Request::new(outgoing);
    session_headers(opening.metadata_mut(), &session_id)?;
    let incoming = control.session(opening).await?.into_inner();
    let incoming = tokio_util::io::StreamReader::new(
        incoming
            .map_ok(|message| Bytes::from(message.data))
            .map_err(std::io::Error::other),
    );
    let connection = SessionConnection {
        incoming: Box::pin(incoming),
        outgoing: server_side,
    };
    let services = tonic::transport::Server::builder()
        .add_service(HealthServer::new(Healthy))
        .add_service(AuthServer::new(Account {
            credentials: solve.credentials,
        }))
        .add_service(UploadServer::new(BuildContextUpload {
            path: upload_path.clone(),
            bytes: Bytes::from(solve.context),
        }));
    let server = tokio::spawn(
        services.serve_with_incoming(futures_util::stream::iter([Ok::<_, std::io::Error>(
            connection,
        )])),
    );
    let _stop_server = AbortOnDrop(server);

    let mut frontend_attrs = solve.frontend_attrs;
    frontend_attrs.insert(
        "context".to_owned(),
        format!("http://buildkit-session{upload_path}"),
    );
    if !solve.cache_imports.is_empty() {
        frontend_attrs.insert(
            "cache-imports".to_owned(),
            cache_imports_attribute(&solve.cache_imports),
        );
    }
    let request = SolveRequest {
        r#ref: solve.build_ref,
        session: session_id,
        frontend: "dockerfile.v0".to_owned(),
        frontend_attrs,
        exporters: vec![solve.exporter],
        cache: Some(CacheOptions {
            exports: solve.cache_exports,
            imports: solve.cache_imports,
            ..CacheOptions::default()
        }),
        ..SolveRequest::default()
    };
    control.solve(request).await?;
    Ok(())
}

/// The headers that make a `Control.Session` call a session: its id, and the methods it serves
/// (buildkitd asks only for those).
fn session_headers(
    metadata: &mut tonic::metadata::MetadataMap,
    session_id: &str,
) -> Result<(), Status> {
    let value = |text: &str| {
        text.parse::<MetadataValue<_>>()
            .map_err(|_| Status::internal(format!("{text:?} cannot be a gRPC header")))
    };
    metadata.insert("x-docker-expose-session-uuid", value(session_id)?);
    metadata.insert("x-docker-expose-session-name", value("labforge")?);
    metadata.insert("x-docker-expose-session-sharedkey", value(session_id)?);
    for method in [
        "/grpc.health.v1.Health/Check",
        "/moby.filesync.v1.Auth/Credentials",
        "/moby.upload.v1.Upload/Pull",
    ] {
        metadata.append("x-docker-expose-session-grpc-method", value(method)?);
    }
    Ok(())
}

/// The frontend's `cache-imports` attribute: the entries as JSON, in the field names BuildKit's
/// own client writes (`Type`, `Attrs`).
fn cache_imports_attribute(imports: &[CacheOptionsEntry]) -> String {
    let entries: Vec<serde_json::Value> = imports
        .iter()
        .map(|entry| serde_json::json!({ "Type": entry.r#type, "Attrs": entry.attrs }))
        .collect();
    serde_json::Value::Array(entries).to_string()
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The session's bytes as one connection for the HTTP/2 server: what buildkitd sends is read
/// from the `Session` stream, what the server writes goes out on it.
struct SessionConnection {
    incoming: Pin<Box<dyn AsyncRead + Send>>,
    outgoing: DuplexStream,
}

impl tonic::transport::server::Connected for SessionConnection {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for SessionConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.get_mut().incoming.as_mut().poll_read(context, buffer)
    }
}

impl AsyncWrite for SessionConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().outgoing).poll_write(context, buffer)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().outgoing).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().outgoing).poll_shutdown(context)
    }
}

struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving.into(),
        }))
    }

    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("this session answers Check only"))
    }

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("this session answers Check only"))
    }
}

/// The registry account: given for its registry's host, to nobody else.
struct Account {
    credentials: Option<(String, Credentials)>,
}

#[tonic::async_trait]
impl Auth for Account {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = request.into_inner().host;
        let response = match &self.credentials {
            Some((registry, credentials)) if *registry == host => CredentialsResponse {
                username: credentials.username.clone(),
                secret: credentials.password.clone(),
            },
            // Anonymous: an empty answer, as BuildKit's own client gives for an unknown host.
            _ => CredentialsResponse::default(),
        };
        Ok(Response::new(response))
    }

    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("buildkitd fetches tokens itself"))
    }

    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }

    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }
}

/// The build context, handed out at the one path the frontend was given.
struct BuildContextUpload {
    path: String,
    bytes: Bytes,
}

#[tonic::async_trait]
impl Upload for BuildContextUpload {
    type PullStream = Pin<Box<dyn Stream<Item = Result<UploadBytes, Status>> + Send>>;

    async fn pull(
        &self,
        request: Request<tonic::Streaming<UploadBytes>>,
    ) -> Result<Response<Self::PullStream>, Status> {
        let asked = request
            .metadata()
            .get("urlpath")
            .and_then(|value| value.to_str().ok());
        if asked != Some(self.path.as_str()) {
            return Err(Status::not_found(format!(
                "this session uploads {} only, not {asked:?}",
                self.path
            )));
        }
        let bytes = self.bytes.clone();
        let chunks = (0..bytes.len().div_ceil(UPLOAD_CHUNK)).map(move |index| {
            let start = index * UPLOAD_CHUNK;
            let end = bytes.len().min(start + UPLOAD_CHUNK);
            Ok(UploadBytes {
                data: bytes[start..end].to_vec(),
            })
        });
        Ok(Response::new(Box::pin(futures_util::stream::iter(chunks))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_imports_are_written_as_buildkit_s_client_writes_them() {
        let entry = CacheOptionsEntry {
            r#type: "registry".to_owned(),
            attrs: HashMap::from([("ref".to_owned(), "127.0.0.1:5000/cache/a:b".to_owned())]),
        };
        let attribute: serde_json::Value =
            serde_json::from_str(&cache_imports_attribute(&[entry])).unwrap();
        assert_eq!(
            attribute,
            serde_json::json!([{ "Type": "registry", "Attrs": { "ref": "127.0.0.1:5000/cache/a:b" } }])
        );
    }
}
