//! The SPDX 2.3 JSON document of an image: the image as the described package, containing every
//! installed Python distribution and Debian package with its declared licence (`NOASSERTION` when
//! none could be read; the reason is in `licenseComments`) and its package URL. The document is a
//! function of the image alone (its creation time is the image's), so making it again for the same
//! image gives the same bytes, and attaching it again is a no-op.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{InstalledPackage, PackageEcosystem};

/// The media type of the document, and the artifact type of its referrer manifest.
pub const SPDX_MEDIA_TYPE: &str = "application/spdx+json";

/// What the document says about the image itself.
pub struct DescribedImage<'a> {
    /// `registry/namespace/name`.
    pub repository: &'a str,
    pub tag: &'a str,
    /// The image manifest's digest.
    pub digest: &'a str,
    /// When the image was created (from its config), as RFC 3339 UTC.
    pub created: chrono::DateTime<chrono::Utc>,
}

/// The SPDX 2.3 document of `image` holding `packages`.
pub fn document(image: &DescribedImage<'_>, packages: &[InstalledPackage]) -> Value {
    let path = image
        .repository
        .split_once('/')
        .map_or(image.repository, |(_, path)| path);
    let mut described = vec![image_package(image, path)];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    let mut references = BTreeSet::new();
    for (index, package) in packages.iter().enumerate() {
        let (id, entry) = dependency(index, package);
        references.extend(
            entry["licenseDeclared"]
                .as_str()
                .unwrap_or_default()
                .split([' ', '(', ')'])
                .filter(|word| word.starts_with("LicenseRef-"))
                .map(str::to_owned),
        );
        described.push(entry);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    wrap(image, path, &described, &relationships, references)
}

/// The image itself, the package the document describes.
fn image_package(image: &DescribedImage<'_>, path: &str) -> Value {
    json!({
        "SPDXID": "SPDXRef-Image",
        "name": path,
        "versionInfo": image.tag,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!(
                "pkg:oci/{}@{}?repository_url={}",
                path.rsplit('/').next().unwrap_or(path),
                image.digest.replace(':', "%3A"),
                image.repository
            ),
        }],
    })
}

/// One dependency's package entry and its SPDX id.
fn dependency(index: usize, package: &InstalledPackage) -> (String, Value) {
    let (prefix, purl) = match package.ecosystem {
        PackageEcosystem::Python => (
            "Python",
            format!(
                "pkg:pypi/{}@{}",
                crate::recipe::requirements::normalise_name(&package.name),
                encode(&package.version)
            ),
        ),
        PackageEcosystem::Debian => (
            "Debian",
            format!(
                "pkg:deb/debian/{}@{}",
                encode(&package.name),
                encode(&package.version)
            ),
        ),
    };
    let id = format!("SPDXRef-{prefix}-{index}");
    let entry = json!({
        "SPDXID": id,
        "name": package.name,
        "versionInfo": package.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": match package.ecosystem {
            PackageEcosystem::Python => "LIBRARY",
            PackageEcosystem::Debian => "OPERATING-SYSTEM",
        },
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": package.licence.as_deref().unwrap_or("NOASSERTION"),
        "licenseComments": format!("Read from {}: {}", package.path, package.basis),
        "copyrightText": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }],
    });
    (id, entry)
}

/// The document around its packages.
fn wrap(
    image: &DescribedImage<'_>,
    path: &str,
    described: &[Value],
    relationships: &[Value],
    references: BTreeSet<String>,
) -> Value {
    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}:{}", image.repository, image.tag),
        "documentNamespace": format!(
            "https://labforge.invalid/spdx/{path}/{}",
            image.digest.replace(':', "-")
        ),
        "creationInfo": {
            "created": image.created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "creators": [format!("Tool: labforge-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": described,
        "relationships": relationships,
    });
    if !references.is_empty() {
        document["hasExtractedLicensingInfos"] = references
            .into_iter()
            .map(|id| {
                json!({
                    "licenseId": id,
                    "name": id.trim_start_matches("LicenseRef-"),
                    "extractedText": format!(
                        "{id}: a licence labforge's licence table knows (spdx-licenses/classification.csv); \
                         its text is not part of this document."
                    ),
                })
            })
            .collect();
    }
    document
}

/// Percent-encodes what a package URL may not hold literally in a name or version.
fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for character in text.chars() {
        if character.is_ascii_alphanumeric() || "-._~+".contains(character) {
            encoded.push(character);
        } else {
            let mut buffer = [0; 4];
            for byte in character.encode_utf8(&mut buffer).bytes() {
                encoded.push('%');
                encoded.push_str(&hex::encode_upper([byte]));
            }
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_the_fields_spdx_2_3_requires_and_one_package_per_dependency() {
        let packages = vec![
            InstalledPackage {
                ecosystem: PackageEcosystem::Python,
                name: "Foo_Bar".to_owned(),
                version: "1.0".to_owned(),
                licence: Some("MIT".to_owned()),
                basis: "License-Expression".to_owned(),
                path: "/x/Foo_Bar-1.0.dist-info/METADATA".to_owned(),
            },
            InstalledPackage {
                ecosystem: PackageEcosystem::Debian,
                name: "libc6".to_owned(),
                version: "1:2.36-9".to_owned(),
                licence: Some("LicenseRef-proprietary".to_owned()),
                basis: "copyright file (DEP-5)".to_owned(),
                path: "/usr/share/doc/libc6/copyright".to_owned(),
            },
        ];
        let image = DescribedImage {
            repository: "127.0.0.1:5005/datalabs/lab",
            tag: "1.0.0-0",
            digest: "sha256:abc",
            created: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        };
        let document = document(&image, &packages);
        for field in [
            "spdxVersion",
            "dataLicense",
            "SPDXID",
            "name",
            "documentNamespace",
        ] {
            assert!(document[field].is_string(), "{field} missing: {document}");
        }
        assert_eq!(document["creationInfo"]["created"], "1970-01-01T00:00:00Z");
        let packages = document["packages"].as_array().unwrap();
        assert_eq!(packages.len(), 3);
        assert_eq!(
            packages[1]["externalRefs"][0]["referenceLocator"],
            "pkg:pypi/foo-bar@1.0"
        );
        assert_eq!(
            packages[2]["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/libc6@1%3A2.36-9"
        );
        assert_eq!(
            document["hasExtractedLicensingInfos"][0]["licenseId"],
            "LicenseRef-proprietary"
        );
        assert_eq!(document["relationships"].as_array().unwrap().len(), 3);
    }
}
