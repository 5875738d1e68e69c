//! Rebase benchmark, driven by `bench/rebase.sh`: ten datalabs (copies of `bench/reference-lab`:
//! numpy, astropy, matplotlib on `jl_base`, each with its own notebook text) are built on the
//! current bases, a patch release of `jl_base` is pushed (one more layer, the same interface), and
//! then, in the same run:
//!
//! - the baseline: rebuilding the ten onto the patched base, from BuildKit's and uv's warm caches
//!   (what a data centre does today when a base is patched);
//! - the rebase: `labforge rebase`'s image step for the ten (manifest and config rewritten onto the
//!   new base's layers, mounted, pushed).
//!
//! Neither side runs the smoke test or the notebooks, which cost the same after either.
//!
//! `rebase_bench [--labs 10]`

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, bail};
use labforge::base_images::{BASE_INTERFACE_LABEL, BASE_NAME_LABEL, BASE_VERSION_LABEL};
use labforge::build_log::BuildLog;
use labforge::buildkit::{BuildEngine, BuildRequest, ContextWriter};
use labforge::config::Config;
use labforge::images::{ImageReference, RegistryClient};
use labforge::pipeline::{BuildHistory, BuildSpec, Pipeline};
use labforge::rebase::image::{RebaseRequest, prepare_rebase};
use labforge::sources::Source;
use tokio_util::sync::CancellationToken;

fn labs() -> anyhow::Result<u32> {
    let mut words = std::env::args().skip(1);
    match (words.next().as_deref(), words.next()) {
        (None, _) => Ok(10),
        (Some("--labs"), Some(count)) => Ok(count.parse()?),
        (Some(other), _) => bail!("unknown argument {other}: use --labs N"),
    }
}

/// Builds every lab of `workspace` with `config`'s base version; their images.
async fn build_all(config: &Config, labs: &[std::path::PathBuf]) -> anyhow::Result<Vec<String>> {
    let pipeline = Pipeline::new(config.pipeline_settings()).await?;
    let mut images = Vec::new();
    for lab in labs {
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
        let outcome = pipeline
            .build(&spec, &BuildLog::new(), &CancellationToken::new())
            .await
            .with_context(|| format!("building {}", lab.display()))?;
        images.push(outcome.record.image);
    }
    Ok(images)
}

/// `jl_base` of `config` plus one layer, pushed as version `version` with the same interface.
async fn patch_jl_base(config: &Config, version: &str) -> anyhow::Result<()> {
    let BuildEngine::Dockerd(engine) =
        BuildEngine::connect(&config.engine, &config.registry).await?
    else {
        bail!("the benchmark builds with dockerd");
    };
    let current = config.registry.repository("jl_base");
    let interface = RegistryClient::with_credentials(config.registry.credentials())
        .image_manifest(
            &ImageReference::new(&current, &config.base_version),
            &config.base_version,
        )
        .await
        .map_err(anyhow::Error::msg)?
        .context("jl_base is not in the registry: run `labforge base-images`")?;
    let config_digest = interface.json["config"]["digest"]
        .as_str()
        .context("a config")?;
    let base_config: serde_json::Value = serde_json::from_slice(
        &RegistryClient::with_credentials(config.registry.credentials())
            .blob(&ImageReference::new(&current, ""), config_digest)
            .await
            .map_err(anyhow::Error::msg)?,
    )?;
    let interface = base_config["config"]["Labels"][BASE_INTERFACE_LABEL]
        .as_str()
        .context("jl_base declares no interface: run `labforge base-images`")?;
    let scratch = tempfile::tempdir()?;
    let mut context = ContextWriter::create(&scratch.path().join("context.tar"))?;
    let dockerfile = format!(
        "FROM {current}:{}\nUSER 0\nRUN echo {version} > /etc/labforge-patch\nUSER 1000\n",
        config.base_version
    );
    context.add_file("Dockerfile", dockerfile.as_bytes(), 0o644)?;
    let request = BuildRequest {
        context: context.finish()?,
        dockerfile: "Dockerfile".to_owned(),
        build_args: BTreeMap::new(),
        labels: BTreeMap::from([
            (BASE_NAME_LABEL.to_owned(), "jl_base".to_owned()),
            (BASE_VERSION_LABEL.to_owned(), version.to_owned()),
            (BASE_INTERFACE_LABEL.to_owned(), interface.to_owned()),
        ]),
        image: ImageReference::new(current, version),
        cache_key: None,
    };
    engine
        .build_and_push(&request, &BuildLog::new(), &CancellationToken::new())
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    labforge::install_crypto_provider();
    let count = labs()?;
    let mut config = Config::load()?;
    let work = tempfile::tempdir()?;
    config.data_dir = work.path().join("data");
    config.sources.workspace_root = work.path().join("workspace");
    let run = format!("{:x}", std::process::id());
    let reference = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/reference-lab");
    let mut labs = Vec::new();
    for index in 0..count {
        let lab = config.sources.workspace_root.join(format!("lab-{index}"));
        std::fs::create_dir_all(&lab)?;
        for file in ["requirements.txt", "analysis.ipynb"] {
            std::fs::copy(reference.join(file), lab.join(file))?;
        }
        let metadata = std::fs::read_to_string(reference.join("metadata.yaml"))?.replace(
            "alternateName: bench-reference-lab",
            &format!("alternateName: bench-rebase-{run}-{index}"),
        );
        std::fs::write(lab.join("metadata.yaml"), metadata)?;
        std::fs::write(lab.join("README.md"), format!("Lab {index} of run {run}\n"))?;
        labs.push(lab);
    }
    eprintln!("building {count} labs on jl_base {}", config.base_version);
    let images = build_all(&config, &labs).await?;
    let patch = format!("{}-patch.{run}", config.base_version);
    eprintln!("pushing jl_base {patch}");
    patch_jl_base(&config, &patch).await?;

    let mut patched = config.clone();
    patched.base_version.clone_from(&patch);
    let started = Instant::now();
    build_all(&patched, &labs).await?;
    let rebuild = started.elapsed().as_secs_f64();

    let registry = RegistryClient::with_credentials(config.registry.credentials());
    let started = Instant::now();
    let mut own_layers = 0;
    for image in &images {
        let (repository, tag) = image.rsplit_once(':').context("images have tags")?;
        let current = ImageReference::new(repository, tag);
        let digest = registry
            .manifest_digest(&current)
            .await
            .map_err(anyhow::Error::msg)?
            .context("the built image is in the registry")?;
        let request = RebaseRequest {
            image: &current,
            digest: &digest,
            base_version: &patch,
        };
        let prepared = prepare_rebase(&registry, &config.registry, &request).await?;
        let target = ImageReference::new(repository, format!("{tag}-rebased"));
        own_layers += prepared.push(&registry, &target).await?.own_layers.len();
    }
    let rebase = started.elapsed().as_secs_f64();
    println!(
        "{count} datalabs moved from jl_base {} to {patch}",
        config.base_version
    );
    println!(
        "  rebuild from warm caches (baseline): {rebuild:8.2} s ({:.2} s each)",
        rebuild / f64::from(count)
    );
    println!(
        "  rebase:                              {rebase:8.2} s ({:.3} s each, {own_layers} own layers kept)",
        rebase / f64::from(count)
    );
    println!(
        "  rebase is {:.1}x faster (target: at least 10x)",
        rebuild / rebase
    );
    Ok(())
}
