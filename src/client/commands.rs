//! The client commands of `labforge` (login, push, logs, submit, launch, sessions), one function
//! each. Results go to standard output (an image and digest, a session's address, a table), so
//! that scripts can read them; progress and build logs go to standard error.

use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

use sha2::{Digest as _, Sha256};

use super::ClientError;
use super::api::{ApiClient, LogLineView, NewToken, SessionView};
use super::credentials::{self, Credentials};
use super::package::{Identity, PushSource, pack_folder};
use crate::datalabs::{BuildStatus, NewDatalab, NewVersion, VersionSource, Visibility};
use crate::metadata::DatalabKind;
use crate::publishing::SubmissionRequest;
use crate::sessions::{LaunchRequest, SessionStatus};

/// The service named by the credentials file, called with its token.
fn signed_in() -> Result<ApiClient, ClientError> {
    let path = credentials::default_path()?;
    let Credentials { url, token, .. } = credentials::load(&path)?;
    ApiClient::new(&url, Some(token))
}

pub struct LoginOptions {
    pub url: String,
    pub user: Option<String>,
    /// An API token made on the web page; with it, no password is asked.
    pub token: Option<String>,
}

/// Exchanges a user name and password (or takes a token) for an API token, checks it, and
/// stores it with the service's address. Nothing is written unless the token works.
pub async fn login(options: LoginOptions) -> Result<(), ClientError> {
    let path = credentials::default_path()?;
    let (token, token_id) = if let Some(token) = options.token {
        (token, None)
    } else {
        let made = token_for_password(&options.url, options.user).await?;
        (made.secret, Some(made.id))
    };
    let client = ApiClient::new(&options.url, Some(token.clone()))?;
    let account = client.me().await?;
    credentials::save(
        &path,
        &Credentials {
            url: client.url().to_owned(),
            token,
            token_id,
        },
    )?;
    println!(
        "signed in to {} as {} ({}); credentials kept in {}",
        client.url(),
        account.name,
        account.role,
        path.display()
    );
    Ok(())
}

/// Forgets the credentials `labforge login` kept, and revokes on the service the token it made
/// (a token given with `--token` stays valid: its owner revokes it on the web page). The file is
/// deleted even when the service cannot be reached; the error then says the token still works.
pub async fn logout() -> Result<(), ClientError> {
    let path = credentials::default_path()?;
    let stored = match credentials::load(&path) {
        Ok(stored) => stored,
        Err(ClientError::NotSignedIn { .. }) => {
            println!("not signed in: {} does not exist", path.display());
            return Ok(());
        }
        Err(error @ ClientError::CredentialsCorrupt { .. }) => {
            credentials::remove(&path)?;
            eprintln!("warning: {error}; deleted it");
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    let revoked = match &stored.token_id {
        Some(id) => {
            let client = ApiClient::new(&stored.url, Some(stored.token.clone()))?;
            match client.revoke_token(id).await {
                // Already revoked or expired: nothing is left to revoke.
                Ok(()) | Err(ClientError::CredentialsRefused { .. }) => true,
                Err(error) => {
                    credentials::remove(&path)?;
                    return Err(ClientError::NotRevoked {
                        url: stored.url,
                        cause: Box::new(error),
                    });
                }
            }
        }
        None => false,
    };
    credentials::remove(&path)?;
    if revoked {
        println!(
            "signed out of {}: its API token is revoked and {} deleted",
            stored.url,
            path.display()
        );
    } else {
        println!(
            "signed out of {}: {} deleted; the token given to `labforge login --token` stays valid \
             until you revoke it on the service",
            stored.url,
            path.display()
        );
    }
    Ok(())
}

/// Signs in with a user name and password (asked on the terminal) and makes an API token.
async fn token_for_password(url: &str, user: Option<String>) -> Result<NewToken, ClientError> {
    let anonymous = ApiClient::new(url, None)?;
    let user = match user {
        Some(user) => user,
        None => prompt_user_name()?,
    };
    let password = read_password().await?;
    let session = anonymous.sign_in(&user, password).await?;
    let name = format!(
        "labforge command line, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    let token = anonymous.create_token(&session, name).await?;
    // The token outlives the browser session it was made with, which is not needed any more.
    if let Err(error) = anonymous.sign_out(&session).await {
        tracing::debug!("the sign-in session was not ended: {error}");
    }
    Ok(token)
}

fn prompt_user_name() -> Result<String, ClientError> {
    if !std::io::stdin().is_terminal() {
        return Err(ClientError::MissingInput {
            what: "user name",
            how: "pass --user NAME (or --token, or set LABFORGE_TOKEN)",
        });
    }
    eprint!("user name: ");
    let _ = std::io::stderr().flush();
    read_line("the user name")
}

/// The password: typed on the terminal without echo, or the first line of standard input when
/// it is not a terminal (`echo "$PASSWORD" | labforge login ...`). The line is read on a
/// blocking thread, so that an interrupt (which drops this future) still restores the echo.
async fn read_password() -> Result<String, ClientError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let password = read_line("the password")?;
        if password.is_empty() {
            return Err(ClientError::MissingInput {
                what: "password",
                how: "type it when asked, or send it as the first line of standard input",
            });
        }
        return Ok(password);
    }
    eprint!("password: ");
    let _ = std::io::stderr().flush();
    let echo_off = EchoOff::start()?;
    let password = tokio::task::spawn_blocking(|| read_line("the password"))
        .await
        .expect("reading a line does not panic");
    drop(echo_off);
    password
}

/// The terminal without echo while it lives; its settings as they were once dropped.
struct EchoOff {
    original: nix::sys::termios::Termios,
}

impl EchoOff {
    fn start() -> Result<Self, ClientError> {
        use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};

        let terminal = |source: nix::Error| ClientError::Terminal {
            what: "the password",
            source: source.into(),
        };
        let stdin = std::io::stdin();
        let original = tcgetattr(&stdin).map_err(terminal)?;
        let mut silent = original.clone();
        silent.local_flags.remove(LocalFlags::ECHO);
        // The newline the user types is still shown, so the next output starts on a new line.
        silent.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(&stdin, SetArg::TCSANOW, &silent).map_err(terminal)?;
        Ok(Self { original })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.original,
        );
    }
}

fn read_line(what: &'static str) -> Result<String, ClientError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|source| ClientError::Terminal { what, source })?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

pub struct PushOptions {
    /// A folder, a .zip file or a git URL.
    pub source: String,
    pub reference: Option<String>,
    pub subfolder: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub kind: Option<DatalabKind>,
}

/// Creates the datalab when it is new, sends the source, adds the version, queues a build and
/// follows its log to the end. Prints the image and its digest when the build succeeded.
pub async fn push(options: PushOptions) -> Result<(), ClientError> {
    let client = signed_in()?;
    let source = PushSource::parse(&options.source, options.reference, options.subfolder)?;
    let identity = identity(&source, options.name.is_some() && options.version.is_some())?;
    let missing = |field, flag| ClientError::MissingMetadataField {
        file: format!("{}'s metadata.yaml", options.source),
        field,
        flag,
    };
    let name = options
        .name
        .or(identity.name)
        .ok_or_else(|| missing("alternateName", "name"))?;
    let version = options
        .version
        .or(identity.version)
        .ok_or_else(|| missing("version", "version"))?;
    let kind = options
        .kind
        .or(identity.kind)
        .unwrap_or(DatalabKind::JupyterLab);

    if let Some(datalab) = client.datalab(&name).await? {
        eprintln!(
            "datalab {} ({}, {}, owned by {})",
            datalab.name, datalab.kind, datalab.state, datalab.owner
        );
    } else {
        let created = client
            .create_datalab(&NewDatalab {
                name: name.clone(),
                kind,
            })
            .await?;
        eprintln!("created datalab {} ({})", created.name, created.kind);
    }
    let new_version = NewVersion {
        version: version.clone(),
        source: send_source(&client, source).await?,
    };
    match client.create_version(&name, &new_version).await {
        Ok(created) => eprintln!("added version {} ({})", created.version, created.state),
        Err(ClientError::Refused { status: 409, .. }) => {
            let existing = client.version(&name, &version).await?;
            if existing.source != new_version.source {
                return Err(ClientError::VersionTaken { name, version });
            }
            eprintln!("version {version} exists with this source: building it again");
        }
        Err(error) => return Err(error),
    }
    build_and_follow(&client, name, version).await
}

/// The name, version and kind of the source's metadata.yaml. When the flags name the datalab
/// and version, a missing or unreadable metadata.yaml is left for the build to report.
fn identity(source: &PushSource, flags_name_it: bool) -> Result<Identity, ClientError> {
    match source.metadata_text() {
        Ok(Some(text)) => match Identity::from_metadata(&text) {
            Ok(identity) => Ok(identity),
            Err(_) if flags_name_it => Ok(Identity::default()),
            Err(error) => Err(error),
        },
        Ok(None) if !flags_name_it => Err(ClientError::GitNeedsNameAndVersion),
        Ok(None) => Ok(Identity::default()),
        Err(ClientError::NoMetadata { .. }) if flags_name_it => Ok(Identity::default()),
        Err(error) => Err(error),
    }
}

/// Uploads a folder (packed) or a zip archive; a git source is only named.
async fn send_source(client: &ApiClient, source: PushSource) -> Result<VersionSource, ClientError> {
    match source {
        PushSource::Folder(folder) => {
            let packed = pack_folder(&folder).await?;
            eprintln!(
                "packed {} entries of {} ({} bytes zipped); left out {} entries",
                packed.entries,
                folder.display(),
                packed.archive.len(),
                packed.left_out.files
            );
            if !packed.left_out.secrets.is_empty() {
                eprintln!(
                    "warning: left out files that look like secrets: {}",
                    packed.left_out.secrets.join(", ")
                );
            }
            upload(client, packed.archive).await
        }
        PushSource::Zip(path) => {
            let archive = std::fs::read(&path).map_err(|error| ClientError::UnreadableSource {
                path: path.clone(),
                detail: error.to_string(),
            })?;
            upload(client, archive).await
        }
        PushSource::Git {
            url,
            reference,
            subfolder,
        } => Ok(VersionSource::Git {
            url,
            reference,
            subfolder,
        }),
    }
}

/// Queues a build, shows its log as it runs, and prints its image and digest once green.
async fn build_and_follow(
    client: &ApiClient,
    name: String,
    version: String,
) -> Result<(), ClientError> {
    let queued = client.queue_build(&name, &version).await?;
    eprintln!(
        "build {}-{} {}",
        queued.version, queued.number, queued.status
    );
    let end = client
        .follow_build_log(&name, &version, queued.number, print_log_line(false))
        .await?;
    let build = client.build(&name, &version, queued.number).await?;
    if build.status != BuildStatus::Succeeded {
        return Err(ClientError::BuildFailed {
            name,
            version,
            number: build.number,
            status: build.status,
            failure: build.failure.or(end.failure),
        });
    }
    if build.reused {
        eprintln!("nothing changed since an earlier build: its image is reused");
    }
    println!("image: {}", build.image.unwrap_or_default());
    println!("digest: {}", build.digest.unwrap_or_default());
    Ok(())
}

/// Uploads a zip archive and checks that it arrived as sent.
async fn upload(client: &ApiClient, archive: Vec<u8>) -> Result<VersionSource, ClientError> {
    let sent = hex::encode(Sha256::digest(&archive));
    let uploaded = client.upload_zip(archive).await?;
    if uploaded.sha256 != sent {
        return Err(ClientError::UploadChanged {
            sent,
            received: uploaded.sha256,
        });
    }
    eprintln!("uploaded {} bytes as {}", uploaded.size_bytes, uploaded.id);
    Ok(VersionSource::Zip {
        upload: uploaded.id,
    })
}

/// Prints a log line as the service's text log does, to standard output or standard error.
fn print_log_line(to_stdout: bool) -> impl FnMut(&LogLineView) {
    move |line| {
        let text = format!(
            "{} {:<10} {}",
            line.at.format("%H:%M:%S%.3f"),
            line.phase,
            line.text
        );
        if to_stdout {
            println!("{text}");
        } else {
            eprintln!("{text}");
        }
    }
}

/// Prints a build's log, following it live while the build runs: the newest version's and its
/// newest build's unless named.
pub async fn logs(
    name: &str,
    version: Option<String>,
    build: Option<i64>,
) -> Result<(), ClientError> {
    let client = signed_in()?;
    let version = match version {
        Some(version) => version,
        None => {
            client
                .versions(name)
                .await?
                .pop()
                .ok_or_else(|| ClientError::NothingToShow {
                    name: name.to_owned(),
                    what: "no versions yet: push one with `labforge push`",
                })?
                .version
        }
    };
    let number = match build {
        Some(number) => number,
        None => {
            client
                .builds(name, &version)
                .await?
                .first()
                .ok_or_else(|| ClientError::NothingToShow {
                    name: name.to_owned(),
                    what: "no builds of that version yet: push it with `labforge push`",
                })?
                .number
        }
    };
    let end = client
        .follow_build_log(name, &version, number, print_log_line(true))
        .await?;
    eprintln!(
        "build {version}-{number}: {}{}",
        end.status,
        end.failure
            .map(|failure| format!(": {failure}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// Submits a version for publication to `audience`; every unmet condition is listed at once.
pub async fn submit(
    name: &str,
    version: &str,
    audience: Visibility,
    comment: Option<String>,
) -> Result<(), ClientError> {
    let client = signed_in()?;
    let submission = client
        .submit(name, version, &SubmissionRequest { audience, comment })
        .await?;
    println!(
        "{name} {} (build {}, licence {}) submitted for {}: {} (submission {})",
        submission.version,
        submission.build,
        submission.licence,
        submission.audience,
        submission.state,
        submission.id
    );
    Ok(())
}

pub struct LaunchOptions {
    pub datalab: String,
    pub version: Option<String>,
    pub cpu: Option<f64>,
    pub memory_gib: Option<f64>,
    pub data_volumes: Vec<String>,
    pub datazone: Option<String>,
    pub name: Option<String>,
}

/// Launches a datalab, follows the launch until it is ready and prints the session's address.
pub async fn launch(options: LaunchOptions) -> Result<(), ClientError> {
    let client = signed_in()?;
    let session = client
        .launch(&LaunchRequest {
            datalab: options.datalab,
            version: options.version,
            cpu: options.cpu,
            memory_gib: options.memory_gib,
            data_volumes: options.data_volumes,
            datazone: options.datazone,
            name: options.name,
        })
        .await?;
    eprintln!(
        "session {} of {} {}: {} CPU, {} GiB, datazone {}",
        session.id,
        session.datalab,
        session.version,
        session.cpu,
        session.memory_gib,
        session.datazone
    );
    let last = client
        .follow_session(&session.id, |progress| {
            eprintln!(
                "  {}{}",
                progress.status,
                progress
                    .reason
                    .as_deref()
                    .map(|reason| format!(": {reason}"))
                    .unwrap_or_default()
            );
        })
        .await?;
    if last.status != SessionStatus::Ready {
        return Err(ClientError::LaunchFailed {
            id: session.id,
            status: last.status,
            reason: last.reason,
        });
    }
    println!("{}{}", client.url(), session.url);
    Ok(())
}

/// Prints the caller's sessions as a table, newest first; ended and failed ones with `all`.
pub async fn sessions(all: bool) -> Result<(), ClientError> {
    let client = signed_in()?;
    let sessions: Vec<SessionView> = client
        .sessions()
        .await?
        .into_iter()
        .filter(|session| all || !session.status.has_ended())
        .collect();
    print!("{}", session_table(client.url(), &sessions));
    Ok(())
}

fn session_table(server: &str, sessions: &[SessionView]) -> String {
    let header = [
        "ID", "NAME", "DATALAB", "VERSION", "STATUS", "CPU", "MEMORY", "CREATED", "URL",
    ];
    let rows: Vec<[String; 9]> = sessions
        .iter()
        .map(|session| {
            [
                session.id.clone(),
                session.name.clone(),
                session.datalab.clone(),
                session.version.clone(),
                session.status.to_string(),
                session.cpu.to_string(),
                format!("{} GiB", session.memory_gib),
                session.created_at.format("%Y-%m-%d %H:%M").to_string(),
                if session.status.has_ended() {
                    String::new()
                } else {
                    format!("{server}{}", session.url)
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if index + 1 == cells.len() {
                text.push_str(cell);
            } else {
                // Writing to a String cannot fail.
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        table.push_str(text.trim_end());
        table.push('\n');
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    table
}

/// Ends a session and removes its container.
pub async fn stop_session(id: &str) -> Result<(), ClientError> {
    let client = signed_in()?;
    client.stop_session(id).await?;
    println!("session {id} stopped");
    Ok(())
}

/// Prints the session container's recent output.
pub async fn session_logs(id: &str) -> Result<(), ClientError> {
    let client = signed_in()?;
    print!("{}", client.session_logs(id).await?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_table_lines_up_and_gives_the_address_of_running_sessions_only() {
        let session = |id: &str, status, url: &str| SessionView {
            id: id.to_owned(),
            name: "photometry".to_owned(),
            datalab: "jl-photometry-demo".to_owned(),
            version: "0.0.1".to_owned(),
            status,
            reason: None,
            cpu: 1.5,
            memory_gib: 2.0,
            datazone: "local".to_owned(),
            url: url.to_owned(),
            created_at: chrono::DateTime::parse_from_rfc3339("2026-12-02T03:00:00Z")
                .unwrap()
                .to_utc(),
        };
        let table = session_table(
            "https://lf.example.org",
            &[
                session("s1", SessionStatus::Ready, "/sessions/s1/lab"),
                session("s22", SessionStatus::Ended, "/sessions/s22/lab"),
            ],
        );
        assert_eq!(
            table,
            "ID   NAME        DATALAB             VERSION  STATUS  CPU  MEMORY  CREATED           URL\n\
             s1   photometry  jl-photometry-demo  0.0.1    ready   1.5  2 GiB   2026-12-02 03:00  https://lf.example.org/sessions/s1/lab\n\
             s22  photometry  jl-photometry-demo  0.0.1    ended   1.5  2 GiB   2026-12-02 03:00\n"
        );
    }
}
