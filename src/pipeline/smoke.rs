//! The smoke test: start the built image, wait until its health endpoint answers 200, stop it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StartContainerOptions,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::build_log::{BuildLog, Phase};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmokeTestResult {
    pub passed: bool,
    pub health_url_path: String,
    pub detail: String,
    pub seconds_to_healthy: Option<f64>,
}

/// Runs `image` with `port` published on loopback and probes `health_path` until `timeout`.
pub async fn smoke_test(
    docker: &Docker,
    image: &str,
    port: u16,
    health_path: &str,
    timeout: Duration,
    log: &BuildLog,
) -> Result<SmokeTestResult, bollard::errors::Error> {
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
        timeout,
        log,
    )
    .await;
    if !result.as_ref().is_ok_and(|result| result.passed) {
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
    docker
        .remove_container(
            &container,
            Some(RemoveContainerOptions {
                force: true,
                ..RemoveContainerOptions::default()
            }),
        )
        .await?;
    result
}

async fn probe(
    docker: &Docker,
    container: &str,
    container_port: &str,
    health_path: &str,
    timeout: Duration,
    log: &BuildLog,
) -> Result<SmokeTestResult, bollard::errors::Error> {
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
                log.write(
                    Phase::SmokeTest,
                    format!(
                        "{health_path} answered {} after {seconds:.1}s",
                        response.status()
                    ),
                );
                return Ok(SmokeTestResult {
                    passed: true,
                    health_url_path: health_path.to_owned(),
                    detail: format!("{} after {seconds:.1}s", response.status()),
                    seconds_to_healthy: Some(seconds),
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

fn failed(health_path: &str, detail: String) -> SmokeTestResult {
    SmokeTestResult {
        passed: false,
        health_url_path: health_path.to_owned(),
        detail,
        seconds_to_healthy: None,
    }
}
