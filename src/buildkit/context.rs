//! The build context: the staged source plus files labforge adds (the generated Dockerfile, the CA
//! bundle), written as one tar file so that even a large source is streamed, never held in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::BuildkitError;

/// A tar file on disk holding everything BuildKit may read while building.
#[derive(Debug)]
pub struct BuildContext {
    pub path: PathBuf,
}

pub struct ContextWriter {
    path: PathBuf,
    tar: tar::Builder<BufWriter<File>>,
}

impl ContextWriter {
    pub fn create(path: &Path) -> Result<Self, BuildkitError> {
        let file = File::create(path).map_err(|source| context_error(path, source))?;
        let mut tar = tar::Builder::new(BufWriter::new(file));
        // Symbolic links are archived as links: a link can never make BuildKit read outside.
        tar.follow_symlinks(false);
        Ok(Self {
            path: path.to_owned(),
            tar,
        })
    }

    /// Adds everything below `root` (not `root` itself) under `prefix` (empty for the top of the
    /// context), in name order so that the same folder always gives the same archive.
    pub fn add_folder(&mut self, root: &Path, prefix: &Path) -> Result<(), BuildkitError> {
        self.add_entries_below(root, root, prefix)
    }

    fn add_entries_below(
        &mut self,
        root: &Path,
        folder: &Path,
        prefix: &Path,
    ) -> Result<(), BuildkitError> {
        let mut entries = std::fs::read_dir(folder)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|source| context_error(folder, source))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let name = prefix.join(path.strip_prefix(root).expect("entries lie below the root"));
            self.tar
                .append_path_with_name(&path, &name)
                .map_err(|source| context_error(&path, source))?;
            if entry
                .file_type()
                .map_err(|source| context_error(&path, source))?
                .is_dir()
            {
                self.add_entries_below(root, &path, prefix)?;
            }
        }
        Ok(())
    }

    /// Adds a file that is not part of the user's source (it replaces one of the same name).
    pub fn add_file(
        &mut self,
        name: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), BuildkitError> {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        self.tar
            .append_data(&mut header, name, contents)
            .map_err(|source| context_error(Path::new(name), source))
    }

    pub fn finish(self) -> Result<BuildContext, BuildkitError> {
        let path = self.path;
        self.tar
            .into_inner()
            .and_then(|mut writer| writer.flush())
            .map_err(|source| context_error(&path, source))?;
        Ok(BuildContext { path })
    }
}

fn context_error(path: &Path, source: std::io::Error) -> BuildkitError {
    BuildkitError::Context {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_archived_in_name_order_with_links_kept_as_links() {
        let source = tempfile::tempdir().unwrap();
        std::fs::create_dir(source.path().join("b")).unwrap();
        std::fs::write(source.path().join("b/inner.txt"), "x").unwrap();
        std::fs::write(source.path().join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", source.path().join("link")).unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut writer = ContextWriter::create(&out.path().join("context.tar")).unwrap();
        writer.add_folder(source.path(), Path::new("")).unwrap();
        writer
            .add_file("Dockerfile", b"FROM scratch\n", 0o644)
            .unwrap();
        let context = writer.finish().unwrap();

        let mut archive = tar::Archive::new(File::open(&context.path).unwrap());
        let entries: Vec<(String, tar::EntryType)> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (
                    entry.path().unwrap().display().to_string(),
                    entry.header().entry_type(),
                )
            })
            .collect();
        let names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["a.txt", "b", "b/inner.txt", "link", "Dockerfile"]);
        assert_eq!(entries[3].1, tar::EntryType::Symlink);
    }
}
