//! Marketplace benchmark, driven by `bench/marketplace.sh`:
//!
//! - `marketplace_bench generate --database-url URL [--count 10000] [--seed 7]` fills a fresh
//!   database with users and datalabs of varied, realistic metadata (the same for the same seed,
//!   whatever the backend) and indexes them;
//! - `marketplace_bench load --url URL --server-pid PID --label NAME --out FILE` measures a running
//!   `labforge serve`: search latency one request at a time, then requests per second with several
//!   at once, and the server's resident memory (`VmRSS`) at rest before and after;
//! - `marketplace_bench report FILE...` prints the measurements side by side.
//!
//! Searches are a fixed mix: an empty query, one word, two words with a facet filter, and one word
//! sorted by stars. Words and facet values are taken from generated datalabs, as a user searches
//! for things that exist.

#[path = "../tests/common/datalabs.rs"]
#[expect(
    dead_code,
    reason = "the benchmark inserts datalabs; the tests' state and member helpers go unused"
)]
mod datalabs;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{TimeDelta, Utc};
use clap::{Parser, Subcommand};
use datalabs::DatalabFixture;
use labforge::storage::Database;
use labforge::storage::accounts::UserRow;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Parser)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Generate {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    Load {
        /// The server's base URL, like `http://127.0.0.1:5400`.
        #[arg(long)]
        url: String,
        /// The server process, whose resident memory is read from /proc.
        #[arg(long)]
        server_pid: u32,
        #[arg(long)]
        label: String,
        #[arg(long)]
        out: PathBuf,
        /// The datalabs generated, to draw search words from (same count and seed).
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Requests measured one at a time (after as many again to warm up).
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Requests in flight at once for the throughput measurement.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    Report {
        files: Vec<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    labforge::install_crypto_provider();
    match Arguments::parse().command {
        Command::Generate {
            database_url,
            count,
            seed,
        } => generate(&database_url, count, seed).await,
        Command::Load {
            url,
            server_pid,
            label,
            out,
            count,
            seed,
            requests,
            concurrency,
            seconds,
        } => {
            let searches = SearchMix::new(count, seed);
            let measurement = load(
                &url,
                server_pid,
                label,
                &searches,
                requests,
                concurrency,
                Duration::from_secs(seconds),
            )
            .await?;
            std::fs::write(&out, serde_json::to_string_pretty(&measurement)?)?;
            Ok(())
        }
        Command::Report { files } => report(&files),
    }
}

// ---- generated catalogue ----

/// splitmix64: small, seedable, and the same on every machine.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % bound as u64).expect("below a usize bound")
    }

    /// A float in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        #[expect(
            clippy::cast_precision_loss,
            reason = "53 random bits fit a float exactly"
        )]
        let value = (self.next() >> 11) as f64;
        value / 9_007_199_254_740_992.0 // 2^53
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An item with probability proportional to `1 / (rank + 4)`: a few popular, many rare.
    fn pick_popular<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        #[expect(clippy::cast_precision_loss, reason = "ranks are small")]
        let weights: Vec<f64> = (0..items.len())
            .map(|rank| 1.0 / (rank as f64 + 4.0))
            .collect();
        let mut target = self.unit() * weights.iter().sum::<f64>();
        for (item, weight) in items.iter().zip(&weights) {
            if target < *weight {
                return item;
            }
            target -= weight;
        }
        items.last().expect("a non-empty list")
    }

    fn pick_weighted<'a>(&mut self, items: &'a [(&'a str, u32)]) -> &'a str {
        let total: u32 = items.iter().map(|(_, weight)| weight).sum();
        let mut target = u32::try_from(self.below(total as usize)).expect("a small total");
        for (item, weight) in items {
            if target < *weight {
                return item;
            }
            target -= weight;
        }
        items[0].0
    }

    /// From `least` to `most` different items.
    fn pick_between<'a>(&mut self, items: &[&'a str], least: usize, most: usize) -> Vec<&'a str> {
        let count = least + self.below(most - least + 1);
        self.pick_distinct(items, count)
    }

    /// `count` different items.
    fn pick_distinct<'a>(&mut self, items: &[&'a str], count: usize) -> Vec<&'a str> {
        let mut chosen = Vec::new();
        while chosen.len() < count.min(items.len()) {
            let item = *self.pick_popular(items);
            if !chosen.contains(&item) {
                chosen.push(item);
            }
        }
        chosen
    }
}

const TOPICS: &[&str] = &[
    "galaxy",
    "exoplanet",
    "star",
    "cluster",
    "supernova",
    "quasar",
    "pulsar",
    "nebula",
    "asteroid",
    "comet",
    "magnetosphere",
    "ionosphere",
    "aurora",
    "sunspot",
    "flare",
    "corona",
    "plasma",
    "dust",
    "binary",
    "transient",
    "lensing",
    "redshift",
    "microwave",
    "neutrino",
    "accretion",
    "jet",
    "disc",
    "moon",
    "ring",
    "crater",
    "volcano",
    "glacier",
    "sea",
    "ocean",
    "salinity",
    "soil",
    "moisture",
    "vegetation",
    "forest",
    "crop",
    "wildfire",
    "flood",
    "drought",
    "aerosol",
    "cloud",
    "ozone",
    "methane",
    "carbon",
    "albedo",
    "radiation",
    "wind",
    "tide",
    "wetland",
    "coastline",
    "snow",
    "permafrost",
    "atmosphere",
    "climate",
    "gravity",
    "geoid",
    "earthquake",
    "landslide",
    "iceberg",
    "sediment",
    "reef",
    "plankton",
    "algae",
    "lightning",
    "storm",
    "hurricane",
    "monsoon",
    "heatwave",
    "urban",
    "nightlight",
    "ship",
    "orbit",
    "debris",
    "meteor",
    "exosphere",
    "heliosphere",
    "cosmic",
    "void",
    "filament",
    "halo",
    "bulge",
    "bar",
    "spiral",
    "elliptical",
    "dwarf",
    "globular",
    "open",
    "protostar",
    "brown",
    "white",
    "neutron",
    "magnetar",
    "blazar",
    "seyfert",
];
const METHODS: &[&str] = &[
    "photometry",
    "spectroscopy",
    "astrometry",
    "polarimetry",
    "interferometry",
    "calibration",
    "classification",
    "segmentation",
    "regression",
    "clustering",
    "deconvolution",
    "mosaicking",
    "stacking",
    "detection",
    "tracking",
    "forecasting",
    "inversion",
    "retrieval",
    "modelling",
    "simulation",
    "denoising",
    "crossmatching",
    "extraction",
    "visualisation",
    "reprojection",
    "resampling",
    "fitting",
    "timing",
    "unmixing",
    "coregistration",
    "downscaling",
    "assimilation",
    "validation",
    "mapping",
];
const TOOLS: &[&str] = &[
    "toolkit",
    "explorer",
    "workbench",
    "notebooks",
    "viewer",
    "pipeline",
    "dashboard",
    "sandbox",
    "tutorial",
    "playground",
    "studio",
    "browser",
    "lab",
    "suite",
];
const COMMON: &[&str] = &[
    "data",
    "analysis",
    "interactive",
    "python",
    "archive",
    "products",
    "science",
    "images",
    "catalogue",
    "quicklook",
    "tools",
    "maps",
    "series",
];
const LIBRARIES: &[&str] = &[
    "astropy",
    "numpy",
    "scipy",
    "matplotlib",
    "xarray",
    "dask",
    "pandas",
    "scikit-learn",
    "pytorch",
    "healpy",
    "photutils",
    "sunpy",
    "rasterio",
    "geopandas",
    "jax",
    "bokeh",
];
const DOMAINS: &[&str] = &[
    "astronomy",
    "astrophysics",
    "cosmology",
    "heliophysics",
    "planetary science",
    "earth observation",
    "space weather",
    "climate",
    "fundamental physics",
    "education",
];
const MISSIONS: &[(&str, &[&str])] = &[
    ("Gaia", &["ASTRO", "BP/RP", "RVS"]),
    ("Euclid", &["VIS", "NISP"]),
    ("JWST", &["NIRCam", "NIRSpec", "MIRI", "NIRISS"]),
    ("Hubble", &["WFC3", "ACS", "COS", "STIS"]),
    ("XMM-Newton", &["EPIC", "RGS", "OM"]),
    ("INTEGRAL", &["SPI", "IBIS", "JEM-X"]),
    ("Planck", &["HFI", "LFI"]),
    ("Herschel", &["PACS", "SPIRE", "HIFI"]),
    ("Rosetta", &["OSIRIS", "ALICE", "VIRTIS"]),
    ("Mars Express", &["HRSC", "OMEGA", "MARSIS"]),
    ("BepiColombo", &["MPO-MAG", "SIMBIO-SYS"]),
    ("Solar Orbiter", &["EUI", "PHI", "SWA", "RPW"]),
    ("Sentinel-1", &["C-SAR"]),
    ("Sentinel-2", &["MSI"]),
    ("Sentinel-3", &["OLCI", "SLSTR", "SRAL"]),
    ("SMOS", &["MIRAS"]),
    ("CryoSat-2", &["SIRAL"]),
    ("Swarm", &["VFM", "ASM", "EFI"]),
    ("Cluster", &["FGM", "CIS", "PEACE"]),
    ("JUICE", &["JANUS", "MAJIS", "RIME"]),
    ("CHEOPS", &["CHEOPS"]),
    ("Aeolus", &["ALADIN"]),
    ("EarthCARE", &["ATLID", "CPR", "MSI-EC"]),
    ("LISA Pathfinder", &["LTP"]),
];
const AUDIENCES: &[&str] = &[
    "researchers",
    "students",
    "educators",
    "citizen scientists",
    "engineers",
    "data scientists",
];
const LICENCES: &[(&str, u32)] = &[
    ("Apache-2.0", 30),
    ("MIT", 20),
    ("BSD-3-Clause", 12),
    ("GPL-3.0-or-later", 8),
    ("ESA-PL-permissive-2.4", 10),
    ("ESA-PL-weak-copyleft-2.4", 4),
    ("ESA-PL-strong-copyleft-2.4", 2),
    ("MPL-2.0", 4),
    ("LGPL-3.0-or-later", 3),
    ("CC-BY-4.0", 5),
    ("AGPL-3.0-only", 2),
];
const USERS: usize = 1000;

fn capitalised(word: &str) -> String {
    let mut characters = word.chars();
    characters.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(characters).collect()
    })
}

/// The `index`-th generated datalab: the same for the same seed, whatever the backend.
fn generated_datalab(seed: u64, index: usize, owners: &[String]) -> DatalabFixture {
    let mut random = Random::new(seed.wrapping_mul(1_000_003).wrapping_add(index as u64));
    let (kind, prefix, what) = *random.pick(&[
        ("jupyterlab", "jl", "JupyterLab notebooks"),
        ("jupyterlab", "jl", "A JupyterLab environment"),
        ("jupyterlab", "jl", "Notebooks"),
        ("desktop", "dt", "A remote desktop"),
        ("generic", "gn", "A web application"),
    ]);
    let topics = random.pick_between(TOPICS, 2, 3);
    let methods = random.pick_between(METHODS, 1, 2);
    let tool = *random.pick(TOOLS);
    let mut missions = Vec::new();
    let mut instruments = Vec::new();
    let mission_count = *random.pick(&[0_usize, 1, 1, 1, 2]);
    while missions.len() < mission_count {
        let (mission, mission_instruments) = *random.pick_popular(MISSIONS);
        if !missions.contains(&mission) {
            missions.push(mission);
            for instrument in random.pick_between(mission_instruments, 0, 2) {
                if !instruments.contains(&instrument) {
                    instruments.push(instrument);
                }
            }
        }
    }
    let mut title_words: Vec<String> = missions
        .first()
        .map(|mission| (*mission).to_owned())
        .into_iter()
        .collect();
    title_words.push(capitalised(topics[0]));
    title_words.push(methods[0].to_owned());
    title_words.push(tool.to_owned());
    let title = title_words.join(" ");
    let name = format!("{prefix}-{}-{}-{index}", topics[0], methods[0]);
    let summary = generated_abstract(&mut random, what, &topics, &methods, &missions)
        .expect("writing to a String cannot fail");
    let mut keywords: Vec<String> = topics
        .iter()
        .chain(&methods)
        .map(|word| (*word).to_owned())
        .collect();
    keywords.extend(missions.iter().map(|mission| mission.to_lowercase()));
    keywords.truncate(6);
    let domains = random.pick_between(DOMAINS, 1, 3);
    let audiences = random.pick_between(AUDIENCES, 1, 2);
    let mut metadata = datalabs::metadata(&name, &title, &summary);
    metadata["keywords"] = json!(keywords);
    metadata["domain"] = json!(domains);
    metadata["mission"] = json!(missions);
    metadata["instrument"] = json!(instruments);
    metadata["audienceType"] = json!(audiences);
    metadata["license"] = json!(random.pick_weighted(LICENCES));
    let official = random.unit();
    if official < 0.1 {
        metadata["ESAOfficial"] = json!(true);
    } else if official < 0.5 {
        metadata["ESAOfficial"] = json!(false);
    }
    let starred_by = generated_fans(&mut random, owners);
    let age = TimeDelta::seconds(i64::try_from(random.below(3 * 365 * 86_400)).expect("small"));
    DatalabFixture {
        name,
        kind,
        owner_id: owners[index % owners.len()].clone(),
        visibility: if random.chance(0.9) {
            "public"
        } else {
            "private"
        },
        state: if random.chance(0.95) {
            "published"
        } else {
            "draft"
        },
        metadata,
        created_at: Utc::now() - age,
        starred_by,
    }
}

fn generated_abstract(
    random: &mut Random,
    what: &str,
    topics: &[&str],
    methods: &[&str],
    missions: &[&str],
) -> Result<String, std::fmt::Error> {
    let libraries = random.pick_between(LIBRARIES, 2, 3);
    let mut summary = format!(
        "{what} for {} of {} {} {}.",
        methods.join(" and "),
        topics[0],
        random.pick(COMMON),
        random.pick(COMMON)
    );
    if let Some(mission) = missions.first() {
        write!(
            summary,
            " It reads {mission} {} from the {mission} archive and relates them to {} {}.",
            random.pick(COMMON),
            topics[1],
            random.pick(COMMON)
        )?;
    } else {
        write!(
            summary,
            " It works on {} {} from any archive.",
            topics[1],
            random.pick(COMMON)
        )?;
    }
    write!(summary, " Built with {}.", libraries.join(", "))?;
    if random.chance(0.5) {
        write!(
            summary,
            " Includes a {} on {} {} for newcomers.",
            random.pick(TOOLS),
            topics.last().expect("two topics or more"),
            random.pick(METHODS)
        )?;
    }
    Ok(summary)
}

/// Pareto-distributed stars: most datalabs have a few, some have hundreds.
fn generated_fans(random: &mut Random, users: &[String]) -> Vec<String> {
    let stars = ((1.0 - random.unit()).powf(-1.0 / 1.2) - 1.0).floor();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a non-negative count, capped below"
    )]
    let stars = (stars as usize).min(users.len());
    let first_fan = random.below(users.len());
    (0..stars)
        .map(|offset| users[(first_fan + offset) % users.len()].clone())
        .collect()
}

fn user_id(index: usize) -> String {
    format!("00000000-0000-4000-8000-{index:012}")
}

async fn generate(database_url: &str, count: usize, seed: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let database = Database::connect(database_url, None)
        .await
        .with_context(|| format!("connecting to {database_url}"))?;
    database.migrate().await?;
    if database.count_users().await? > 0 {
        bail!("{database_url} already has users: generate into an empty database");
    }
    let owners: Vec<String> = (0..USERS).map(user_id).collect();
    for (index, id) in owners.iter().enumerate() {
        database
            .insert_user(&UserRow {
                id: id.clone(),
                name: format!("user{index}"),
                email: None,
                role: if index % 5 == 0 {
                    "author"
                } else {
                    "researcher"
                }
                .to_owned(),
                affiliation_country: Some("NL".to_owned()),
                password_hash: None,
                disabled: false,
                created_at: Utc::now(),
            })
            .await?;
    }
    for index in 0..count {
        datalabs::insert_datalab(&database, &generated_datalab(seed, index, &owners)).await;
    }
    database.close().await;
    eprintln!(
        "generated {count} datalabs and {USERS} users into {} in {:.1} s",
        labforge::storage::redact_password(database_url),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---- load ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum SearchKind {
    EmptyQuery,
    OneWord,
    TwoWordsAndFacet,
    OneWordByStars,
}

impl SearchKind {
    const ALL: [Self; 4] = [
        Self::EmptyQuery,
        Self::OneWord,
        Self::TwoWordsAndFacet,
        Self::OneWordByStars,
    ];

    const fn label(self) -> &'static str {
        match self {
            Self::EmptyQuery => "empty query",
            Self::OneWord => "one word",
            Self::TwoWordsAndFacet => "two words + facet",
            Self::OneWordByStars => "one word, by stars",
        }
    }
}

/// The searches of a run, in order, cycling through the four kinds.
struct SearchMix {
    searches: Vec<(SearchKind, String)>,
}

fn encoded(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl SearchMix {
    fn new(count: usize, seed: u64) -> Self {
        let owners: Vec<String> = (0..USERS).map(user_id).collect();
        let mut random = Random::new(seed ^ 0x5EA2_C4E5);
        let mut searches = Vec::new();
        for round in 0..1000 {
            let datalab = generated_datalab(seed, random.below(count), &owners);
            let metadata = &datalab.metadata;
            let text = |key: &str| metadata[key].as_str().unwrap_or_default().to_lowercase();
            let title_words: Vec<String> = text("title")
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            let keywords: Vec<&str> = metadata["keywords"]
                .as_array()
                .map(|words| words.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let word = if random.chance(0.5) {
                (*random.pick(&keywords)).to_owned()
            } else {
                random.pick(&title_words).clone()
            };
            let kind = SearchKind::ALL[round % 4];
            let query = match kind {
                SearchKind::EmptyQuery => String::new(),
                SearchKind::OneWord => format!("q={}", encoded(&word)),
                SearchKind::OneWordByStars => format!("q={}&sort=stars", encoded(&word)),
                SearchKind::TwoWordsAndFacet => {
                    let start = random.below(title_words.len() - 1);
                    let words = title_words[start..start + 2].join(" ");
                    let choices = [
                        ("domain", metadata["domain"][0].clone()),
                        ("kind", json!(datalab.kind)),
                        ("licence", metadata["license"].clone()),
                    ];
                    let (facet, value) = random.pick(&choices);
                    let value = value.as_str().unwrap_or_default();
                    format!("q={}&{facet}={}", encoded(&words), encoded(value))
                }
            };
            searches.push((kind, format!("/api/marketplace?{query}")));
        }
        Self { searches }
    }

    fn get(&self, index: usize) -> &(SearchKind, String) {
        &self.searches[index % self.searches.len()]
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Latencies {
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    requests: usize,
    /// Mean `total` of the answers: how broad the searches were.
    mean_results: f64,
}

impl Latencies {
    fn of(samples: &mut [(Duration, i64)]) -> Self {
        samples.sort_by_key(|(duration, _)| *duration);
        let quantile = |fraction: f64| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "an index into the samples"
            )]
            let index = ((samples.len() as f64 * fraction).ceil() as usize).saturating_sub(1);
            samples[index].0.as_secs_f64() * 1000.0
        };
        #[expect(clippy::cast_precision_loss, reason = "sample counts are small")]
        let count = samples.len() as f64;
        Self {
            p50_ms: quantile(0.50),
            p99_ms: quantile(0.99),
            mean_ms: samples
                .iter()
                .map(|(duration, _)| duration.as_secs_f64())
                .sum::<f64>()
                * 1000.0
                / count,
            requests: samples.len(),
            #[expect(clippy::cast_precision_loss, reason = "result counts are small")]
            mean_results: samples.iter().map(|(_, total)| *total as f64).sum::<f64>() / count,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Measurement {
    label: String,
    /// Datalabs the empty query lists to an anonymous caller.
    listed: i64,
    resident_kib_after_start: u64,
    resident_kib_after_load: u64,
    sequential: Latencies,
    sequential_by_kind: BTreeMap<SearchKind, Latencies>,
    concurrency: usize,
    requests_per_second: f64,
    under_load: Latencies,
}

fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// One search; its duration and the number of results it reports.
async fn timed_search(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> anyhow::Result<(Duration, i64)> {
    let started = Instant::now();
    let response = client.get(format!("{base}{path}")).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        bail!("{path}: {status} {}", String::from_utf8_lossy(&body));
    }
    let answer: Value = serde_json::from_slice(&body)?;
    Ok((elapsed, answer["total"].as_i64().unwrap_or_default()))
}

async fn load(
    base: &str,
    server_pid: u32,
    label: String,
    searches: &SearchMix,
    requests: usize,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let resident_kib_after_start = resident_kib(server_pid)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let (_, listed) = timed_search(&client, base, "/api/marketplace").await?;
    for index in 0..requests {
        timed_search(&client, base, &searches.get(index).1).await?;
    }
    let mut all = Vec::with_capacity(requests);
    let mut by_kind: BTreeMap<SearchKind, Vec<(Duration, i64)>> = BTreeMap::new();
    for index in 0..requests {
        let (kind, path) = searches.get(index);
        let sample = timed_search(&client, base, path).await?;
        all.push(sample);
        by_kind.entry(*kind).or_default().push(sample);
    }
    let sequential = Latencies::of(&mut all);
    let sequential_by_kind = by_kind
        .into_iter()
        .map(|(kind, mut samples)| (kind, Latencies::of(&mut samples)))
        .collect();

    let client = Arc::new(client);
    let searches = Arc::new(searches.searches.clone());
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let client = Arc::clone(&client);
        let searches = Arc::clone(&searches);
        let base = base.to_owned();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut index = worker * 97;
            while started.elapsed() < duration {
                let path = &searches[index % searches.len()].1;
                samples.push(timed_search(&client, &base, path).await?);
                index += 1;
            }
            anyhow::Ok(samples)
        }));
    }
    let mut under_load = Vec::new();
    for worker in workers {
        under_load.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "request counts are small")]
    let requests_per_second = under_load.len() as f64 / elapsed;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Measurement {
        label,
        listed,
        resident_kib_after_start,
        resident_kib_after_load: resident_kib(server_pid)?,
        sequential,
        sequential_by_kind,
        concurrency,
        requests_per_second,
        under_load: Latencies::of(&mut under_load),
    })
}

// ---- report ----

fn mebibytes(kibibytes: u64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "memory sizes are far below 2^52"
    )]
    let kibibytes = kibibytes as f64;
    kibibytes / 1024.0
}

fn report(files: &[PathBuf]) -> anyhow::Result<()> {
    let measurements: Vec<Measurement> = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            Ok(serde_json::from_str(&text)?)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: &str, value: &dyn Fn(&Measurement) -> String| {
        rows.push((name.to_owned(), measurements.iter().map(value).collect()));
    };
    row("datalabs listed to anonymous", &|m| m.listed.to_string());
    row("search p50, one at a time", &|m| {
        format!("{:.2} ms", m.sequential.p50_ms)
    });
    row("search p99, one at a time", &|m| {
        format!("{:.2} ms", m.sequential.p99_ms)
    });
    for kind in SearchKind::ALL {
        row(&format!("  {} p50 / p99", kind.label()), &|m| {
            m.sequential_by_kind
                .get(&kind)
                .map_or_else(String::new, |latencies| {
                    format!("{:.2} / {:.2} ms", latencies.p50_ms, latencies.p99_ms)
                })
        });
        row(&format!("  {} mean results", kind.label()), &|m| {
            m.sequential_by_kind
                .get(&kind)
                .map_or_else(String::new, |latencies| {
                    format!("{:.0}", latencies.mean_results)
                })
        });
    }
    row("requests per second", &|m| {
        format!("{:.0} ({} at once)", m.requests_per_second, m.concurrency)
    });
    row("p50 / p99 under that load", &|m| {
        format!("{:.2} / {:.2} ms", m.under_load.p50_ms, m.under_load.p99_ms)
    });
    row("server VmRSS at rest, started", &|m| {
        format!("{:.1} MiB", mebibytes(m.resident_kib_after_start))
    });
    row("server VmRSS at rest, after load", &|m| {
        format!("{:.1} MiB", mebibytes(m.resident_kib_after_load))
    });
    let name_width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let column_width = rows
        .iter()
        .flat_map(|(_, values)| values.iter().map(String::len))
        .chain(measurements.iter().map(|m| m.label.len()))
        .max()
        .unwrap_or(0);
    print!("{:name_width$}", "");
    for measurement in &measurements {
        print!("  {:>column_width$}", measurement.label);
    }
    println!();
    for (name, values) in rows {
        print!("{name:name_width$}");
        for value in values {
            print!("  {value:>column_width$}");
        }
        println!();
    }
    Ok(())
}
