//! Replacing the output directory as a whole.
//!
//! The new directory is built beside DIR (a temporary sibling, so the same
//! filesystem), every file synced, and then swapped in: renamed into place
//! when DIR does not exist, else exchanged with DIR in one step
//! (`renameat2(RENAME_EXCHANGE)`) and the old contents removed. A
//! filesystem that cannot exchange gets rename-aside, rename-in, remove;
//! there a crash between the two renames leaves DIR missing and the old
//! contents in a `.fwc-old-*` sibling. Readers see the old directory or the
//! new one, never a mix, and a failure before the swap leaves DIR as it was.
//!
//! fwc replaces only what is its own: DIR must not exist, or be an empty
//! directory, or hold fwc's `manifest.json` and nothing but files a bundle
//! may hold ([`super::artifacts::is_bundle_file`]). Anything else is
//! refused before anything is written, so `-o ~` cannot delete a user's
//! files.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::artifacts::is_bundle_file;
use super::manifest::FILE_NAME;

/// Why the directory was not replaced.
#[derive(Debug)]
pub enum Error {
    /// DIR is not fwc's to replace; nothing was touched.
    Refused {
        /// The directory.
        dir: PathBuf,
        /// Why.
        why: String,
    },
    /// Reading or writing failed.
    Io {
        /// What was being done.
        doing: String,
        /// The error.
        error: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused { dir, why } => write!(
                f,
                "refusing to replace '{}': {why}; fwc replaces only a directory that is \
                 empty or that it wrote (its manifest.json and artifacts, nothing else)",
                dir.display()
            ),
            Error::Io { doing, error } => write!(f, "{doing}: {error}"),
        }
    }
}

impl std::error::Error for Error {}

fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let doing = doing.into();
    move |error| Error::Io { doing, error }
}

/// What is at DIR now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Nothing.
    Missing,
    /// An empty directory, or one fwc wrote.
    Replaceable,
}

/// Whether DIR may be replaced (see the module documentation).
pub fn check(dir: &Path) -> Result<Existing, Error> {
    let refused = |why: String| Error::Refused {
        dir: dir.to_path_buf(),
        why,
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Missing),
        Err(e) => return Err(io(format!("cannot inspect '{}'", dir.display()))(e)),
        Ok(m) => m,
    };
    if meta.file_type().is_symlink() {
        return Err(refused("it is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(refused("it exists and is not a directory".into()));
    }
    let entries = std::fs::read_dir(dir).map_err(io(format!("cannot read '{}'", dir.display())))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(format!("cannot read '{}'", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !is_file || !is_bundle_file(&name) {
            return Err(refused(format!(
                "it holds '{name}', which fwc does not write"
            )));
        }
        names.push(name);
    }
    if names.is_empty() {
        return Ok(Existing::Replaceable);
    }
    let manifest = std::fs::read(dir.join(FILE_NAME)).ok();
    let by_fwc = manifest
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|m| m["fwc"]["name"] == "fwc" && m["artifacts"].is_array());
    if by_fwc {
        Ok(Existing::Replaceable)
    } else {
        Err(refused(format!("it has no {FILE_NAME} written by fwc")))
    }
}

/// Replaces DIR by a directory holding exactly `files` (name, bytes), or
/// leaves it untouched and says why.
pub fn replace_dir(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), Error> {
    let Some(parent) = parent_of(dir) else {
        return Err(Error::Refused {
            dir: dir.to_path_buf(),
            why: "it names no directory entry that can be replaced".into(),
        });
    };
    let existing = check(dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".fwc-new-")
        .tempdir_in(&parent)
        .map_err(io(format!(
            "cannot create a directory in '{}'",
            parent.display()
        )))?;
    fill(tmp.path(), files)?;
    match existing {
        Existing::Missing => {
            std::fs::rename(tmp.path(), dir).map_err(io(format!(
                "cannot move the new directory to '{}'",
                dir.display()
            )))?;
            // It is DIR now: nothing left to clean up.
            let _ = tmp.keep();
        }
        Existing::Replaceable => {
            match exchange(tmp.path(), dir) {
                // The temporary path now holds the old contents; dropping
                // the guard removes them.
                Ok(()) => {}
                Err(e) if cannot_exchange(&e) => swap_by_renames(tmp.path(), dir, &parent)?,
                Err(e) => {
                    return Err(io(format!(
                        "cannot swap the new directory in for '{}'",
                        dir.display()
                    ))(e))
                }
            }
            drop(tmp);
        }
    }
    sync_dir(&parent).map_err(io(format!("cannot sync '{}'", parent.display())))
}

/// The directory DIR's entry is in (`.` for a bare name); `None` for paths
/// such as `/`, `.` or `..` whose entry cannot be swapped.
fn parent_of(dir: &Path) -> Option<PathBuf> {
    dir.file_name()?;
    Some(match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    })
}

/// Writes every file (0644, synced), makes the directory 0755 and syncs it.
fn fill(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), Error> {
    for (name, bytes) in files {
        let path = dir.join(name);
        let doing = format!("cannot write '{}'", path.display());
        let mut f = std::fs::File::create(&path).map_err(io(doing.clone()))?;
        f.write_all(bytes)
            .and_then(|()| set_mode(&path, 0o644))
            .and_then(|()| f.sync_all())
            .map_err(io(doing))?;
    }
    set_mode(dir, 0o755)
        .and_then(|()| sync_dir(dir))
        .map_err(io(format!("cannot finish '{}'", dir.display())))
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Swaps two directory entries in one step.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// Whether the exchange failed because the filesystem (or kernel) does not
/// do it, rather than for a reason a plain rename would share.
fn cannot_exchange(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    let code = e.raw_os_error();
    [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP, Errno::NOTSUP]
        .iter()
        .any(|errno| code == Some(errno.raw_os_error()))
}

/// The fallback: DIR aside, the new one in, the old one removed (and DIR
/// put back if the new one cannot be moved in).
fn swap_by_renames(new: &Path, dir: &Path, parent: &Path) -> Result<(), Error> {
    let aside = tempfile::Builder::new()
        .prefix(".fwc-old-")
        .tempdir_in(parent)
        .map_err(io(format!(
            "cannot create a directory in '{}'",
            parent.display()
        )))?;
    // Renaming a directory onto an empty one replaces it.
    std::fs::rename(dir, aside.path())
        .map_err(io(format!("cannot move '{}' aside", dir.display())))?;
    if let Err(e) = std::fs::rename(new, dir) {
        let restored = std::fs::rename(aside.path(), dir);
        let doing = match restored {
            Ok(()) => format!("cannot move the new directory to '{}'", dir.display()),
            Err(_) => format!(
                "cannot move the new directory to '{}' (the old one is in '{}')",
                dir.display(),
                aside.keep().display()
            ),
        };
        return Err(io(doing)(e));
    }
    // Dropping the guard removes the old contents.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &[u8] = b"{\"fwc\":{\"name\":\"fwc\"},\"artifacts\":[]}\n";

    fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn only_entry(parent: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn creates_then_replaces_leaving_no_temporaries() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        replace_dir(&dir, &[("setup.nft", b"one\n"), (FILE_NAME, MANIFEST)]).unwrap();
        assert_eq!(
            listing(&dir),
            [
                (FILE_NAME.to_owned(), MANIFEST.to_vec()),
                ("setup.nft".to_owned(), b"one\n".to_vec())
            ]
        );
        replace_dir(&dir, &[("rules.v4", b"two\n"), (FILE_NAME, MANIFEST)]).unwrap();
        assert_eq!(
            listing(&dir),
            [
                (FILE_NAME.to_owned(), MANIFEST.to_vec()),
                ("rules.v4".to_owned(), b"two\n".to_vec())
            ]
        );
        assert_eq!(only_entry(root.path()), ["out"]);
    }

    #[test]
    fn an_empty_directory_is_replaced() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        replace_dir(&dir, &[(FILE_NAME, MANIFEST)]).unwrap();
        assert_eq!(listing(&dir).len(), 1);
    }

    #[test]
    fn foreign_contents_are_refused_and_untouched() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("home");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("thesis.tex"), "precious").unwrap();
        let err = replace_dir(&dir, &[(FILE_NAME, MANIFEST)]).unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{err}");
        assert!(err.to_string().contains("'thesis.tex'"), "{err}");
        assert_eq!(
            listing(&dir),
            [("thesis.tex".to_owned(), b"precious".to_vec())]
        );
        assert_eq!(only_entry(root.path()), ["home"]);

        // Artifact names without fwc's manifest are not enough.
        std::fs::remove_file(dir.join("thesis.tex")).unwrap();
        std::fs::write(dir.join("setup.nft"), "mine").unwrap();
        let err = replace_dir(&dir, &[(FILE_NAME, MANIFEST)]).unwrap_err();
        assert!(err.to_string().contains("manifest.json"), "{err}");
        // Nor is a manifest someone else wrote.
        std::fs::write(dir.join(FILE_NAME), "{\"tool\":\"other\"}").unwrap();
        assert!(replace_dir(&dir, &[(FILE_NAME, MANIFEST)]).is_err());
        // A subdirectory is never fwc's.
        std::fs::write(dir.join(FILE_NAME), MANIFEST).unwrap();
        std::fs::create_dir(dir.join("rules.v6")).unwrap();
        assert!(replace_dir(&dir, &[(FILE_NAME, MANIFEST)]).is_err());
        assert!(dir.join("rules.v6").is_dir());
    }

    #[test]
    fn files_and_unswappable_paths_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("out");
        std::fs::write(&file, "x").unwrap();
        let err = replace_dir(&file, &[(FILE_NAME, MANIFEST)]).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        assert!(replace_dir(Path::new("."), &[]).is_err());
        assert!(replace_dir(Path::new("/"), &[]).is_err());
    }

    #[test]
    fn the_rename_fallback_swaps_too() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let new = root.path().join("new");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("old"), "old").unwrap();
        std::fs::create_dir(&new).unwrap();
        std::fs::write(new.join("new"), "new").unwrap();
        swap_by_renames(&new, &dir, root.path()).unwrap();
        assert_eq!(listing(&dir), [("new".to_owned(), b"new".to_vec())]);
        assert_eq!(only_entry(root.path()), ["out"]);
    }

    #[test]
    fn exchange_errors_that_mean_unsupported_fall_back() {
        let e = |errno: rustix::io::Errno| std::io::Error::from_raw_os_error(errno.raw_os_error());
        assert!(cannot_exchange(&e(rustix::io::Errno::INVAL)));
        assert!(cannot_exchange(&e(rustix::io::Errno::NOSYS)));
        assert!(!cannot_exchange(&e(rustix::io::Errno::ACCESS)));
    }
}
