//! Build pipeline benchmark: the reference lab (numpy, astropy, matplotlib, one notebook) on
//! `jl_base`, labforge end to end (source folder to image in the registry) against two
//! conventional Dockerfiles solved by the same BuildKit, all measured in this run.
//!
//! Run with `bash bench/build.sh` (it starts dockerd and labforge's registry and builds the bases first).
//! Every "cold" row starts from an empty BuildKit cache (the whole build cache of this dockerd is
//! pruned, download caches included), so every column downloads its packages from the index.
//! B's cold build runs twice, first and last, and the faster is the baseline: it is mostly PyPI
//! downloads, whose speed varies. labforge's builds find `jl_base`'s layers read for the evidence
//! in the data folder, as a service that has built on `jl_base` before does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::query_parameters::PruneBuildOptions;
use bollard_buildkit_proto::moby::buildkit::v1::PruneRequest;
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use labforge::build_log::BuildLog;
use labforge::buildkit::{
    BuildEngine, BuildRequest, ContextWriter, DockerdEngine, LayerCompression,
};
use labforge::config::Config;
use labforge::evidence::{EvidenceCollector, LAYER_STORE_FOLDER};
use labforge::images::{ImageReference, RegistryClient};
use labforge::pipeline::{BuildHistory, BuildSpec, Pipeline};
use labforge::recipe::generate::CA_BUNDLE_IN_CONTEXT;
use labforge::sources::Source;
use tokio_util::sync::CancellationToken;

/// The requirement the "one requirement added" row appends.
const ADDED_REQUIREMENT: &str = "tqdm";

const BASELINE_A: &str = "\
ARG REGISTRY
ARG JL_BASE_VERSION
FROM ${REGISTRY}/datalabs/jl_base:${JL_BASE_VERSION}
WORKDIR /home/datalab/lab
COPY --chown=1000:1000 . .
RUN --mount=type=bind,source=.labforge/ca-certificates.crt,target=/run/labforge/ca.crt \\
    PIP_CERT=/run/labforge/ca.crt pip install --no-cache-dir -r requirements.txt
";

const BASELINE_B: &str = "\
ARG REGISTRY
ARG JL_BASE_VERSION
FROM ${REGISTRY}/datalabs/jl_base:${JL_BASE_VERSION}
WORKDIR /home/datalab/lab
COPY --chown=1000:1000 requirements.txt .
RUN --mount=type=bind,source=.labforge/ca-certificates.crt,target=/run/labforge/ca.crt \\
    PIP_CERT=/run/labforge/ca.crt pip install --no-cache-dir -r requirements.txt
COPY --chown=1000:1000 . .
";

struct Scenario {
    cold: Duration,
    notebook_edited: Duration,
    requirement_added: Duration,
    nothing_changed: Option<Duration>,
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let mut config = Config::load()?;
    config.data_dir = work.path().join("data");
    config.sources.workspace_root = work.path().join("workspace");
    let engine = DockerdEngine::connect(&config.engine.docker_host)
        .await?
        .with_registry_account(&config.registry.address, config.registry.credentials());
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/reference-lab");

    let a = baseline(&engine, &config, &reference, "a", BASELINE_A).await?;
    let mut b = baseline(&engine, &config, &reference, "b", BASELINE_B).await?;
    hold_base_evidence(&config).await?;
    let (labforge, image) = labforge_runs(&engine, &config, &reference).await?;
    let standalone = match std::env::var("LABFORGE_BENCH_BUILDKITD") {
        Ok(address) => {
            Some(Box::pin(standalone_runs(&engine, &config, &reference, &address)).await?)
        }
        Err(_) => None,
    };
    // B's cold build is mostly downloads from PyPI, whose speed varies from minute to minute:
    // it is measured again after everything else, and the faster of the two is the baseline.
    let b_first = b.cold;
    let again = Baseline::on_copy(&engine, &config, &reference, "b", BASELINE_B, "again")?;
    let b_again = again.solve_cold("cold-again").await?;
    b.cold = b_first.min(b_again);

    let seconds = |duration: Duration| format!("{:>8.2}", duration.as_secs_f64());
    println!("\nreference lab (numpy, astropy, matplotlib + 1 notebook) on jl_base, seconds");
    println!(
        "{:<26}{:>10}{:>10}{:>10}   target",
        "scenario", "A", "B", "labforge"
    );
    let row = |name: &str, a: Duration, b: Duration, ours: Duration, target: String| {
        println!(
            "{name:<26}  {}  {}  {}   {target}",
            seconds(a),
            seconds(b),
            seconds(ours)
        );
    };
    let ratio = |baseline: Duration, ours: Duration| baseline.as_secs_f64() / ours.as_secs_f64();
    row(
        "cold",
        a.cold,
        b.cold,
        labforge.cold,
        format!(">= 2x faster than B: {:.1}x", ratio(b.cold, labforge.cold)),
    );
    row(
        "notebook edited",
        a.notebook_edited,
        b.notebook_edited,
        labforge.notebook_edited,
        format!(
            ">= 10x faster than A: {:.1}x",
            ratio(a.notebook_edited, labforge.notebook_edited)
        ),
    );
    row(
        &format!("requirement added ({ADDED_REQUIREMENT})"),
        a.requirement_added,
        b.requirement_added,
        labforge.requirement_added,
        format!(
            ">= 3x faster than B: {:.1}x",
            ratio(b.requirement_added, labforge.requirement_added)
        ),
    );
    let unchanged = labforge.nothing_changed.expect("labforge measures it");
    println!(
        "{:<26}  {:>8}  {:>8}  {}   < 0.5 s",
        "nothing changed",
        "-",
        "-",
        seconds(unchanged)
    );
    println!(
        "(A and B: BuildKit solve only, image left in dockerd; labforge: source folder to image pushed)"
    );
    println!(
        "(B cold: {:.2} s first, {:.2} s again after every other build; the faster is the baseline)",
        b_first.as_secs_f64(),
        b_again.as_secs_f64()
    );

    let inspected = engine.docker().inspect_image(&image).await?;
    let layers = inspected
        .root_fs
        .and_then(|root| root.layers)
        .map_or(0, |layers| layers.len());
    let size = inspected.size.unwrap_or_default();
    #[expect(clippy::cast_precision_loss, reason = "a size in MB for display")]
    let megabytes = size as f64 / 1e6;
    println!("labforge image: {image}, {megabytes:.0} MB, {layers} layers");

    match standalone {
        Some(rows) => print_standalone(&rows, b.cold),
        None => println!(
            "\n(no standalone engine: set LABFORGE_BENCH_BUILDKITD, as bench/build.sh does)"
        ),
    }
    Ok(())
}

/// The labforge cold build on a standalone buildkitd, for one layer compression.
struct StandaloneRow {
    compression: LayerCompression,
    cold: Duration,
    layers: usize,
    /// Bytes of all the image's layers as stored and moved (compressed as pushed).
    total_bytes: u64,
    /// Bytes of the layers the build made (the rest are the base's, shared).
    built_bytes: u64,
    docker_pull: Result<Duration, String>,
    podman_pull: Result<Duration, String>,
}

fn print_standalone(rows: &[StandaloneRow], baseline_b: Duration) {
    let megabytes = |bytes: u64| {
        #[expect(clippy::cast_precision_loss, reason = "a size in MB for display")]
        let megabytes = bytes as f64 / 1e6;
        format!("{megabytes:>8.0}")
    };
    let pull = |pulled: &Result<Duration, String>| match pulled {
        Ok(duration) => format!("{:>8.2}", duration.as_secs_f64()),
        Err(_) => format!("{:>8}", "fails"),
    };
    println!(
        "\nstandalone buildkitd, labforge cold build by layer compression (B cold on dockerd, the faster of two: {:.2} s)",
        baseline_b.as_secs_f64()
    );
    println!(
        "{:<14}{:>9}{:>9}{:>8}{:>10}{:>10}{:>10}{:>10}",
        "compression", "cold s", "vs B", "layers", "image MB", "built MB", "docker s", "podman s"
    );
    for row in rows {
        println!(
            "{:<14}{:>9.2}{:>8.1}x{:>8}{:>10}{:>10}{:>10}{:>10}",
            row.compression.name(),
            row.cold.as_secs_f64(),
            baseline_b.as_secs_f64() / row.cold.as_secs_f64(),
            row.layers,
            megabytes(row.total_bytes),
            megabytes(row.built_bytes),
            pull(&row.docker_pull),
            pull(&row.podman_pull),
        );
    }
    println!(
        "(cold: from an empty buildkitd cache holding only the base, as dockerd's after its \
         prune, and no registry cache; source folder to image pushed; target >= 2x faster than B. \
         docker s: pull of the built layers into dockerd, which holds the base; podman s: pull of \
         the whole image into an empty podman store)"
    );
    for row in rows {
        for (client, pulled) in [("docker", &row.docker_pull), ("podman", &row.podman_pull)] {
            if let Err(error) = pulled {
                println!(
                    "{} pull by {client} failed: {error}",
                    row.compression.name()
                );
            }
        }
    }
}

/// One cold labforge build per layer compression on the buildkitd at `address`, each from an
/// empty engine cache and under a datalab name of its own (so no registry cache either), then
/// the image's layers and its pull by docker and podman.
async fn standalone_runs(
    engine: &DockerdEngine,
    config: &Config,
    reference: &Path,
    address: &str,
) -> anyhow::Result<Vec<StandaloneRow>> {
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let registry = RegistryClient::with_credentials(config.registry.credentials());
    let base = ImageReference::new(
        format!("{}/datalabs/jl_base", config.registry.address),
        config.base_version.clone(),
    );
    let base_layers: Vec<String> = layer_sizes(&registry, &base)
        .await?
        .into_iter()
        .map(|(digest, _)| digest)
        .collect();
    // Every build first, the pulls after: a pull's writes to disk would otherwise still be
    // going out during the next build.
    let mut built = Vec::new();
    for compression in LayerCompression::ALL {
        let mut config = config.clone();
        config.engine.buildkitd = Some(address.to_owned());
        config.engine.layer_compression = compression;
        // No local dockerd for the pipeline (it would only smoke-test, which the benchmark does
        // not, and this one cannot read zstd): the pulls below are measured on their own.
        "unix:///nonexistent/docker.sock".clone_into(&mut config.engine.docker_host);
        prune_buildkitd(address).await?;
        hold_base(&config, &base, run).await?;
        let (cold, image) = standalone_cold_build(&config, reference, run).await?;
        built.push((compression, cold, image));
    }
    let mut rows = Vec::new();
    for (compression, cold, image) in built {
        let layers = layer_sizes(&registry, &image).await?;
        rows.push(StandaloneRow {
            compression,
            cold,
            layers: layers.len(),
            total_bytes: layers.iter().map(|(_, size)| size).sum(),
            built_bytes: layers
                .iter()
                .filter(|(digest, _)| !base_layers.contains(digest))
                .map(|(_, size)| size)
                .sum(),
            docker_pull: docker_pull(engine, &image).await,
            podman_pull: podman_pull(config, &image),
        });
    }
    Ok(rows)
}

/// The reference lab built by the pipeline of `config` under a name of its own, after writing
/// out what is waiting to go to disk; the time it took and the image.
async fn standalone_cold_build(
    config: &Config,
    reference: &Path,
    run: u64,
) -> anyhow::Result<(Duration, ImageReference)> {
    let compression = config.engine.layer_compression.name();
    let lab = fresh_copy(
        reference,
        &config
            .sources
            .workspace_root
            .join(format!("standalone-{compression}")),
    )?;
    let pipeline = Pipeline::new(config.pipeline_settings()).await?;
    let spec = BuildSpec {
        source: Source::Workspace {
            root: config.sources.workspace_root.clone(),
            path: lab,
        },
        name: Some(format!("bench-standalone-{compression}-{run}")),
        kind: None,
        smoke_test: false,
        history: BuildHistory::Index,
    };
    std::process::Command::new("sync").status()?;
    let log = BuildLog::new();
    let started = Instant::now();
    let outcome = pipeline
        .build(&spec, &log, &CancellationToken::new())
        .await?;
    let cold = started.elapsed();
    print_slow_steps(&log);
    print_pauses(&log, started);
    eprintln!(
        "standalone {compression}: {:.2}s (solve and push {:.2}s, evidence {:.2}s; {})",
        cold.as_secs_f64(),
        outcome.timings.solve,
        outcome.timings.evidence,
        outcome.record.image
    );
    let (repository, tag) = outcome
        .record
        .image
        .rsplit_once(':')
        .expect("an image reference has a tag");
    Ok((cold, ImageReference::new(repository, tag)))
}

/// The BuildKit steps of `log` that took half a second or more, with their names.
fn print_slow_steps(log: &BuildLog) {
    let lines: Vec<String> = log.lines().into_iter().map(|line| line.text).collect();
    for line in &lines {
        let mut words = line.split_whitespace();
        let (Some(number), Some("DONE"), Some(seconds)) =
            (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let seconds: f64 = seconds.trim_end_matches('s').parse().unwrap_or(0.0);
        if seconds >= 0.5 {
            let name = lines
                .iter()
                .find(|other| other.starts_with(&format!("{number} ")) && !other.contains(" DONE "))
                .map_or("", String::as_str);
            eprintln!(
                "  {seconds:>5.1}s {}",
                name.chars().take(100).collect::<String>()
            );
        }
    }
}

/// Every pause of half a second or more between two lines of `log`, with both lines and when
/// they came after `started`: time that no step reports shows up here.
#[expect(
    clippy::cast_precision_loss,
    reason = "milliseconds of a build, for display"
)]
fn print_pauses(log: &BuildLog, started: Instant) {
    let lines = log.lines();
    let Some(first) = lines.first() else { return };
    let offset = chrono::Utc::now() - started.elapsed();
    let at =
        |line: &labforge::build_log::LogLine| (line.at - offset).num_milliseconds() as f64 / 1000.0;
    eprintln!("  first line at {:.2}s: {}", at(first), first.text);
    for pair in lines.windows(2) {
        let pause = (pair[1].at - pair[0].at).num_milliseconds();
        if pause >= 500 {
            eprintln!(
                "  pause {:.2}s after {:.2}s: {} -> {}",
                pause as f64 / 1000.0,
                at(&pair[0]),
                pair[0].text.chars().take(70).collect::<String>(),
                pair[1].text.chars().take(70).collect::<String>()
            );
        }
    }
}

/// Has the engine of `config` pull and unpack the base `base`, as dockerd holds it after its
/// prune: the cold rows then compare environments built from nothing on the same base.
async fn hold_base(config: &Config, base: &ImageReference, run: u64) -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let mut context = ContextWriter::create(&folder.path().join("context.tar"))?;
    context.add_file(
        "Dockerfile",
        format!("FROM {base}\nRUN true\n").as_bytes(),
        0o644,
    )?;
    let request = BuildRequest {
        context: context.finish()?,
        dockerfile: "Dockerfile".into(),
        build_args: BTreeMap::new(),
        labels: BTreeMap::new(),
        // A repository of its own each time: the engine imports the registry cache of the
        // image's repository, and a `RUN true` found there would leave the base unpacked.
        image: ImageReference::new(
            format!(
                "{}/labforge-bench/base-held-{run}-{}",
                config.registry.address,
                config.engine.layer_compression.name()
            ),
            "held",
        ),
        cache_key: None,
    };
    BuildEngine::connect(&config.engine, &config.registry)
        .await?
        .build_and_push(&request, &BuildLog::new(), &CancellationToken::new())
        .await?;
    Ok(())
}

/// The digest and size of each layer of `image`, as its manifest lists them.
async fn layer_sizes(
    registry: &RegistryClient,
    image: &ImageReference,
) -> anyhow::Result<Vec<(String, u64)>> {
    let manifest = registry
        .image_manifest(image, &image.tag)
        .await
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| anyhow::anyhow!("the registry has no {image}"))?;
    Ok(manifest.json["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|layer| {
            (
                layer["digest"].as_str().unwrap_or_default().to_owned(),
                layer["size"].as_u64().unwrap_or_default(),
            )
        })
        .collect())
}

/// Empties the buildkitd's whole cache, download caches included.
async fn prune_buildkitd(address: &str) -> anyhow::Result<()> {
    let endpoint = address.replacen("tcp://", "http://", 1);
    let mut control = ControlClient::connect(endpoint).await?;
    let mut pruned = control
        .prune(PruneRequest {
            all: true,
            ..PruneRequest::default()
        })
        .await?
        .into_inner();
    while pruned.message().await?.is_some() {}
    Ok(())
}

/// How long dockerd (which holds the base) takes to pull `image`. dockerd keeps layers by
/// their uncompressed digest, and environment layers are reproducible, so every standalone image
/// it holds (from this run's other rows or an earlier run) is removed first, and this one after.
async fn docker_pull(engine: &DockerdEngine, image: &ImageReference) -> Result<Duration, String> {
    let docker = engine.docker();
    let held = docker
        .list_images(None::<bollard::query_parameters::ListImagesOptions>)
        .await
        .map_err(|error| error.to_string())?;
    let prefix = image
        .repository
        .rsplit_once("bench-standalone-")
        .map_or(image.repository.as_str(), |(prefix, _)| prefix)
        .to_owned()
        + "bench-standalone-";
    let remove = async |name: &str| {
        docker
            .remove_image(
                name,
                Some(bollard::query_parameters::RemoveImageOptions {
                    force: true,
                    ..Default::default()
                }),
                None,
            )
            .await
            .map_err(|error| error.to_string())
    };
    for tag in held.iter().flat_map(|summary| &summary.repo_tags) {
        if tag.starts_with(&prefix) {
            remove(tag).await?;
        }
    }
    let started = Instant::now();
    engine
        .pull(image)
        .await
        .map_err(|error| error.to_string())?;
    let elapsed = started.elapsed();
    remove(&image.to_string()).await?;
    Ok(elapsed)
}

/// How long podman takes to pull `image` into an empty store.
fn podman_pull(config: &Config, image: &ImageReference) -> Result<Duration, String> {
    let podman = |arguments: &[&str]| {
        std::process::Command::new("podman")
            .args(arguments)
            .output()
            .map_err(|error| format!("podman: {error}"))
    };
    podman(&["rmi", "--all", "--force"])?;
    let credentials = config
        .registry
        .credentials()
        .map(|account| format!("{}:{}", account.username, account.password))
        .unwrap_or_default();
    let reference = image.to_string();
    let mut arguments = vec!["pull", "--quiet", "--tls-verify=false"];
    if !credentials.is_empty() {
        arguments.extend(["--creds", credentials.as_str()]);
    }
    arguments.push(&reference);
    let started = Instant::now();
    let output = podman(&arguments)?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    podman(&["rmi", "--all", "--force"])?;
    Ok(elapsed)
}

async fn prune(engine: &DockerdEngine) -> anyhow::Result<()> {
    engine
        .docker()
        .prune_build(Some(PruneBuildOptions {
            all: Some(true),
            ..PruneBuildOptions::default()
        }))
        .await?;
    Ok(())
}

/// A lab folder the runs below edit: a copy of the reference lab.
fn fresh_copy(reference: &Path, target: &Path) -> anyhow::Result<PathBuf> {
    if target.exists() {
        std::fs::remove_dir_all(target)?;
    }
    std::fs::create_dir_all(target)?;
    for entry in std::fs::read_dir(reference)? {
        let entry = entry?;
        std::fs::copy(entry.path(), target.join(entry.file_name()))?;
    }
    Ok(target.to_owned())
}

fn edit_notebook(lab: &Path) -> anyhow::Result<()> {
    let notebook = lab.join("analysis.ipynb");
    let text = std::fs::read_to_string(&notebook)?;
    std::fs::write(
        &notebook,
        text.replace("np.linspace(1, 10, 10)", "np.linspace(1, 20, 20)"),
    )?;
    Ok(())
}

fn add_requirement(lab: &Path) -> anyhow::Result<()> {
    let path = lab.join("requirements.txt");
    let text = std::fs::read_to_string(&path)?;
    std::fs::write(&path, format!("{text}{ADDED_REQUIREMENT}\n"))?;
    Ok(())
}

async fn baseline(
    engine: &DockerdEngine,
    config: &Config,
    reference: &Path,
    name: &str,
    dockerfile: &str,
) -> anyhow::Result<Scenario> {
    let baseline = Baseline::on_copy(engine, config, reference, name, dockerfile, "first")?;
    let cold = baseline.solve_cold("cold").await?;
    edit_notebook(&baseline.lab)?;
    let notebook_edited = baseline.solve("notebook-edited").await?;
    add_requirement(&baseline.lab)?;
    let requirement_added = baseline.solve("requirement-added").await?;
    Ok(Scenario {
        cold,
        notebook_edited,
        requirement_added,
        nothing_changed: None,
    })
}

/// `jl_base`'s layers read into the evidence's layer store of the data folder, as a service that
/// has built any datalab on `jl_base` holds them (as its engine holds the base unpacked): labforge's
/// cold builds below read only their own layers for the evidence.
async fn hold_base_evidence(config: &Config) -> anyhow::Result<()> {
    let registry = RegistryClient::with_credentials(config.registry.credentials());
    let base = ImageReference::new(
        format!("{}/datalabs/jl_base", config.registry.address),
        config.base_version.clone(),
    );
    let digest = registry
        .manifest_digest(&base)
        .await
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| anyhow::anyhow!("{base} is not in the registry"))?;
    EvidenceCollector::new(registry)
        .with_layer_store(config.data_dir.join(LAYER_STORE_FOLDER))
        .inventory(&base, &digest)
        .await?;
    Ok(())
}

/// A baseline Dockerfile solved by dockerd's BuildKit on a copy of the reference lab at `lab`,
/// each image left in dockerd.
struct Baseline<'a> {
    engine: &'a DockerdEngine,
    config: &'a Config,
    lab: PathBuf,
    name: &'a str,
    dockerfile: &'a str,
}

impl<'a> Baseline<'a> {
    /// The baseline `name` on a fresh copy of the reference lab, in the data folder's
    /// `baseline-<name>-<copy>`.
    fn on_copy(
        engine: &'a DockerdEngine,
        config: &'a Config,
        reference: &Path,
        name: &'a str,
        dockerfile: &'a str,
        copy: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            engine,
            config,
            lab: fresh_copy(
                reference,
                &config.data_dir.join(format!("baseline-{name}-{copy}")),
            )?,
            name,
            dockerfile,
        })
    }

    /// A solve from an empty cache, after writing out what is waiting to go to disk.
    async fn solve_cold(&self, step: &str) -> anyhow::Result<Duration> {
        prune(self.engine).await?;
        std::process::Command::new("sync").status()?;
        self.solve(step).await
    }

    async fn solve(&self, step: &str) -> anyhow::Result<Duration> {
        let (lab, name) = (&self.lab, self.name);
        let bundle = std::fs::read(&self.config.engine.ca_bundle)?;
        let mut context = ContextWriter::create(&lab.with_extension("tar"))?;
        context.add_folder(lab, Path::new(""))?;
        context.add_file("Dockerfile", self.dockerfile.as_bytes(), 0o644)?;
        context.add_file(CA_BUNDLE_IN_CONTEXT, &bundle, 0o644)?;
        let request = BuildRequest {
            context: context.finish()?,
            dockerfile: "Dockerfile".into(),
            build_args: BTreeMap::from([
                ("REGISTRY".into(), self.config.registry.address.clone()),
                ("JL_BASE_VERSION".into(), self.config.base_version.clone()),
            ]),
            labels: BTreeMap::new(),
            image: ImageReference::new(format!("labforge-bench/baseline-{name}"), step),
            cache_key: None,
        };
        let started = Instant::now();
        self.engine
            .build(&request, &BuildLog::new(), &CancellationToken::new())
            .await?;
        let elapsed = started.elapsed();
        eprintln!("baseline {name} {step}: {:.2}s", elapsed.as_secs_f64());
        Ok(elapsed)
    }
}

async fn labforge_runs(
    engine: &DockerdEngine,
    config: &Config,
    reference: &Path,
) -> anyhow::Result<(Scenario, String)> {
    let lab = fresh_copy(
        reference,
        &config.sources.workspace_root.join("reference-lab"),
    )?;
    let pipeline = Pipeline::new(config.pipeline_settings()).await?;
    let spec = BuildSpec {
        source: Source::Workspace {
            root: config.sources.workspace_root.clone(),
            path: lab.clone(),
        },
        name: None,
        kind: None,
        smoke_test: false,
        history: BuildHistory::Index,
    };
    let mut image = String::new();
    let mut build = async |step: &str| -> anyhow::Result<Duration> {
        let started = Instant::now();
        let outcome = pipeline
            .build(&spec, &BuildLog::new(), &CancellationToken::new())
            .await?;
        let elapsed = started.elapsed();
        eprintln!(
            "labforge {step}: {:.2}s ({}{})",
            elapsed.as_secs_f64(),
            outcome.record.image,
            if outcome.reused { ", reused" } else { "" }
        );
        image.clone_from(&outcome.record.image);
        Ok(elapsed)
    };
    prune(engine).await?;
    std::process::Command::new("sync").status()?;
    let cold = build("cold").await?;
    edit_notebook(&lab)?;
    let notebook_edited = build("notebook edited").await?;
    add_requirement(&lab)?;
    let requirement_added = build("requirement added").await?;
    let nothing_changed = build("nothing changed").await?;
    Ok((
        Scenario {
            cold,
            notebook_edited,
            requirement_added,
            nothing_changed: Some(nothing_changed),
        },
        image,
    ))
}
