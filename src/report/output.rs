//! Writing outputs so that a reader never sees a half-written or mixed result.
//!
//! A sweep's files are one set: they are staged in a fresh directory beside the
//! target and swapped in with one rename (`renameat2(RENAME_EXCHANGE)` on Linux),
//! so the target holds either the old set or the new one, never a mix, and files
//! an earlier run wrote that this run does not (SVGs after switching to PNG only)
//! go with the old set. A lock file beside the target refuses a second concurrent
//! writer, and staging directories a killed run left behind are removed by the
//! next writer. Single files (`run --timeseries`) are replaced by a temporary file
//! and a rename, and never over anything that is not a regular file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One rendered output, relative to the output directory ("charts/capacity-p99.png").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

impl OutputFile {
    pub fn new(path: impl Into<String>, bytes: Vec<u8>) -> OutputFile {
        OutputFile {
            path: path.into(),
            bytes,
        }
    }
}

/// Marks a directory as poolsim's, so that replacing it as a whole never deletes a user's files.
pub const MARKER: &str = ".poolsim-output";

/// Files whose presence shows that a directory without the marker was written by an earlier poolsim.
const EARLIER_OUTPUTS: [&str; 3] = ["report.md", "recommendations.json", "runs.csv"];

/// Writes `bytes` to `path` via a temporary file in the same directory and a rename.
/// Refuses to replace anything that is not a regular file (a device, a FIFO, a directory).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    refuse_non_regular(path)?;
    let dir = parent_of(path);
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let mut file = tempfile::Builder::new()
        .prefix(".poolsim-tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    make_readable(file.as_file())?;
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// An error when `path` exists and is not a regular file.
pub fn refuse_non_regular(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => bail!(
            "{} exists and is not a regular file; poolsim only replaces regular files: choose another path",
            path.display()
        ),
        _ => Ok(()),
    }
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Temporary files are private (0600); outputs are ordinary files others may read.
fn make_readable(file: &File) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

/// Replaces the directory `dir` with exactly `files` (and the marker), all or nothing.
pub fn commit_set(dir: &Path, files: &[OutputFile]) -> Result<()> {
    lock_output(dir)?.commit(files)
}

/// The right to replace one output directory, held from before a sweep starts
/// until its set is committed, so that a second writer is refused up front.
pub struct OutputLock {
    _file: File,
    dir: PathBuf,
    parent: PathBuf,
    name: String,
}

/// Checks that `dir` may be replaced and takes its lock (see `commit_set`).
pub fn lock_output(dir: &Path) -> Result<OutputLock> {
    let name = check_target(dir)?;
    let parent = parent_of(dir);
    fs::create_dir_all(parent)
        .with_context(|| format!("cannot create directory {}", parent.display()))?;
    let file = lock_beside(parent, &name, dir)?;
    Ok(OutputLock {
        _file: file,
        dir: dir.to_path_buf(),
        parent: parent.to_path_buf(),
        name,
    })
}

impl OutputLock {
    /// Replaces the directory with exactly `files` (and the marker), all or nothing.
    pub fn commit(&self, files: &[OutputFile]) -> Result<()> {
        remove_stale_staging(&self.parent, &self.name);
        let staged = stage(&self.parent, &self.name, files)?;
        swap_in(&staged, &self.dir, &self.parent, &self.name)
    }

    /// `.NAME.poolsim-WHAT` beside the directory: private files of its writer (the journal).
    pub fn beside(&self, what: &str) -> PathBuf {
        self.parent.join(format!(".{}.poolsim-{what}", self.name))
    }
}

/// The directory's file name, after refusing targets that would lose a user's files.
fn check_target(dir: &Path) -> Result<String> {
    let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        bail!(
            "\"{}\" cannot be an output directory; name a directory, e.g. output/review",
            dir.display()
        );
    };
    match fs::symlink_metadata(dir) {
        Err(_) => Ok(name),
        Ok(meta) if !meta.is_dir() => bail!(
            "{} exists and is not a directory; choose another output directory",
            dir.display()
        ),
        Ok(_) => {
            let mut entries = fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .filter_map(|e| e.ok());
            let ours =
                dir.join(MARKER).exists() || EARLIER_OUTPUTS.iter().any(|f| dir.join(f).is_file());
            if !ours && entries.next().is_some() {
                bail!(
                    "{} already holds files poolsim did not write; poolsim replaces its output directory as a whole, so choose an empty or new directory",
                    dir.display()
                );
            }
            Ok(name)
        }
    }
}

/// Holds an exclusive lock on `.NAME.poolsim-lock` beside the target until dropped.
fn lock_beside(parent: &Path, name: &str, dir: &Path) -> Result<File> {
    let path = parent.join(format!(".{name}.poolsim-lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => bail!(
            "another poolsim is writing {} right now; wait for it to finish or choose another --out",
            dir.display()
        ),
        Err(fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

fn staging_prefix(name: &str) -> String {
    format!(".{name}.poolsim-new-")
}

/// Staging directories of a writer that was killed; only called with the lock held.
fn remove_stale_staging(parent: &Path, name: &str) {
    let prefix = staging_prefix(name);
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn stage(parent: &Path, name: &str, files: &[OutputFile]) -> Result<PathBuf> {
    let staging = tempfile::Builder::new()
        .prefix(&staging_prefix(name))
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a staging directory in {}", parent.display()))?;
    for file in files.iter().chain(std::iter::once(&OutputFile::new(
        MARKER,
        b"written by poolsim; this directory is replaced as a whole by the next run\n".to_vec(),
    ))) {
        let path = staging.path().join(&file.path);
        if let Some(sub) = path.parent() {
            fs::create_dir_all(sub).with_context(|| format!("cannot create {}", sub.display()))?;
        }
        let mut out =
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        out.write_all(&file.bytes)
            .and_then(|_| out.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        make_readable(&out)?;
    }
    open_directories(staging.path())?;
    Ok(staging.keep())
}

/// Staging directories are private (0700); the output directory is an ordinary one.
fn open_directories(root: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for dir in std::iter::once(root.to_path_buf()).chain(
            fs::read_dir(root)?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir()),
        ) {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}

/// Puts `staged` where `dir` is; the old set (if any) is removed afterwards.
fn swap_in(staged: &Path, dir: &Path, parent: &Path, name: &str) -> Result<()> {
    if fs::symlink_metadata(dir).is_err() {
        return fs::rename(staged, dir)
            .with_context(|| format!("cannot move the new outputs into {}", dir.display()));
    }
    if exchange(staged, dir).is_ok() {
        // `staged` now holds the old set.
        let _ = fs::remove_dir_all(staged);
        return Ok(());
    }
    let old = parent.join(format!("{}old", staging_prefix(name)));
    let _ = fs::remove_dir_all(&old);
    fs::rename(dir, &old).with_context(|| format!("cannot move {} aside", dir.display()))?;
    fs::rename(staged, dir)
        .with_context(|| format!("cannot move the new outputs into {}", dir.display()))?;
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// Atomically exchanges two paths (Linux `renameat2` with `RENAME_EXCHANGE`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                    out.push((rel, fs::read(e.path()).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_new_set_replaces_the_old_one_whole() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        commit_set(
            &dir,
            &[
                OutputFile::new("a.csv", b"1".to_vec()),
                OutputFile::new("charts/x.svg", b"<svg/>".to_vec()),
            ],
        )
        .unwrap();
        commit_set(&dir, &[OutputFile::new("a.csv", b"2".to_vec())]).unwrap();
        let files: Vec<String> = snapshot(&dir).into_iter().map(|(p, _)| p).collect();
        assert_eq!(files, vec![MARKER.to_string(), "a.csv".to_string()]);
        assert_eq!(fs::read(dir.join("a.csv")).unwrap(), b"2");
        // Nothing but the output directory and its lock file beside it.
        let beside: Vec<String> = fs::read_dir(root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(beside.len(), 2, "{beside:?}");
    }

    #[test]
    fn a_directory_with_a_users_files_is_refused() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("notes.txt"), "mine").unwrap();
        let error = commit_set(root.path(), &[OutputFile::new("a.csv", vec![])]).unwrap_err();
        assert!(error.to_string().contains("did not write"), "{error}");
        assert_eq!(fs::read(root.path().join("notes.txt")).unwrap(), b"mine");
    }

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let _held = lock_beside(root.path(), "out", &dir).unwrap();
        let error = commit_set(&dir, &[OutputFile::new("a.csv", vec![])]).unwrap_err();
        assert!(error.to_string().contains("another poolsim"), "{error}");
        assert!(!dir.exists());
    }

    #[test]
    fn stale_staging_directories_are_cleaned_up() {
        let root = tempfile::tempdir().unwrap();
        let stale = root.path().join(".out.poolsim-new-killed");
        fs::create_dir_all(&stale).unwrap();
        commit_set(&root.path().join("out"), &[]).unwrap();
        assert!(!stale.exists());
    }

    #[cfg(unix)]
    #[test]
    fn single_files_never_replace_devices() {
        let error = write_atomically(Path::new("/dev/null"), b"x").unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }
}
