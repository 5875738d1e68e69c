//! The few files the evidence needs, read straight from an image's layers as the container would
//! see them: layers apply in order, a later file replaces an earlier one, and whiteouts
//! (`.wh.<name>` removes `<name>`, `.wh..wh..opq` empties its folder) remove what lower layers
//! added. Hard links to a wanted file are followed within the layers read; symbolic links are not
//! (a package whose `/usr/share/doc/<name>` is a link to another package's folder shows no
//! copyright file).

use std::collections::BTreeMap;
use std::io::Read;

/// Paths (without a leading `/`) and contents of the wanted files of an image.
pub type ImageFiles = BTreeMap<String, Vec<u8>>;

/// Whether the evidence reads the file at `path` (relative to `/`): a Python distribution's
/// `METADATA`, dpkg's status database, or a Debian package's copyright file.
pub fn is_wanted(path: &str) -> bool {
    if path == "var/lib/dpkg/status" {
        return true;
    }
    if let Some(rest) = path.strip_prefix("usr/share/doc/") {
        return rest
            .split_once('/')
            .is_some_and(|(package, file)| !package.is_empty() && file == "copyright");
    }
    path.rsplit_once('/')
        .is_some_and(|(folder, file)| file == "METADATA" && folder.ends_with(".dist-info"))
}

/// What one layer changes: wanted files it adds, paths it removes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LayerChanges {
    added: Vec<(String, Vec<u8>)>,
    /// Paths whose file or folder is removed.
    removed: Vec<String>,
    /// Folders emptied of what lower layers put there.
    emptied: Vec<String>,
    /// Hard links to wanted files: (link, target).
    links: Vec<(String, String)>,
}

/// Reads a layer blob (a tar: gzip'd, zstd-compressed or plain) for the wanted files and the
/// whiteouts.
pub fn read_layer(blob: &[u8]) -> Result<LayerChanges, String> {
    if blob.starts_with(&[0x1f, 0x8b]) {
        read_tar(flate2::read::GzDecoder::new(blob))
    } else if blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = ruzstd::decoding::StreamingDecoder::new(blob)
            .map_err(|error| format!("zstd: {error}"))?;
        read_tar(decoder)
    } else {
        read_tar(blob)
    }
}

fn read_tar(reader: impl Read) -> Result<LayerChanges, String> {
    let mut changes = LayerChanges::default();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|error| error.to_string())? {
        let mut entry = entry.map_err(|error| error.to_string())?;
        let path = normalise(
            &entry
                .path()
                .map_err(|error| error.to_string())?
                .to_string_lossy(),
        );
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if name == ".wh..wh..opq" {
            changes.emptied.push(folder.to_owned());
            continue;
        }
        if let Some(removed) = name.strip_prefix(".wh.") {
            changes.removed.push(join(folder, removed));
            continue;
        }
        if !is_wanted(&path) {
            continue;
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut content = Vec::new();
                entry
                    .read_to_end(&mut content)
                    .map_err(|error| format!("{path}: {error}"))?;
                changes.added.push((path, content));
            }
            tar::EntryType::Link => {
                if let Some(target) = entry.link_name().map_err(|error| error.to_string())? {
                    changes
                        .links
                        .push((path, normalise(&target.to_string_lossy())));
                }
            }
            _ => {}
        }
    }
    Ok(changes)
}

impl LayerChanges {
    /// Bytes held: what a cache of read layers counts.
    pub fn size(&self) -> usize {
        let paths = |paths: &[String]| paths.iter().map(String::len).sum::<usize>();
        self.added
            .iter()
            .map(|(path, content)| path.len() + content.len())
            .sum::<usize>()
            + paths(&self.removed)
            + paths(&self.emptied)
            + self
                .links
                .iter()
                .map(|(link, target)| link.len() + target.len())
                .sum::<usize>()
    }
}

/// The first line of an encoded [`LayerChanges`]; a change of the layout changes it.
const ENCODED_HEADER: &[u8] = b"labforge layer changes 1\n";

impl LayerChanges {
    /// The changes as bytes for a file: the header, then each list as a count followed by its
    /// items, every byte string prefixed by its length (little-endian `u64`s).
    pub fn encode(&self) -> Vec<u8> {
        fn bytes(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        fn count(out: &mut Vec<u8>, count: usize) {
            out.extend_from_slice(&(count as u64).to_le_bytes());
        }
        let mut out = Vec::with_capacity(ENCODED_HEADER.len() + self.size() + 1024);
        out.extend_from_slice(ENCODED_HEADER);
        count(&mut out, self.added.len());
        for (path, content) in &self.added {
            bytes(&mut out, path.as_bytes());
            bytes(&mut out, content);
        }
        for paths in [&self.removed, &self.emptied] {
            count(&mut out, paths.len());
            for path in paths {
                bytes(&mut out, path.as_bytes());
            }
        }
        count(&mut out, self.links.len());
        for (link, target) in &self.links {
            bytes(&mut out, link.as_bytes());
            bytes(&mut out, target.as_bytes());
        }
        out
    }

    /// The changes [`LayerChanges::encode`] wrote; `None` for anything else (another layout, a
    /// file cut short, paths that are not UTF-8).
    pub fn decode(encoded: &[u8]) -> Option<Self> {
        struct Reader<'a>(&'a [u8]);
        impl<'a> Reader<'a> {
            fn number(&mut self) -> Option<usize> {
                let (number, rest) = self.0.split_first_chunk::<8>()?;
                self.0 = rest;
                usize::try_from(u64::from_le_bytes(*number)).ok()
            }
            /// A count of items of at least 8 bytes each, so no more than the bytes left hold.
            fn count(&mut self) -> Option<usize> {
                self.number().filter(|count| *count <= self.0.len() / 8)
            }
            fn bytes(&mut self) -> Option<&'a [u8]> {
                let length = self.number()?;
                let (bytes, rest) = self.0.split_at_checked(length)?;
                self.0 = rest;
                Some(bytes)
            }
            fn text(&mut self) -> Option<String> {
                String::from_utf8(self.bytes()?.to_vec()).ok()
            }
            fn texts(&mut self) -> Option<Vec<String>> {
                (0..self.count()?).map(|_| self.text()).collect()
            }
        }
        let mut reader = Reader(encoded.strip_prefix(ENCODED_HEADER)?);
        let added = (0..reader.count()?)
            .map(|_| Some((reader.text()?, reader.bytes()?.to_vec())))
            .collect::<Option<_>>()?;
        let removed = reader.texts()?;
        let emptied = reader.texts()?;
        let links = (0..reader.count()?)
            .map(|_| Some((reader.text()?, reader.text()?)))
            .collect::<Option<_>>()?;
        reader.0.is_empty().then_some(Self {
            added,
            removed,
            emptied,
            links,
        })
    }
}

/// The changes of a layer holding one dpkg status file of `bytes` bytes, for the caches' tests.
#[cfg(test)]
pub(super) fn dpkg_status_layer(bytes: usize) -> LayerChanges {
    LayerChanges {
        added: vec![("var/lib/dpkg/status".into(), vec![b'x'; bytes])],
        ..LayerChanges::default()
    }
}

/// Applies one layer's changes on top of the files of the layers below it.
pub fn apply(files: &mut ImageFiles, changes: &LayerChanges) {
    for folder in &changes.emptied {
        remove_under(files, folder);
    }
    for path in &changes.removed {
        files.remove(path);
        remove_under(files, path);
    }
    let mut added: BTreeMap<String, Vec<u8>> = changes.added.iter().cloned().collect();
    for (link, target) in &changes.links {
        if let Some(content) = added.get(target).or_else(|| files.get(target)).cloned() {
            added.insert(link.clone(), content);
        }
    }
    files.extend(added);
}

fn remove_under(files: &mut ImageFiles, folder: &str) {
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    files.retain(|path, _| !path.starts_with(&prefix));
}

fn normalise(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_owned()
    } else {
        format!("{folder}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gzip'd tar of `(path, content)`; a content of `None` is a folder.
    fn layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let tar = plain_layer(entries);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gzip, &tar).unwrap();
        gzip.finish().unwrap()
    }

    /// An uncompressed tar of `(path, content)`; a content of `None` is a folder.
    fn plain_layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            let Some(content) = content else {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                builder.append_data(&mut header, path, &[][..]).unwrap();
                continue;
            };
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, path, content.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn plain_gzip_and_zstd_layers_read_alike() {
        let path = format!("{SITE}/a-1.0.dist-info/METADATA");
        let entries = [(path.as_str(), Some("Name: a"))];
        let plain = plain_layer(&entries);
        let zstd = ruzstd::encoding::compress_to_vec(
            plain.as_slice(),
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert!(zstd.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]));
        for blob in [plain, layer(&entries), zstd] {
            let files = image(&[blob]);
            assert_eq!(files[&path], b"Name: a");
        }
    }

    fn image(layers: &[Vec<u8>]) -> ImageFiles {
        let mut files = ImageFiles::new();
        for blob in layers {
            apply(&mut files, &read_layer(blob).unwrap());
        }
        files
    }

    #[test]
    fn encoded_changes_decode_to_the_same_and_anything_else_to_none() {
        let changes = LayerChanges {
            added: vec![
                ("var/lib/dpkg/status".into(), b"Package: a\n".to_vec()),
                ("usr/share/doc/\u{e9}t\u{e9}/copyright".into(), Vec::new()),
            ],
            removed: vec!["usr/share/doc/old".into()],
            emptied: vec![],
            links: vec![(
                "usr/share/doc/b/copyright".into(),
                "usr/share/doc/a/copyright".into(),
            )],
        };
        let encoded = changes.encode();
        assert_eq!(LayerChanges::decode(&encoded), Some(changes));
        let empty = LayerChanges::default();
        assert_eq!(LayerChanges::decode(&empty.encode()), Some(empty));

        for cut in [
            0,
            ENCODED_HEADER.len(),
            encoded.len() / 2,
            encoded.len() - 1,
        ] {
            assert_eq!(LayerChanges::decode(&encoded[..cut]), None, "cut at {cut}");
        }
        let mut longer = encoded.clone();
        longer.push(0);
        assert_eq!(LayerChanges::decode(&longer), None, "a byte too many");
        let mut other_layout = encoded.clone();
        other_layout[ENCODED_HEADER.len() - 2] = b'2';
        assert_eq!(LayerChanges::decode(&other_layout), None, "another layout");
        let mut huge_count = ENCODED_HEADER.to_vec();
        huge_count.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            LayerChanges::decode(&huge_count),
            None,
            "a count no file holds"
        );
        // One added file whose path is one byte, empty, and three empty lists.
        let mut one_file = ENCODED_HEADER.to_vec();
        for number in [1_u64, 1] {
            one_file.extend_from_slice(&number.to_le_bytes());
        }
        let path_at = one_file.len();
        one_file.push(b'a');
        one_file.extend_from_slice(&[0; 32]);
        assert!(LayerChanges::decode(&one_file).is_some());
        one_file[path_at] = 0xff;
        assert_eq!(LayerChanges::decode(&one_file), None, "a path not UTF-8");
    }

    const SITE: &str = "usr/lib/python3/site-packages";

    #[test]
    fn later_layers_replace_files_and_whiteouts_remove_them() {
        let a = format!("{SITE}/a-1.0.dist-info/METADATA");
        let b = format!("{SITE}/b-1.0.dist-info/METADATA");
        let files = image(&[
            layer(&[
                (&a, Some("Name: a\nVersion: 1.0\n")),
                (&b, Some("Name: b\nVersion: 1.0\n")),
                ("var/lib/dpkg/status", Some("Package: old\n")),
                ("etc/passwd", Some("root")),
            ]),
            layer(&[
                (&format!("{SITE}/.wh.a-1.0.dist-info"), Some("")),
                ("var/lib/dpkg/status", Some("Package: new\n")),
            ]),
        ]);
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            vec![&b, &"var/lib/dpkg/status".to_owned()]
        );
        assert_eq!(files["var/lib/dpkg/status"], b"Package: new\n");
    }

    #[test]
    fn an_opaque_folder_hides_only_what_lower_layers_put_there() {
        let old = format!("{SITE}/old-1.0.dist-info/METADATA");
        let new = format!("{SITE}/new-2.0.dist-info/METADATA");
        let files = image(&[
            layer(&[(&old, Some("Name: old\n"))]),
            layer(&[
                (&format!("{SITE}/.wh..wh..opq"), Some("")),
                (&format!("{SITE}/new-2.0.dist-info"), None),
                (&new, Some("Name: new\n")),
            ]),
        ]);
        assert_eq!(files.keys().collect::<Vec<_>>(), vec![&new]);
    }

    #[test]
    fn only_metadata_status_and_copyright_files_are_wanted() {
        assert!(is_wanted("usr/share/doc/bash/copyright"));
        assert!(!is_wanted("usr/share/doc/bash/changelog.gz"));
        assert!(!is_wanted("usr/share/doc/copyright"));
        assert!(is_wanted(
            "opt/conda/lib/python3.12/site-packages/numpy-2.0.dist-info/METADATA"
        ));
        assert!(!is_wanted("opt/x/numpy-2.0.dist-info/RECORD"));
        assert!(!is_wanted("opt/x/METADATA"));
    }

    #[test]
    fn a_broken_zstd_layer_is_named_as_such() {
        let error = read_layer(&[0x28, 0xb5, 0x2f, 0xfd, 0]).unwrap_err();
        assert!(error.starts_with("zstd: "), "{error}");
    }
}
