//! The SBOM and licence report of a real build: dist-info folders written into the image by the
//! datalab's content are read back from the registry's layers, their licences flagged, and the
//! SPDX document found through the registry's referrers API by an OCI client.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::Value;

use labforge::evidence::LicenceConcern;
use labforge::pipeline::Pipeline;

use crate::common;
use crate::pipeline::{build_as, log_text};

/// Three distributions whose licences a moderator must see: GPL by classifier, none that can be
/// read, and CC BY-NC by PEP 639 expression.
const DISTRIBUTIONS: &[(&str, &str)] = &[
    (
        "gpl_tool-1.0.dist-info",
        "Metadata-Version: 2.1\nName: gpl-tool\nVersion: 1.0\nClassifier: License :: OSI \
         Approved :: GNU General Public License v3 (GPLv3)\n",
    ),
    (
        "mystery-0.1.dist-info",
        "Metadata-Version: 2.1\nName: mystery\nVersion: 0.1\nLicense: Ask the author\n",
    ),
    (
        "nc_data-2.0.dist-info",
        "Metadata-Version: 2.4\nName: nc-data\nVersion: 2.0\nLicense-Expression: CC-BY-NC-4.0\n",
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn gpl_unknown_and_non_commercial_dependencies_are_flagged_and_the_sbom_is_a_referrer() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "web-catalog-browser");
    for (dist_info, metadata) in DISTRIBUTIONS {
        let path = lab.join("vendored").join(dist_info);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("METADATA"), metadata).unwrap();
    }
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let name = common::unique_name("sbom-lab");
    let (outcome, log) = build_as(&pipeline, lab, Some(&name), false).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));

    assert_report(&outcome.evidence.report, &config.base_version);

    // The document: SPDX 2.3's required fields, and every dependency in it.
    let sbom = &outcome.evidence.sbom;
    let problems = spdx_2_3_problems(sbom);
    assert!(problems.is_empty(), "{problems:#?}");
    validated_by_spdx_tools(sbom);
    let declared = |package: &str| {
        sbom["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["name"] == package)
            .map(|entry| entry["licenseDeclared"].clone())
    };
    assert_eq!(declared("gpl-tool"), Some(Value::from("GPL-3.0-only")));
    assert_eq!(declared("mystery"), Some(Value::from("NOASSERTION")));
    assert_eq!(declared("nc-data"), Some(Value::from("CC-BY-NC-4.0")));

    // The referrers API, asked by an OCI client, lists it for the image's digest.
    let (repository, _) = outcome.record.image.rsplit_once(':').unwrap();
    let image: Reference = format!("{repository}@{}", outcome.record.digest)
        .parse()
        .unwrap();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let account = common::registry_credentials().expect("the test registry's build account");
    client
        .auth(
            &image,
            &RegistryAuth::Basic(account.username, account.password),
            RegistryOperation::Pull,
        )
        .await
        .unwrap();
    let referrers = client
        .pull_referrers(&image, Some("application/spdx+json"))
        .await
        .unwrap();
    let referrer = referrers
        .manifests
        .iter()
        .find(|descriptor| descriptor.digest == outcome.evidence.referrer)
        .unwrap_or_else(|| panic!("no SPDX referrer in {referrers:?}"));
    assert_eq!(
        referrer.artifact_type.as_deref(),
        Some("application/spdx+json")
    );

    // Its one layer is the document the build kept.
    let artifact: Reference = format!("{repository}@{}", referrer.digest).parse().unwrap();
    let (manifest, _) = client
        .pull_image_manifest(&artifact, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    assert_eq!(manifest.subject.unwrap().digest, outcome.record.digest);
    let mut document = Vec::new();
    client
        .pull_blob(&artifact, &manifest.layers[0], &mut document)
        .await
        .unwrap();
    assert_eq!(&serde_json::from_slice::<Value>(&document).unwrap(), sbom);
}

/// What the SPDX 2.3 JSON schema (`schemas/spdx-schema.json` of the SPDX specification) requires,
/// written out from the specification's required fields: the document's `spdxVersion`,
/// `dataLicense` = `CC0-1.0`, `SPDXID` = `SPDXRef-DOCUMENT`, `name`, `documentNamespace` (an
/// absolute URI without `#`) and `creationInfo` (`created` as `YYYY-MM-DDThh:mm:ssZ`,
/// non-empty `creators` each `Tool: `/`Person: `/`Organization: `); each package's `SPDXID`
/// (`SPDXRef-` then letters, digits, `.` and `-`), `name` and `downloadLocation`; each
/// relationship's `spdxElementId`, `relationshipType` and `relatedSpdxElement`, naming elements
/// of the document; each `LicenseRef-` used declared in `hasExtractedLicensingInfos` with its
/// `extractedText`.
/// Each of the three distributions flagged for its own reason, and nothing of the base.
fn assert_report(report: &labforge::evidence::LicenceReport, base_version: &str) {
    // The report: each of the three flagged for its own reason.
    let concern_of = |package: &str| {
        report
            .flags
            .iter()
            .find(|flag| flag.package == package)
            .unwrap_or_else(|| panic!("{package} is not flagged: {report:#?}"))
    };
    assert_eq!(
        concern_of("gpl-tool").concern,
        LicenceConcern::StrongCopyleft
    );
    assert_eq!(concern_of("mystery").concern, LicenceConcern::Unknown);
    assert!(concern_of("mystery").reason.contains("Ask the author"));
    assert_eq!(concern_of("nc-data").concern, LicenceConcern::NonCommercial);
    assert!(
        report.python_distributions >= 4,
        "the base's own distributions are read too: {report:#?}"
    );
    assert!(report.debian_packages > 10, "{report:#?}");
    // The base's own packages are the operator's: counted, in the SBOM, not flagged. This datalab
    // adds no Debian package, so only its three distributions are.
    assert_eq!(
        report.base.as_deref(),
        Some(format!("datalab_base {base_version}").as_str())
    );
    assert_eq!(
        report.from_base,
        report.debian_packages + report.python_distributions - 3,
        "{report:#?}"
    );
    let mut flagged: Vec<&str> = report
        .flags
        .iter()
        .map(|flag| flag.package.as_str())
        .collect();
    flagged.sort_unstable();
    assert_eq!(flagged, ["gpl-tool", "mystery", "nc-data"]);
    assert_eq!(report.by_concern.len(), 3, "{report:#?}");
}

/// SPDX's own validator (PyPI spdx-tools, which `scripts/test.sh` installs) parses the document
/// as SPDX 2.3 JSON and checks it against the specification's rules.
fn validated_by_spdx_tools(document: &Value) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("image.spdx.json");
    std::fs::write(&path, serde_json::to_vec_pretty(document).unwrap()).unwrap();
    let output = std::process::Command::new("pyspdxtools")
        .args(["--version", "SPDX-2.3", "--infile"])
        .arg(&path)
        .output()
        .expect("pyspdxtools runs (scripts/lib.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "pyspdxtools refused the SBOM:\n{text}"
    );
    assert!(
        !text.to_lowercase().contains("validation"),
        "pyspdxtools found problems:\n{text}"
    );
}

fn spdx_2_3_problems(document: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut require = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    require(document["spdxVersion"] == "SPDX-2.3", "spdxVersion".into());
    require(document["dataLicense"] == "CC0-1.0", "dataLicense".into());
    require(document["SPDXID"] == "SPDXRef-DOCUMENT", "SPDXID".into());
    require(document["name"].is_string(), "name".into());
    let namespace = document["documentNamespace"].as_str().unwrap_or_default();
    require(
        url::Url::parse(namespace).is_ok() && !namespace.contains('#'),
        format!("documentNamespace {namespace:?}"),
    );
    let created = document["creationInfo"]["created"]
        .as_str()
        .unwrap_or_default();
    require(
        chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%SZ").is_ok(),
        format!("creationInfo.created {created:?}"),
    );
    let creators = document["creationInfo"]["creators"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    require(
        !creators.is_empty()
            && creators.iter().all(|creator| {
                creator.as_str().is_some_and(|creator| {
                    ["Tool: ", "Person: ", "Organization: "]
                        .iter()
                        .any(|prefix| creator.starts_with(prefix))
                })
            }),
        "creationInfo.creators".into(),
    );
    let id_pattern = regex::Regex::new(r"^SPDXRef-[A-Za-z0-9.\-]+$").unwrap();
    let mut ids = vec!["SPDXRef-DOCUMENT".to_owned()];
    let mut references = Vec::new();
    for package in document["packages"].as_array().into_iter().flatten() {
        let id = package["SPDXID"].as_str().unwrap_or_default();
        require(id_pattern.is_match(id), format!("package SPDXID {id:?}"));
        require(package["name"].is_string(), format!("{id}: name"));
        require(
            package["downloadLocation"].is_string(),
            format!("{id}: downloadLocation"),
        );
        for field in ["licenseDeclared", "licenseConcluded"] {
            let expression = package[field].as_str().unwrap_or("NOASSERTION");
            references.extend(
                expression
                    .split([' ', '(', ')'])
                    .filter(|word| word.starts_with("LicenseRef-"))
                    .map(str::to_owned),
            );
            require(
                ["NOASSERTION", "NONE"].contains(&expression)
                    || spdx::Expression::parse(expression).is_ok(),
                format!("{id}: {field} {expression:?}"),
            );
        }
        ids.push(id.to_owned());
    }
    require(ids.len() > 1, "no packages".into());
    for relationship in document["relationships"].as_array().into_iter().flatten() {
        for end in ["spdxElementId", "relatedSpdxElement"] {
            let id = relationship[end].as_str().unwrap_or_default();
            require(
                ids.iter().any(|known| known == id),
                format!("relationship {end} {id:?}"),
            );
        }
        require(
            relationship["relationshipType"].is_string(),
            "relationshipType".into(),
        );
    }
    let extracted = document["hasExtractedLicensingInfos"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for reference in references {
        require(
            extracted.iter().any(|info| {
                info["licenseId"] == reference.as_str() && info["extractedText"].is_string()
            }),
            format!("{reference} without hasExtractedLicensingInfos"),
        );
    }
    problems
}
