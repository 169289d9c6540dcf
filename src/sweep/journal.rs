//! The sweep journal: every finished run is appended as it finishes, so a sweep
//! killed midway (SIGKILL, an evicted pod, a preempted Slurm job) continues with
//! `--resume` from the runs already done and ends with exactly the outputs an
//! uninterrupted sweep writes.
//!
//! The journal is a text file beside the output directory (`.NAME.poolsim-journal`),
//! written only while the output's lock is held. Its first line names the sweep
//! (the experiment's fingerprint and the shard); the others are `run_lines`, in the
//! order the runs finished. A line cut short by a kill is dropped on resume (and
//! cut off the file); a journal of another sweep is refused. The journal is removed
//! once the outputs are committed.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use super::run_lines::{decode_run, encode_run};
use super::Run;

/// An open journal, appended to from the worker threads.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

/// What `Journal::open` found.
pub struct Opened {
    pub journal: Journal,
    /// Runs an earlier, interrupted sweep finished, by run number (empty without `--resume`).
    pub finished: BTreeMap<usize, Run>,
    /// Whether an earlier journal was discarded because `--resume` was not given.
    pub discarded: bool,
}

/// The first line: which sweep the journal belongs to.
fn header_line(sweep: &str) -> String {
    format!("poolsim_journal = {}\n", toml_string(sweep))
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

impl Journal {
    /// Opens the journal at `path` for the sweep identified by `sweep` (the
    /// experiment's fingerprint and the shard). With `resume`, the runs an earlier
    /// journal of the same sweep holds are returned; without it, any earlier journal
    /// is discarded.
    pub fn open(path: &Path, sweep: &str, resume: bool) -> Result<Opened> {
        let header = header_line(sweep);
        let existing = match fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut finished = BTreeMap::new();
        let discarded = existing.is_some() && !resume;
        let keep = match existing.filter(|_| resume) {
            Some(bytes) => Some(read_runs(path, &bytes, &header, &mut finished)?),
            None => None,
        };
        let file = match keep {
            Some(valid_len) => {
                let file = File::options()
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                // Cuts off a line a kill left unfinished, so appends start on a fresh line.
                file.set_len(valid_len as u64)
                    .with_context(|| format!("cannot repair {}", path.display()))?;
                file
            }
            None => {
                let mut file = File::create(path)
                    .with_context(|| format!("cannot create the journal {}", path.display()))?;
                file.write_all(header.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                file
            }
        };
        Ok(Opened {
            journal: Journal {
                path: path.to_path_buf(),
                file: Mutex::new(file),
            },
            finished,
            discarded,
        })
    }

    /// Appends one finished run (one `write` of one whole line).
    pub fn append(&self, run_number: usize, run: &Run) -> Result<()> {
        let line = encode_run(run_number, run)?;
        let mut file = self
            .file
            .lock()
            .map_err(|_| anyhow::anyhow!("the journal writer panicked"))?;
        file.write_all(line.as_bytes())
            .with_context(|| format!("cannot append to the journal {}", self.path.display()))
    }

    /// Removes the journal once the outputs it led to are committed.
    pub fn remove(self) -> Result<()> {
        drop(self.file);
        fs::remove_file(&self.path)
            .with_context(|| format!("cannot remove the journal {}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the runs of a journal into `finished`; returns the length of its valid part.
fn read_runs(
    path: &Path,
    bytes: &[u8],
    header: &str,
    finished: &mut BTreeMap<usize, Run>,
) -> Result<usize> {
    if !bytes.starts_with(header.as_bytes()) {
        bail!(
            "{} is the journal of a different sweep (the experiment, --set, --seed, --shard or poolsim's version changed); run without --resume to start over",
            path.display()
        );
    }
    let mut valid = header.len();
    let mut rest = &bytes[valid..];
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let decoded = std::str::from_utf8(&rest[..end])
            .map_err(anyhow::Error::from)
            .and_then(decode_run);
        match decoded {
            Ok((number, run)) => {
                finished.entry(number).or_insert(run);
            }
            // Only the last line can be cut short by a kill; anything else was changed by hand.
            Err(_) if rest[end + 1..].is_empty() => break,
            Err(e) => bail!(
                "{} is damaged at byte {valid}: {e:#}; run without --resume to start over",
                path.display()
            ),
        }
        valid += end + 1;
        rest = &rest[end + 1..];
    }
    Ok(valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::summary::Summary;

    fn run(point: usize) -> Run {
        Run {
            point,
            replication: 0,
            summary: Summary::default(),
            series: Vec::new(),
        }
    }

    #[test]
    fn a_resumed_journal_returns_its_runs_and_drops_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".out.poolsim-journal");
        let opened = Journal::open(&path, "sweep a", false).unwrap();
        assert!(opened.finished.is_empty() && !opened.discarded);
        opened.journal.append(4, &run(4)).unwrap();
        opened.journal.append(1, &run(1)).unwrap();
        drop(opened);
        // A kill in the middle of the third line.
        let torn = encode_run(2, &run(2)).unwrap();
        let mut file = File::options().append(true).open(&path).unwrap();
        file.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
        drop(file);

        let opened = Journal::open(&path, "sweep a", true).unwrap();
        assert_eq!(opened.finished.keys().copied().collect::<Vec<_>>(), [1, 4]);
        opened.journal.append(2, &run(2)).unwrap();
        drop(opened);
        let again = Journal::open(&path, "sweep a", true).unwrap();
        assert_eq!(
            again.finished.keys().copied().collect::<Vec<_>>(),
            [1, 2, 4]
        );
        again.journal.remove().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn another_sweeps_journal_is_refused_on_resume_and_discarded_without() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let opened = Journal::open(&path, "sweep a", false).unwrap();
        opened.journal.append(0, &run(0)).unwrap();
        drop(opened);
        let error = Journal::open(&path, "sweep b", true).err().unwrap();
        assert!(error.to_string().contains("different sweep"), "{error}");
        let fresh = Journal::open(&path, "sweep b", false).unwrap();
        assert!(fresh.discarded && fresh.finished.is_empty());
    }

    #[test]
    fn a_damaged_line_before_the_last_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let opened = Journal::open(&path, "s", false).unwrap();
        drop(opened);
        let mut file = File::options().append(true).open(&path).unwrap();
        file.write_all(b"garbage\n").unwrap();
        file.write_all(encode_run(0, &run(0)).unwrap().as_bytes())
            .unwrap();
        drop(file);
        let error = Journal::open(&path, "s", true).err().unwrap();
        assert!(error.to_string().contains("damaged"), "{error}");
    }
}
