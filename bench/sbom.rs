//! SBOM benchmark, driven by `bench/sbom.sh`: builds the reference lab (`bench/reference-lab`:
//! numpy, astropy, matplotlib on `jl_base`) into the configured registry, or takes `--image`, then
//! times, in the same run and over the same layers:
//!
//! - the baseline: downloading every layer from the registry and decompressing it, reading nothing;
//! - the SBOM: the same download and decompression, reading the METADATA, dpkg status and
//!   copyright files out of the tar stream, parsing them, the SPDX document and the licence report
//!   (without attaching it, which the build does once).
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

    let collector = EvidenceCollector::new(registry.clone());
    let mut baseline = Vec::new();
    let mut sbom_times = Vec::new();
    let mut last = None;
    for _ in 0..arguments.rounds {
        let started = Instant::now();
        let bytes = read_layers(&registry, &reference, &digest).await?;
        baseline.push((started.elapsed(), bytes));

        let started = Instant::now();
        let inventory = collector.inventory(&reference, &digest).await?;
        let document = spdx::document(
            &spdx::DescribedImage {
                repository,
                tag,
                digest: &digest,
                created: inventory.created,
            },
            &inventory.packages,
        );
        let report = licence_report(&inventory.packages);
        sbom_times.push(started.elapsed());
        last = Some((document, report));
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
        "  {} Python distributions, {} Debian packages, {} licence flags, {} packages in the document",
        report.python_distributions,
        report.debian_packages,
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
        "  SBOM: read, parse, SPDX document, licence report                   median {:.2} s   target < 2 s",
        median(sbom_times)
    );
    Ok(())
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
