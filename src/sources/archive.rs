//! Zip uploads. The whole central directory is vetted before anything is written: every name is
//! normalised and must stay inside the archive's folder, names must be unique after
//! normalisation, nothing may be encrypted. Extraction then counts the bytes actually
//! decompressed, never the sizes the headers claim, and creates links last so that nothing is
//! ever written through one.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use zip::ZipArchive;

use super::budget::StagingBudget;
use super::error::SourceError;
use super::tree;

/// Longest symbolic link target read from an archive.
const MAX_LINK_TARGET: u64 = 4096;

const UNIX_FILE_TYPE: u32 = 0o170_000;
const UNIX_SYMLINK: u32 = 0o120_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Folder,
    File { executable: bool },
    Link,
}

/// One path the archive creates, by its normalised components.
#[derive(Debug)]
struct PlannedEntry {
    kind: EntryKind,
    /// Index in the archive; `None` for a folder only implied by the entries inside it.
    index: Option<usize>,
    /// The name as written in the archive (or of the first entry implying the folder).
    name: String,
}

/// Extracts the zip at `archive_path` into `destination` (which must not exist) and returns
/// the source root: `destination` itself, or the single top-level folder that holds every entry
/// (as in archives downloaded from GitHub).
pub fn extract(
    archive_path: &Path,
    destination: &Path,
    budget: &mut StagingBudget,
) -> Result<PathBuf, SourceError> {
    let unreadable = |source| SourceError::ZipUnreadable {
        path: archive_path.to_path_buf(),
        source,
    };
    let file =
        File::open(archive_path).map_err(|source| unreadable(zip::result::ZipError::Io(source)))?;
    let mut archive = ZipArchive::new(file).map_err(unreadable)?;
    let plan = plan(archive_path, &mut archive, budget)?;

    tree::create_folder(destination)?;
    let mut links = Vec::new();
    for (components, planned) in &plan {
        budget.check_time("extracting the zip archive")?;
        budget.add_entry(&planned.name)?;
        let path = components
            .iter()
            .fold(destination.to_path_buf(), |path, component| {
                path.join(component)
            });
        match (planned.kind, planned.index) {
            (EntryKind::Folder, _) => tree::create_folder(&path)?,
            (EntryKind::File { executable }, Some(index)) => {
                write_file(
                    &mut archive,
                    index,
                    &planned.name,
                    &path,
                    executable,
                    budget,
                )?;
            }
            (EntryKind::Link, Some(index)) => links.push((index, planned, path)),
            (_, None) => unreachable!("only folders are implied"),
        }
    }

    let canonical_destination = tree::canonical(destination)?;
    for (index, planned, path) in &links {
        let target = read_entry(&mut archive, *index, &planned.name, budget)?;
        let target = String::from_utf8(target).map_err(|_| SourceError::ZipEntryNameInvalid {
            entry: planned.name.clone(),
            reason: "its link target is not UTF-8",
        })?;
        std::os::unix::fs::symlink(&target, path).map_err(|source| SourceError::Filesystem {
            action: "create the symbolic link",
            path: path.clone(),
            source,
        })?;
    }
    for (_, planned, path) in &links {
        tree::check_link_stays_inside(&canonical_destination, path, &planned.name)?;
    }

    Ok(match single_top_folder(&plan) {
        Some(top) => destination.join(top),
        None => destination.to_path_buf(),
    })
}

/// Vets every entry of the central directory and returns what extraction will create, parents
/// before children.
fn plan(
    archive_path: &Path,
    archive: &mut ZipArchive<File>,
    budget: &StagingBudget,
) -> Result<BTreeMap<Vec<String>, PlannedEntry>, SourceError> {
    if archive.has_duplicate_names() {
        let entry = first_repeated_name(archive_path, archive.central_directory_start())
            .unwrap_or_else(|| "(unnamed)".to_owned());
        return Err(SourceError::ZipDuplicateEntry {
            other: entry.clone(),
            entry,
        });
    }
    let mut plan: BTreeMap<Vec<String>, PlannedEntry> = BTreeMap::new();
    for index in 0..archive.len() {
        budget.check_time("checking the zip archive")?;
        let (name, kind) = describe(archive, index)?;
        let components = normalise(&name)?;
        if components.is_empty() {
            if kind == EntryKind::Folder {
                continue;
            }
            return Err(SourceError::ZipEntryNameInvalid {
                entry: name,
                reason: "it names no file",
            });
        }
        add_to_plan(
            &mut plan,
            components,
            PlannedEntry {
                kind,
                index: Some(index),
                name: name.clone(),
            },
        )?;
        if plan.len() as u64 > budget.max_files() {
            return Err(SourceError::TooManyFiles {
                limit: budget.max_files(),
                entry: name,
            });
        }
    }
    Ok(plan)
}

/// The name and kind of entry `index`, refusing encrypted entries.
fn describe(archive: &ZipArchive<File>, index: usize) -> Result<(String, EntryKind), SourceError> {
    let unreadable = |source| SourceError::EntryUnreadable {
        entry: format!("#{index}"),
        source: std::io::Error::other(source),
    };
    let entry = archive.by_index_data(index).map_err(unreadable)?;
    let name = entry.name().map_err(unreadable)?.into_owned();
    if entry.encrypted() {
        return Err(SourceError::ZipEntryEncrypted { entry: name });
    }
    let mode = entry.unix_mode().unwrap_or(0);
    let kind = if entry.is_dir() {
        EntryKind::Folder
    } else if mode & UNIX_FILE_TYPE == UNIX_SYMLINK {
        EntryKind::Link
    } else {
        EntryKind::File {
            executable: mode & 0o111 != 0,
        }
    };
    Ok((name, kind))
}

/// Adds an entry and the folders it implies, refusing a second entry for the same path and an
/// entry inside something that is not a folder.
fn add_to_plan(
    plan: &mut BTreeMap<Vec<String>, PlannedEntry>,
    components: Vec<String>,
    planned: PlannedEntry,
) -> Result<(), SourceError> {
    for depth in 1..components.len() {
        match plan.entry(components[..depth].to_vec()) {
            Entry::Vacant(vacant) => {
                vacant.insert(PlannedEntry {
                    kind: EntryKind::Folder,
                    index: None,
                    name: planned.name.clone(),
                });
            }
            Entry::Occupied(occupied) if occupied.get().kind != EntryKind::Folder => {
                return Err(SourceError::ZipEntryConflict {
                    entry: planned.name,
                    other: occupied.get().name.clone(),
                });
            }
            Entry::Occupied(_) => {}
        }
    }
    match plan.entry(components) {
        Entry::Vacant(vacant) => {
            vacant.insert(planned);
            Ok(())
        }
        Entry::Occupied(mut occupied) => {
            let existing = occupied.get();
            match (existing.kind, existing.index, planned.kind) {
                (EntryKind::Folder, None, EntryKind::Folder) => {
                    occupied.insert(planned);
                    Ok(())
                }
                (EntryKind::Folder, None, _) => Err(SourceError::ZipEntryConflict {
                    entry: existing.name.clone(),
                    other: planned.name,
                }),
                _ => Err(SourceError::ZipDuplicateEntry {
                    entry: planned.name,
                    other: existing.name.clone(),
                }),
            }
        }
    }
}

/// Splits an entry name into the components of the path it creates, refusing any name that
/// would leave the archive's folder or that cannot be written as given.
fn normalise(name: &str) -> Result<Vec<String>, SourceError> {
    let invalid = |reason| SourceError::ZipEntryNameInvalid {
        entry: name.to_owned(),
        reason,
    };
    let escapes = || SourceError::ZipEntryEscapes {
        entry: name.to_owned(),
    };
    if name.contains('\0') {
        return Err(invalid("it contains a NUL character"));
    }
    if name.contains('\\') {
        return Err(invalid(
            "it contains a backslash; folders must be separated by `/`",
        ));
    }
    if name.starts_with('/') {
        return Err(escapes());
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(escapes());
    }
    let mut components: Vec<String> = Vec::new();
    for component in name.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop().ok_or_else(escapes)?;
            }
            _ => components.push(component.to_owned()),
        }
    }
    Ok(components)
}

/// The folder every entry sits in, when there is exactly one and it is a folder.
fn single_top_folder(plan: &BTreeMap<Vec<String>, PlannedEntry>) -> Option<&str> {
    let (first, planned) = plan.iter().next()?;
    let top = first.first()?;
    let single = first.len() == 1
        && planned.kind == EntryKind::Folder
        && plan
            .keys()
            .all(|components| components.first() == Some(top));
    single.then_some(top.as_str())
}

fn write_file(
    archive: &mut ZipArchive<File>,
    index: usize,
    name: &str,
    path: &Path,
    executable: bool,
    budget: &mut StagingBudget,
) -> Result<(), SourceError> {
    let mut output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(path)
        .map_err(|source| SourceError::Filesystem {
            action: "create the file",
            path: path.to_path_buf(),
            source,
        })?;
    let mut input = archive
        .by_index(index)
        .map_err(|source| SourceError::EntryUnreadable {
            entry: name.to_owned(),
            source: std::io::Error::other(source),
        })?;
    budget.copy(name, &mut input, &mut output, "extracting the zip archive")
}

fn read_entry(
    archive: &mut ZipArchive<File>,
    index: usize,
    name: &str,
    budget: &mut StagingBudget,
) -> Result<Vec<u8>, SourceError> {
    let input = archive
        .by_index(index)
        .map_err(|source| SourceError::EntryUnreadable {
            entry: name.to_owned(),
            source: std::io::Error::other(source),
        })?;
    let mut content = Vec::new();
    budget.copy(
        name,
        &mut input.take(MAX_LINK_TARGET),
        &mut content,
        "extracting the zip archive",
    )?;
    Ok(content)
}

/// Names the first entry listed twice in the central directory (the archive reader keeps only
/// one of them, so the listing is read directly).
fn first_repeated_name(archive_path: &Path, start: u64) -> Option<String> {
    const CENTRAL_HEADER: u32 = 0x0201_4b50;
    let mut file = std::io::BufReader::new(File::open(archive_path).ok()?);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut seen = std::collections::HashSet::new();
    loop {
        let mut header = [0_u8; 46];
        file.read_exact(&mut header).ok()?;
        if u32::from_le_bytes(header[0..4].try_into().ok()?) != CENTRAL_HEADER {
            return None;
        }
        let field = |at: usize| u64::from(u16::from_le_bytes([header[at], header[at + 1]]));
        let mut name = vec![0_u8; usize::try_from(field(28)).ok()?];
        file.read_exact(&mut name).ok()?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let skip = i64::try_from(field(30) + field(32)).ok()?;
        file.seek(SeekFrom::Current(skip)).ok()?;
        if !seen.insert(name.clone()) {
            return Some(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_kept() {
        assert_eq!(
            normalise("lab/notebook.ipynb").unwrap(),
            ["lab", "notebook.ipynb"]
        );
        assert_eq!(normalise("lab/").unwrap(), ["lab"]);
        assert_eq!(normalise("./lab//a/./b").unwrap(), ["lab", "a", "b"]);
        assert_eq!(normalise("lab/x/../b").unwrap(), ["lab", "b"]);
    }

    #[test]
    fn escaping_names_are_refused() {
        for name in [
            "../evil",
            "/abs",
            "a/../../evil",
            "C:/Windows/evil",
            "c:evil",
            "..",
        ] {
            assert!(
                matches!(normalise(name), Err(SourceError::ZipEntryEscapes { ref entry }) if entry == name),
                "{name}"
            );
        }
    }

    #[test]
    fn backslashes_and_nul_are_refused() {
        for name in ["..\\evil", "a\\b", "a\0b"] {
            assert!(
                matches!(
                    normalise(name),
                    Err(SourceError::ZipEntryNameInvalid { .. })
                ),
                "{name}"
            );
        }
        assert_eq!(
            normalise("..\\evil").unwrap_err().to_string(),
            "zip entry `..\\evil` has an unusable name (it contains a backslash; folders must be \
             separated by `/`); rename it and re-create the archive"
        );
    }
}
