//! SBOM benchmark, driven by `bench/sbom.sh`: builds the reference lab (`bench/reference-lab`:
//! numpy, astropy, matplotlib on `jl_base`) into the configured registry, or takes `--image`, then
//! times, in the same run and over the same layers:
//!
//! - the baseline: downloading every layer from the registry and decompressing it, reading nothing;
//! - the SBOM: the same download and decompression, reading the METADATA, dpkg status and
//!   copyright files out of the tar stream, parsing them, the SPDX document and the licence report
//!   (without attaching it, which the build does once), by a collector that has read nothing
//!   (cold) and by one that has read `jl_base` before (its layers cached by digest, as in a service
//!   after its first datalab on that base).
//!
//! `sbom_bench [--image registry/repository:tag] [--rounds 5] [--write sbom.spdx.json]`

use std::io::Read as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::{StreamExt as _, TryStreamExt as _};
use labforge::build_log::BuildLog;
use labforge::config::Config;
use labforge::evidence::{EvidenceCollector, licence_report, spdx};
use labforge::images::{ImageReference, RegistryClient};
use labforge::pipeline::{BuildHistory, BuildSpec, Pipeline};
use labforge::sources::Source;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

struct Arguments {
    image: Option<String>,
    rounds: usize,
    write: Option<std::path::PathBuf>,
}

fn arguments() -> anyhow::Result<Arguments> {
    let mut parsed = Arguments {
        image: None,
        rounds: 5,
        write: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = || {
            words
                .next()
                .with_context(|| format!("{word} needs a value"))
        };
        match word.as_str() {
            "--image" => parsed.image = Some(value()?),
            "--rounds" => parsed.rounds = value()?.parse()?,
            "--write" => parsed.write = Some(value()?.into()),
            other => bail!("unknown argument {other}: use --image, --rounds or --write"),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    labforge::install_crypto_provider();
    let arguments = arguments()?;
    let mut config = Config::load()?;
    let work = tempfile::tempdir()?;
    let registry = RegistryClient::with_credentials(config.registry.credentials());
    let image = if let Some(image) = arguments.image {
        image
    } else {
        config.data_dir = work.path().join("data");
        config.sources.workspace_root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let pipeline = Pipeline::new(config.pipeline_settings()).await?;
        let spec = BuildSpec {
            source: Source::Workspace {
                root: config.sources.workspace_root.clone(),
                path: config.sources.workspace_root.join("bench/reference-lab"),
            },
            name: None,
            kind: None,
            smoke_test: false,
            history: BuildHistory::Index,
        };
        let log = BuildLog::new();
        let outcome = pipeline
            .build(&spec, &log, &CancellationToken::new())
            .await
            .context("building the reference lab")?;
        outcome.record.image
    };
    let (repository, tag) = image.rsplit_once(':').context("--image needs a :tag")?;
    let reference = ImageReference::new(repository, tag);
    let digest = registry
        .manifest_digest(&reference)
        .await
        .map_err(anyhow::Error::msg)?
        .with_context(|| format!("{image} is not in the registry"))?;

    // The base the lab builds on: a service reads its layers once, for its first datalab on it.
    let base = ImageReference::new(config.registry.repository("jl_base"), &config.base_version);
    let base_digest = registry
        .manifest_digest(&base)
        .await
        .map_err(anyhow::Error::msg)?
        .context("jl_base is not in the registry: run `labforge base-images`")?;
    let mut baseline = Vec::new();
    let mut cold_times = Vec::new();
    let mut warm_times = Vec::new();
    let mut restarted_times = Vec::new();
    let mut last = None;
    for _ in 0..arguments.rounds {
        let started = Instant::now();
        let bytes = read_layers(&registry, &reference, &digest).await?;
        baseline.push((started.elapsed(), bytes));

        // Cold: a collector that has read nothing yet.
        let collector = EvidenceCollector::new(registry.clone());
        let started = Instant::now();
        sbom(&collector, &reference, &digest).await?;
        cold_times.push(started.elapsed());

        // Warm: a collector that has read jl_base before (as after any other datalab on it).
        let collector = EvidenceCollector::new(registry.clone());
        collector.inventory(&base, &base_digest).await?;
        let started = Instant::now();
        last = Some(sbom(&collector, &reference, &digest).await?);
        warm_times.push(started.elapsed());

        restarted_times
            .push(restarted(&registry, (&base, &base_digest), (&reference, &digest)).await?);
    }
    let (document, report) = last.context("--rounds must be at least 1")?;
    if let Some(path) = &arguments.write {
        std::fs::write(path, serde_json::to_vec_pretty(&document)?)?;
    }
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2].as_secs_f64()
    };
    let uncompressed = baseline.first().map_or(0, |(_, bytes)| *bytes);
    println!("SBOM of {image} ({digest})");
    println!(
        "  {} Python distributions, {} Debian packages ({} from {}), {} licence flags, {} packages in the document",
        report.python_distributions,
        report.debian_packages,
        report.from_base,
        report.base.as_deref().unwrap_or("no base"),
        report.flags.len(),
        document["packages"].as_array().map_or(0, Vec::len)
    );
    println!(
        "  baseline: read the layers without parsing ({} MB uncompressed)   median {:.2} s over {} rounds",
        uncompressed / 1_000_000,
        median(baseline.into_iter().map(|(time, _)| time).collect()),
        arguments.rounds
    );
    println!(
        "  SBOM, cold: read, parse, SPDX document, licence report             median {:.2} s",
        median(cold_times)
    );
    println!(
        "  SBOM, jl_base's layers read before (every datalab after the first) median {:.2} s   target < 2 s",
        median(warm_times)
    );
    println!(
        "  SBOM, after a restart, jl_base's layers kept in the data folder    median {:.2} s",
        median(restarted_times)
    );
    Ok(())
}

/// The SBOM of `image` by a new collector on a data folder where an earlier collector kept the
/// layers of `base` (as after a restart), and how long it took.
async fn restarted(
    registry: &RegistryClient,
    (base, base_digest): (&ImageReference, &str),
    (image, digest): (&ImageReference, &str),
) -> anyhow::Result<Duration> {
    let store = tempfile::tempdir()?;
    EvidenceCollector::new(registry.clone())
        .with_layer_store(store.path().to_owned())
        .inventory(base, base_digest)
        .await?;
    let collector =
        EvidenceCollector::new(registry.clone()).with_layer_store(store.path().to_owned());
    let started = Instant::now();
    sbom(&collector, image, digest).await?;
    Ok(started.elapsed())
}

/// The SPDX document and licence report of `image`, as the build makes them (not attached).
async fn sbom(
    collector: &EvidenceCollector,
    image: &ImageReference,
    digest: &str,
) -> anyhow::Result<(Value, labforge::evidence::LicenceReport)> {
    let inventory = collector.inventory(image, digest).await?;
    let document = spdx::document(
        &spdx::DescribedImage {
            repository: &image.repository,
            tag: &image.tag,
            digest,
            created: inventory.created,
        },
        &inventory.packages,
    );
    let base = collector.base_packages(image, &inventory).await;
    Ok((document, licence_report(&inventory.packages, base.as_ref())))
}

/// Downloads and decompresses every layer of the image manifest `digest`, two at a time as the
/// evidence collector does, and returns the uncompressed size.
async fn read_layers(
    registry: &RegistryClient,
    image: &ImageReference,
    digest: &str,
) -> anyhow::Result<u64> {
    let (_, manifest) = registry
        .manifest(image, digest)
        .await
        .map_err(anyhow::Error::msg)?
        .context("no manifest")?;
    let manifest: Value = serde_json::from_slice(&manifest)?;
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .context("not an image manifest")?
        .iter()
        .filter_map(|layer| layer["digest"].as_str().map(str::to_owned))
        .collect();
    let sizes: Vec<u64> = futures_util::stream::iter(layers)
        .map(|layer| async move {
            let blob = registry
                .blob(image, &layer)
                .await
                .map_err(anyhow::Error::msg)?;
            tokio::task::spawn_blocking(move || {
                let mut decoder = flate2::read::GzDecoder::new(&blob[..]);
                let mut buffer = vec![0; 1 << 16];
                let mut total = 0;
                loop {
                    let read = decoder.read(&mut buffer)?;
                    if read == 0 {
                        return anyhow::Ok(total);
                    }
                    total += read as u64;
                }
            })
            .await?
        })
        .buffered(2)
        .try_collect()
        .await?;
    Ok(sizes.iter().sum())
}
