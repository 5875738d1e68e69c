//! The smoke test: start the built image, wait until its health endpoint answers 200, stop it.
//!
//! A desktop datalab must show more than a web page: the VNC server must answer the RFB handshake
//! through websockify (the path noVNC takes), and the application named in metadata.yaml must
//! have a visible window on the display, found by `x_base`'s `xdotool` run inside the container.
//! When it never appears, the failure says so and shows what the application wrote.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StartContainerOptions,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use super::checks::rfb::{Screenshot, screenshot};
use crate::build_log::{BuildLog, Phase};
use crate::metadata::DesktopApplication;
use crate::recipe::application::APPLICATION_LOG;

/// How long the RFB banner may take once websockify serves noVNC.
const RFB_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a desktop's application gets to paint its window before the screenshot.
const SCREENSHOT_SETTLE: Duration = Duration::from_secs(2);

/// How much of the application's output a failure shows.
const APPLICATION_OUTPUT_SHOWN: usize = 2000;

/// The checks a desktop datalab gets after its health endpoint answered.
#[derive(Debug, Clone, Copy)]
pub struct DesktopProbe<'a> {
    /// The application whose window must appear; a desktop without one is checked up to the RFB
    /// handshake.
    pub application: Option<&'a DesktopApplication>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmokeTestResult {
    pub passed: bool,
    pub health_url_path: String,
    pub detail: String,
    pub seconds_to_healthy: Option<f64>,
    /// The health page's last HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
    /// The `<title>` of the first HTML page among the health page and `/`: what a user opening
    /// the datalab sees in the browser's tab.
    #[serde(default)]
    pub title: Option<String>,
    /// The page the title comes from.
    #[serde(default)]
    pub title_path: Option<String>,
}

/// A smoke test's result and, for a desktop that passed, its screen.
#[derive(Debug, Clone)]
pub struct SmokeTest {
    pub result: SmokeTestResult,
    pub screenshot: Option<Screenshot>,
}

/// How much of the health page is read for its title.
const PAGE_READ: usize = 64 * 1024;

/// Runs `image` with `port` published on loopback and probes `health_path`, then for a desktop
/// the VNC server and the application's window, all within `timeout`.
pub async fn smoke_test(
    docker: &Docker,
    image: &str,
    port: u16,
    health_path: &str,
    desktop: Option<DesktopProbe<'_>>,
    timeout: Duration,
    log: &BuildLog,
) -> Result<SmokeTest, bollard::errors::Error> {
    let container_port = format!("{port}/tcp");
    let config = ContainerCreateBody {
        image: Some(image.to_owned()),
        exposed_ports: Some(vec![container_port.clone()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                container_port.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )])),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    };
    let container = docker
        .create_container(None::<CreateContainerOptions>, config)
        .await?
        .id;
    let result = probe(
        docker,
        &container,
        &container_port,
        health_path,
        desktop,
        timeout,
        log,
    )
    .await;
    if !result.as_ref().is_ok_and(|smoke| smoke.result.passed) {
        let mut logs = docker.logs(
            &container,
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                tail: "40".into(),
                ..LogsOptions::default()
            }),
        );
        while let Some(Ok(output)) = logs.next().await {
            log.write(Phase::SmokeTest, format!("container: {output}"));
        }
    }
    remove_container(docker, &container).await?;
    result
}

/// Stops and removes a container the checks started, whatever state it is in.
pub(super) async fn remove_container(
    docker: &Docker,
    container: &str,
) -> Result<(), bollard::errors::Error> {
    docker
        .remove_container(
            container,
            Some(RemoveContainerOptions {
                force: true,
                ..RemoveContainerOptions::default()
            }),
        )
        .await
}

async fn probe(
    docker: &Docker,
    container: &str,
    container_port: &str,
    health_path: &str,
    desktop: Option<DesktopProbe<'_>>,
    timeout: Duration,
    log: &BuildLog,
) -> Result<SmokeTest, bollard::errors::Error> {
    docker
        .start_container(container, None::<StartContainerOptions>)
        .await?;
    let details = docker.inspect_container(container, None).await?;
    let host_port = details
        .network_settings
        .and_then(|settings| settings.ports)
        .and_then(|ports| ports.get(container_port).cloned().flatten())
        .and_then(|bindings| bindings.into_iter().find_map(|binding| binding.host_port))
        .unwrap_or_default();
    let url = format!("http://127.0.0.1:{host_port}{health_path}");
    log.write(
        Phase::SmokeTest,
        format!("waiting for {health_path} to answer 200 ({url})"),
    );
    crate::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client builds");
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    while started.elapsed() < timeout {
        match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                let seconds = started.elapsed().as_secs_f64();
                let status = response.status();
                log.write(
                    Phase::SmokeTest,
                    format!("{health_path} answered {status} after {seconds:.1}s"),
                );
                let titled = titled_page(&client, &host_port, health_path, response).await;
                if let Some((path, title)) = &titled {
                    log.write(Phase::SmokeTest, format!("{path} is titled \"{title}\""));
                }
                let (title_path, title) = titled.unzip();
                let mut detail = format!("{status} after {seconds:.1}s");
                let mut screen = None;
                if let Some(desktop) = desktop {
                    let deadline = started + timeout;
                    let checked =
                        probe_desktop(docker, container, &host_port, desktop, deadline, log)
                            .await?;
                    match checked {
                        Ok(found) => detail = format!("{detail}; {found}"),
                        Err(problem) => return Ok(failed(health_path, problem)),
                    }
                    screen = capture(&host_port, log).await;
                }
                return Ok(SmokeTest {
                    result: SmokeTestResult {
                        passed: true,
                        health_url_path: health_path.to_owned(),
                        detail,
                        seconds_to_healthy: Some(seconds),
                        status: Some(status.as_u16()),
                        title,
                        title_path,
                    },
                    screenshot: screen,
                });
            }
            Ok(response) => last = format!("answered {}", response.status()),
            Err(error) => last = error.to_string(),
        }
        let state = docker.inspect_container(container, None).await?.state;
        if state.as_ref().and_then(|state| state.running) == Some(false) {
            let code = state.and_then(|state| state.exit_code).unwrap_or_default();
            return Ok(failed(
                health_path,
                format!("the container exited with code {code}"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(failed(
        health_path,
        format!("no 200 within {}s: {last}", timeout.as_secs()),
    ))
}

/// The desktop behind a served noVNC page: the RFB banner through websockify, then the
/// application's window. `Ok(Err(problem))` is a failed check; `Err` is dockerd failing.
async fn probe_desktop(
    docker: &Docker,
    container: &str,
    host_port: &str,
    desktop: DesktopProbe<'_>,
    deadline: Instant,
    log: &BuildLog,
) -> Result<Result<String, String>, bollard::errors::Error> {
    let url = format!("ws://127.0.0.1:{host_port}/websockify");
    let banner = match tokio::time::timeout(RFB_TIMEOUT, rfb_banner(&url)).await {
        Ok(Ok(banner)) => banner,
        Ok(Err(problem)) => {
            return Ok(Err(format!(
                "noVNC's page is served, but the VNC server did not answer through websockify \
                 ({url}): {problem}"
            )));
        }
        Err(_) => {
            return Ok(Err(format!(
                "noVNC's page is served, but the VNC server sent no RFB banner through \
                 websockify ({url}) within {}s",
                RFB_TIMEOUT.as_secs()
            )));
        }
    };
    log.write(
        Phase::SmokeTest,
        format!("the VNC server answers through websockify: {banner}"),
    );
    let Some(application) = desktop.application else {
        return Ok(Ok(format!("{banner} through websockify")));
    };
    let title = application.window_title();
    log.write(
        Phase::SmokeTest,
        format!(
            "waiting for the window of {} (title containing \"{title}\")",
            application.name
        ),
    );
    let started = Instant::now();
    let search = vec![
        "xdotool".to_owned(),
        "search".to_owned(),
        "--onlyvisible".to_owned(),
        "--name".to_owned(),
        regex_for_text(title),
    ];
    loop {
        let (status, windows) = run_in_container(docker, container, search.clone()).await?;
        if status == 0 && !windows.trim().is_empty() {
            let seconds = started.elapsed().as_secs_f64();
            log.write(
                Phase::SmokeTest,
                format!("the window \"{title}\" is on the display after {seconds:.1}s"),
            );
            return Ok(Ok(format!(
                "{banner} through websockify; window \"{title}\" after {seconds:.1}s"
            )));
        }
        let output = application_output(docker, container).await?;
        // A launcher that hands over to a process of its own and exits with 0 may still open
        // the window: only a failure to start or a failing exit ends the wait early.
        let ended = output.lines().any(|line| {
            line.starts_with("datalab-application: cannot start")
                || (line.contains(" ended with status ") && !line.ends_with(" status 0"))
        });
        if ended || Instant::now() >= deadline {
            let reason = if ended {
                "because the application failed".to_owned()
            } else {
                format!("within {:.0}s", started.elapsed().as_secs_f64())
            };
            let windows = windows_on_display(docker, container).await?;
            return Ok(Err(format!(
                "the window of the application {} (a title containing \"{title}\") never \
                 appeared on the display, {reason}; {windows}. Check `application.command` (and \
                 `application.window` if the title differs) in metadata.yaml. The application's \
                 output ({APPLICATION_LOG}):\n{}",
                application.name,
                last_chars(&output, APPLICATION_OUTPUT_SHOWN)
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The first message of the VNC server, as noVNC receives it: `RFB 003.008`.
async fn rfb_banner(url: &str) -> Result<String, String> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|error| error.to_string())?;
    let mut received = Vec::new();
    while received.len() < 12 {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => received.extend_from_slice(&bytes),
            Some(Ok(Message::Close(_))) | None => {
                return Err("websockify closed the connection".to_owned());
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.to_string()),
        }
    }
    let banner = String::from_utf8_lossy(&received[..12]).into_owned();
    let _ = socket.close(None).await;
    if banner.starts_with("RFB 003.") && banner.ends_with('\n') {
        Ok(banner.trim_end().to_owned())
    } else {
        Err(format!("the first bytes are not an RFB banner: {banner:?}"))
    }
}

/// What the application wrote (`x_base`'s launcher keeps it in [`APPLICATION_LOG`]).
async fn application_output(
    docker: &Docker,
    container: &str,
) -> Result<String, bollard::errors::Error> {
    let (status, output) = run_in_container(
        docker,
        container,
        vec!["cat".to_owned(), APPLICATION_LOG.to_owned()],
    )
    .await?;
    Ok(if status == 0 {
        output
    } else {
        format!(
            "(nothing: {APPLICATION_LOG} cannot be read: {})",
            output.trim()
        )
    })
}

/// Runs `command` (no shell) in the container as the datalab user; its exit status and output.
async fn run_in_container(
    docker: &Docker,
    container: &str,
    command: Vec<String>,
) -> Result<(i64, String), bollard::errors::Error> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(command),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                user: Some("1000".to_owned()),
                ..CreateExecOptions::default()
            },
        )
        .await?;
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await?
    {
        while let Some(chunk) = output.next().await {
            text.push_str(&chunk?.to_string());
        }
    }
    let status = docker.inspect_exec(&exec.id).await?.exit_code.unwrap_or(-1);
    Ok((status, text))
}

/// What the display shows instead, for a failure: the titles of its visible windows (the one
/// expected may have another title); with none, whether a window manager manages the display
/// (windows are only shown once it has); or why the display cannot be read (the X server is gone).
async fn windows_on_display(
    docker: &Docker,
    container: &str,
) -> Result<String, bollard::errors::Error> {
    const UNMANAGED: &str = "labforge: no window manager";
    let list = format!(
        "xdotool getdisplaygeometry >/dev/null || exit 2; \
         xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q 'window id' \
         || echo '{UNMANAGED}'; \
         for window in $(xdotool search --onlyvisible --name .); do \
         xdotool getwindowname \"$window\"; done"
    );
    let (status, output) = run_in_container(
        docker,
        container,
        vec!["sh".to_owned(), "-c".to_owned(), list],
    )
    .await?;
    let unmanaged = output.lines().any(|line| line == UNMANAGED);
    let titles: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && *line != UNMANAGED)
        .collect();
    Ok(match (status, titles.is_empty()) {
        (0, true) if unmanaged => "no window is visible on the display, and no window manager \
                                   manages it (the desktop's openbox is not running)"
            .to_owned(),
        (0, true) => "no window is visible on the display".to_owned(),
        (0, false) => format!("the visible windows are titled {}", titles.join(", ")),
        _ => format!(
            "the display cannot be read: {}",
            last_chars(output.trim(), APPLICATION_OUTPUT_SHOWN)
        ),
    })
}

/// A POSIX extended regular expression (what xdotool's `--name` takes) matching `text` itself.
fn regex_for_text(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\^$.|?*+()[]{}".contains(character) {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern
}

/// The last `count` characters of `text`.
pub(super) fn last_chars(text: &str, count: usize) -> &str {
    let skip = text.chars().count().saturating_sub(count);
    text.char_indices()
        .nth(skip)
        .map_or("", |(index, _)| &text[index..])
}

fn failed(health_path: &str, detail: String) -> SmokeTest {
    SmokeTest {
        result: SmokeTestResult {
            passed: false,
            health_url_path: health_path.to_owned(),
            detail,
            seconds_to_healthy: None,
            status: None,
            title: None,
            title_path: None,
        },
        screenshot: None,
    }
}

/// The desktop's screen once its application's window is up (after a moment for it to paint).
/// A screenshot that cannot be taken is noted in the log; it does not fail the smoke test.
async fn capture(host_port: &str, log: &BuildLog) -> Option<Screenshot> {
    tokio::time::sleep(SCREENSHOT_SETTLE).await;
    match screenshot(&format!("ws://127.0.0.1:{host_port}/websockify")).await {
        Ok(screen) => {
            log.write(
                Phase::Checks,
                format!(
                    "took a screenshot of the desktop ({}x{}, {} KiB PNG)",
                    screen.width,
                    screen.height,
                    screen.png.len().div_ceil(1024)
                ),
            );
            Some(screen)
        }
        Err(problem) => {
            log.write(
                Phase::Checks,
                format!("warning: no screenshot of the desktop: {problem}"),
            );
            None
        }
    }
}

/// The title of the health page when it is HTML with one, else of `/` (following redirects, as a
/// browser opening the datalab does): the path and the title.
async fn titled_page(
    client: &reqwest::Client,
    host_port: &str,
    health_path: &str,
    health: reqwest::Response,
) -> Option<(String, String)> {
    if let Some(title) = page_title(health).await {
        return Some((health_path.to_owned(), title));
    }
    if health_path == "/" {
        return None;
    }
    let front = client
        .get(format!("http://127.0.0.1:{host_port}/"))
        .send()
        .await
        .ok()
        .filter(|response| response.status().is_success())?;
    page_title(front).await.map(|title| ("/".to_owned(), title))
}

/// The `<title>` of an HTML page, read from at most its first [`PAGE_READ`] bytes.
async fn page_title(response: reqwest::Response) -> Option<String> {
    let is_html = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("html"));
    if !is_html {
        return None;
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= PAGE_READ {
            break;
        }
    }
    html_title(&String::from_utf8_lossy(&body))
}

/// The text of the first `<title>` element, its whitespace collapsed and the common entities
/// read.
fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = html[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_titles_are_matched_as_text() {
        assert_eq!(regex_for_text("SAOImage ds9"), "SAOImage ds9");
        assert_eq!(
            regex_for_text("TOPCAT (v4.8) [*.vot] $1 a|b \\ ^"),
            "TOPCAT \\(v4\\.8\\) \\[\\*\\.vot\\] \\$1 a\\|b \\\\ \\^"
        );
    }

    #[test]
    fn the_page_title_is_read_from_html() {
        assert_eq!(
            html_title("<html><head><TITLE lang=en>\n  Catalogue &amp; Browser\n</title>")
                .as_deref(),
            Some("Catalogue & Browser")
        );
        assert_eq!(html_title("<html><title></title></html>"), None);
        assert_eq!(html_title("<title>never closed"), None);
        assert_eq!(html_title("no title"), None);
    }

    #[test]
    fn only_the_end_of_long_output_is_shown() {
        assert_eq!(last_chars("abcdef", 3), "def");
        assert_eq!(last_chars("ab", 3), "ab");
        assert_eq!(last_chars("", 3), "");
        assert_eq!(last_chars("ééé", 2), "éé");
    }
}
