//! Desktop datalabs open their application: the examples build and pass the desktop smoke test
//! (RFB banner through websockify, the application's window on the display), a wrong command
//! fails it with the application's output, and a real browser sees the application through noVNC.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StartContainerOptions,
};
use futures_util::{SinkExt, StreamExt};
use labforge::build_log::BuildLog;
use labforge::metadata::DatalabKind;
use labforge::pipeline::{BuildHistory, BuildOutcome, BuildSpec, Pipeline, PipelineError};
use labforge::sources::Source;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::common;
use crate::pipeline::{build_as, log_text};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The colour the browser test's application paints its whole window with (dodger blue).
const PROBE_COLOUR: [u8; 3] = [0x1e, 0x90, 0xff];

/// A desktop lab with `application` (YAML lines under `application:`) in a fresh workspace.
fn desktop_lab(config: &labforge::config::Config, name: &str, application: &str) -> PathBuf {
    let folder = config.sources.workspace_root.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("metadata.yaml"),
        format!(
            "title: Desktop probe\nalternateName: {name}\nabstract: A desktop test lab.\n\
             contactPoint: a@example.org\ncreator: labforge tests\nversion: 0.0.1\n\
             kind: desktop\napplication:\n{application}"
        ),
    )
    .unwrap();
    folder
}

async fn build_example(name: &str) -> BuildOutcome {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, name);
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, log) = build_as(&pipeline, lab, Some(&common::unique_name(name)), true).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    println!(
        "{name}: image {} ({}), smoke test {:.1}s: {}",
        outcome.record.image,
        outcome.record.digest,
        outcome.timings.smoke_test,
        outcome
            .smoke_test
            .as_ref()
            .map_or("none", |smoke| smoke.detail.as_str())
    );
    outcome
}

fn assert_desktop_smoke_test_passed(outcome: &BuildOutcome, window: &str) {
    let smoke = outcome
        .smoke_test
        .as_ref()
        .expect("desktop labs are smoke-tested");
    assert!(smoke.passed, "{smoke:?}");
    assert_eq!(smoke.health_url_path, "/vnc.html");
    assert!(
        smoke.detail.contains("RFB 003.008 through websockify"),
        "{smoke:?}"
    );
    assert!(
        smoke.detail.contains(&format!("window \"{window}\" after")),
        "{smoke:?}"
    );
    assert_eq!(smoke.title_path.as_deref(), Some("/vnc.html"), "{smoke:?}");
    assert_eq!(outcome.record.kind, "desktop");
    // The screen as the VNC server sends it, at x_base's geometry.
    let screenshot = outcome
        .screenshot
        .as_ref()
        .expect("a desktop that passed its smoke test has a screenshot");
    assert_eq!((screenshot.width, screenshot.height), (1600, 900));
    let decoder = png::Decoder::new(std::io::Cursor::new(&screenshot.png));
    let info = decoder.read_info().expect("the screenshot is a PNG");
    assert_eq!((info.info().width, info.info().height), (1600, 900));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ds9_example_opens_ds9_on_its_desktop() {
    let outcome = build_example("x-ds9").await;
    assert_desktop_smoke_test_passed(&outcome, "SAOImage ds9");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_topcat_example_opens_topcat_on_its_desktop() {
    let outcome = build_example("x-topcat").await;
    assert_desktop_smoke_test_passed(&outcome, "TOPCAT");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_application_that_cannot_start_fails_the_smoke_test_with_its_output() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let cases = [
        (
            "  name: Missing program\n  command: [labforge-no-such-program, --open]\n",
            "cannot start labforge-no-such-program: [Errno 2] No such file or directory",
        ),
        (
            "  name: Failing program\n  command: [ls, /labforge/no/such/folder]\n",
            "ls: cannot access '/labforge/no/such/folder': No such file or directory",
        ),
    ];
    for (application, output) in cases {
        let name = common::unique_name("x-wrong-command");
        let lab = desktop_lab(&config, &name, application);
        let (outcome, log) = build_as(&pipeline, lab, None, true).await;
        let Err(PipelineError::SmokeTestFailed { detail, .. }) = &outcome else {
            panic!(
                "expected a failed smoke test, got {outcome:?}\n{}",
                log_text(&log)
            );
        };
        assert!(
            detail.contains("never appeared on the display, because the application failed"),
            "{detail}"
        );
        assert!(detail.contains(output), "{detail}");
        // What the display showed instead: nothing of the application's, at most the desktop's
        // own file manager (pcmanfm draws the desktop once it has started).
        assert!(
            detail.contains("; no window is visible on the display.")
                || detail.contains("; the visible windows are titled pcmanfm."),
            "{detail}"
        );
        let message = outcome.unwrap_err().to_string();
        assert!(message.contains("Check `application.command`"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authors_dockerfile_opens_the_application_too() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let name = common::unique_name("x-own-dockerfile");
    let lab = desktop_lab(
        &config,
        &name,
        "  name: Own Dockerfile\n  command: [xterm, -T, own dockerfile probe, -e, sleep, '600']\n  \
         window: own dockerfile probe\n",
    );
    std::fs::write(
        lab.join("Dockerfile"),
        "ARG REGISTRY\nARG X_BASE_VERSION\nFROM $REGISTRY/datalabs/x_base:$X_BASE_VERSION\n\
         COPY --chown=1000:1000 metadata.yaml /home/datalab/metadata.yaml\n",
    )
    .unwrap();
    let (outcome, log) = build_as(&pipeline, lab, None, true).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    assert_desktop_smoke_test_passed(&outcome, "own dockerfile probe");
    assert!(
        log_text(&log).contains("COPY .labforge/application.json /etc/labforge/application.json"),
        "the appended instruction is built:\n{}",
        log_text(&log)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_application_in_a_build_of_another_kind_is_refused_before_building() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let lab = desktop_lab(
        &config,
        "x-kind-mismatch",
        "  name: TOPCAT\n  command: [topcat]\n",
    );
    let log = BuildLog::new();
    let spec = BuildSpec {
        source: Source::Workspace {
            root: lab.parent().unwrap().to_path_buf(),
            path: lab,
        },
        name: None,
        kind: Some(DatalabKind::JupyterLab),
        smoke_test: true,
        history: BuildHistory::Index,
    };
    let error = pipeline
        .build(&spec, &log, &CancellationToken::new())
        .await
        .expect_err("a JupyterLab build has no application to open");
    assert!(
        matches!(error, PipelineError::ApplicationNeedsDesktop { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "metadata.yaml names an `application`, which only a desktop datalab opens, but this is a \
         jupyterlab build. Build it as kind desktop, or remove `application` from metadata.yaml"
    );
    assert!(
        !log_text(&log).contains("solve"),
        "nothing was built:\n{}",
        log_text(&log)
    );
}

/// Builds a lab whose application is an xterm painted in [`PROBE_COLOUR`], runs it, and has
/// Chromium open its noVNC page: the screenshot must show that window over most of the page. Then
/// the application is closed and must come back from its menu entry.
#[tokio::test(flavor = "multi_thread")]
async fn a_browser_sees_the_application_through_novnc_and_its_menu_restarts_it() {
    if !Path::new(CHROMIUM).is_file() {
        println!("skipped: {CHROMIUM} is missing (scripts/lib.sh's install_missing installs it)");
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let name = common::unique_name("x-browser-probe");
    let lab = desktop_lab(
        &config,
        &name,
        "  name: Blue probe\n  command: [xterm, -T, labforge blue probe, -bg, '#1e90ff', -e, \
         sleep, '600']\n  window: labforge blue probe\n  maximised: true\n",
    );
    let (outcome, log) = build_as(&pipeline, lab, None, true).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    assert_desktop_smoke_test_passed(&outcome, "labforge blue probe");
    // labforge's own screenshot shows the maximised application as the browser will.
    let own = colour_share(&outcome.screenshot.as_ref().unwrap().png, PROBE_COLOUR);
    assert!(
        own > 0.5,
        "the application's window covers {:.0}% of the build's screenshot, expected over half",
        own * 100.0
    );

    let docker = Docker::connect_with_local_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    let container = RunningDesktop::start(&docker, &outcome.record.image).await;
    // The desktop boots as the browser opens: the screenshot is taken once the window is up.
    if let Err(problem) = container.wait_for_window("labforge blue probe").await {
        container.remove().await;
        panic!("{problem}");
    }
    let url = format!(
        "http://127.0.0.1:{}/vnc.html?autoconnect=true&resize=scale",
        container.port
    );
    let screenshot = screenshot_path();
    let started = Instant::now();
    let share = browser_screenshot(&url, &screenshot).await;
    println!(
        "screenshot of {url}: {} ({:.0}% of it the application's colour, {:.1}s)",
        screenshot.display(),
        share * 100.0,
        started.elapsed().as_secs_f64()
    );
    let restarted = container.application_restarts_from_its_menu().await;
    container.remove().await;
    restarted.unwrap_or_else(|problem| panic!("{problem}"));
    assert!(
        share > 0.5,
        "the application's window covers {:.0}% of the screenshot {}, expected over half",
        share * 100.0,
        screenshot.display()
    );
}

/// Where the test keeps its screenshot: the test data folder `scripts/test.sh` uses.
fn screenshot_path() -> PathBuf {
    let data = std::env::var_os("LABFORGE_TEST_DATA_DIR")
        .map_or_else(|| PathBuf::from("/var/tmp/labforge-test"), PathBuf::from);
    let folder = data.join("screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    folder.join("desktop-through-novnc.png")
}

struct RunningDesktop<'a> {
    docker: &'a Docker,
    id: String,
    port: String,
}

impl<'a> RunningDesktop<'a> {
    async fn start(docker: &'a Docker, image: &str) -> Self {
        let config = ContainerCreateBody {
            image: Some(image.to_owned()),
            exposed_ports: Some(vec!["6080/tcp".to_owned()]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    "6080/tcp".to_owned(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )])),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let id = docker
            .create_container(None::<CreateContainerOptions>, config)
            .await
            .unwrap()
            .id;
        docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
            .unwrap();
        let port = docker
            .inspect_container(&id, None)
            .await
            .unwrap()
            .network_settings
            .and_then(|settings| settings.ports)
            .and_then(|ports| ports.get("6080/tcp").cloned().flatten())
            .and_then(|bindings| bindings.into_iter().find_map(|binding| binding.host_port))
            .expect("6080 is published");
        Self { docker, id, port }
    }

    /// Runs `command` (no shell) as the datalab user; its output, or `None` when detached.
    async fn exec(&self, command: &[&str], detach: bool) -> (Option<i64>, String) {
        let exec = self
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions {
                    cmd: Some(command.iter().map(|word| (*word).to_owned()).collect()),
                    attach_stdout: Some(!detach),
                    attach_stderr: Some(!detach),
                    user: Some("1000".to_owned()),
                    ..CreateExecOptions::default()
                },
            )
            .await
            .unwrap();
        let options = StartExecOptions {
            detach,
            ..StartExecOptions::default()
        };
        let mut text = String::new();
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, Some(options))
            .await
            .unwrap()
        {
            while let Some(chunk) = output.next().await {
                text.push_str(&chunk.unwrap().to_string());
            }
        }
        let status = self.docker.inspect_exec(&exec.id).await.unwrap().exit_code;
        (status, text)
    }

    /// Waits up to two minutes for `title`'s window; the application's output and what the
    /// display shows when it never comes.
    async fn wait_for_window(&self, title: &str) -> Result<(), String> {
        let started = Instant::now();
        while !self.window_shown(title).await {
            if started.elapsed() > Duration::from_mins(2) {
                let (_, log) = self
                    .exec(&["cat", "/tmp/labforge-application.log"], false)
                    .await;
                let (_, windows) = self
                    .exec(
                        &[
                            "sh",
                            "-c",
                            "xdotool getdisplaygeometry; for window in $(xdotool search \
                             --onlyvisible --name .); do xdotool getwindowname \"$window\"; done",
                        ],
                        false,
                    )
                    .await;
                return Err(format!(
                    "the window {title:?} did not appear within 2 minutes of the container's \
                     start; the display ({windows}); the application's output:\n{log}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(())
    }

    async fn window_shown(&self, title: &str) -> bool {
        let (status, _) = self
            .exec(
                &["xdotool", "search", "--onlyvisible", "--name", title],
                false,
            )
            .await;
        status == Some(0)
    }

    /// The menu offers the application, a terminal and file managers; the application, once
    /// closed, comes back from its menu entry's command (what openbox and the launcher run).
    async fn application_restarts_from_its_menu(&self) -> Result<(), String> {
        let (_, menu) = self
            .exec(&["cat", "/home/datalab/.config/openbox/menu.xml"], false)
            .await;
        for entry in [
            "<item label=\"Blue probe\"><action name=\"Execute\"><command>'datalab-application' \
             'start'</command>",
            "<item label=\"Terminal\">",
            "<command>'pcmanfm' '/home/datalab/workspace'</command>",
            "<command>'pcmanfm' '/data'</command>",
        ] {
            if !menu.contains(entry) {
                return Err(format!("the desktop's menu has no {entry}:\n{menu}"));
            }
        }
        let (_, launchers) = self.exec(&["ls", "/home/datalab/Desktop"], false).await;
        if launchers.lines().count() != 5 {
            return Err(format!("expected 5 desktop launchers, found:\n{launchers}"));
        }
        let title = "labforge blue probe";
        // Closing it: the launcher records the application's process id.
        self.exec(
            &[
                "bash",
                "-c",
                "kill \"$(cat /tmp/labforge-application.pid)\"",
            ],
            false,
        )
        .await;
        let closed = Instant::now();
        while self.window_shown(title).await {
            if closed.elapsed() > Duration::from_secs(10) {
                return Err("the application's window stayed after it was closed".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.exec(&["datalab-application", "start"], true).await;
        let started = Instant::now();
        while !self.window_shown(title).await {
            if started.elapsed() > Duration::from_secs(20) {
                let (_, log) = self
                    .exec(&["cat", "/tmp/labforge-application.log"], false)
                    .await;
                return Err(format!(
                    "the application did not come back from its menu entry:\n{log}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    async fn remove(self) {
        self.docker
            .remove_container(
                &self.id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..RemoveContainerOptions::default()
                }),
            )
            .await
            .unwrap();
    }
}

/// Opens `url` in headless Chromium (driven over the Chrome `DevTools` protocol, so the screenshot is
/// taken once noVNC has drawn the desktop rather than at page load), writes the screenshot to
/// `path`, and returns the share of its pixels in [`PROBE_COLOUR`]. Retries for 2 minutes while
/// the desktop is still connecting, opening the page again every 30 s.
async fn browser_screenshot(url: &str, path: &Path) -> f64 {
    let profile = tempfile::tempdir().unwrap();
    let mut chromium = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,800",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts");
    let active_port = profile.path().join("DevToolsActivePort");
    let started = Instant::now();
    let port = loop {
        if let Some(port) = std::fs::read_to_string(&active_port)
            .ok()
            .and_then(|text| text.lines().next().map(str::to_owned))
            .filter(|port| !port.is_empty())
        {
            break port;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromium wrote no DevToolsActivePort"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let targets: Vec<Value> = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = targets
        .iter()
        .find(|target| target["type"] == "page")
        .and_then(|target| target["webSocketDebuggerUrl"].as_str())
        .expect("chromium has a page");
    let (mut devtools, _) = tokio_tungstenite::connect_async(page).await.unwrap();
    let mut next_id = 0;
    let mut call = async |method: &str, params: Value| -> Value {
        next_id += 1;
        let request = json!({"id": next_id, "method": method, "params": params});
        devtools
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
        loop {
            let Some(Ok(Message::Text(text))) = devtools.next().await else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == next_id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    };
    call("Page.navigate", json!({ "url": url })).await;
    let started = Instant::now();
    let mut opened = Instant::now();
    let share = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // A page that connected but never received the screen (seen once in CI under the whole
        // suite's load) is opened again, as a user would reload it.
        if opened.elapsed() > Duration::from_secs(30) {
            call("Page.navigate", json!({ "url": url })).await;
            opened = Instant::now();
        }
        let shot = call("Page.captureScreenshot", json!({"format": "png"})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .unwrap();
        std::fs::write(path, &png).unwrap();
        let share = colour_share(&png, PROBE_COLOUR);
        // noVNC loads its scripts and connects first; on a loaded 2-core machine (the whole
        // suite running) that took over 30 s once, so the wait is generous. A wait, not a timing.
        if share > 0.5 || started.elapsed() > Duration::from_mins(2) {
            break share;
        }
    };
    chromium.kill().await.unwrap();
    share
}

/// The share of a PNG's pixels within a small distance of `colour` (noVNC's scaling blends
/// edges, compression is lossless).
fn colour_share(png: &[u8], colour: [u8; 3]) -> f64 {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "a colour screenshot: {:?}", info.color_type);
    let pixels = &buffer[..info.buffer_size()];
    let total = pixels.len() / channels;
    let matching = pixels
        .chunks_exact(channels)
        .filter(|pixel| {
            pixel[..3]
                .iter()
                .zip(colour)
                .all(|(&channel, wanted)| channel.abs_diff(wanted) <= 8)
        })
        .count();
    #[expect(
        clippy::cast_precision_loss,
        reason = "pixel counts are far below 2^52"
    )]
    let share = matching as f64 / total as f64;
    share
}
