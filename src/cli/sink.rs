//! Where a report (or a saved inventory) goes: stdout, or a file that is only ever replaced by a
//! whole one.
//!
//! A file is written beside its destination under a temporary name, created before any scanning
//! (an unwritable directory fails fast), and renamed over the destination once whole: a scan
//! that fails, or is killed, leaves the previous file as it was (or no file), never a truncated
//! one. The replacement keeps the destination's permissions; where the rename cannot be done (a
//! file bind-mounted into a container, another file system), the whole file is copied in. A
//! destination that exists and is not a regular file (`/dev/null`, a pipe, a terminal, a
//! dangling symlink), or a file in a directory the user cannot write to, is written in place,
//! emptied only when the whole file is ready, and never removed. `-` is stdout.

use super::usage;
use anyhow::{Context as _, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

pub(super) enum Sink {
    Stdout,
    /// Written in place.
    InPlace {
        what: &'static str,
        path: PathBuf,
        file: std::fs::File,
    },
    /// Written to `temp`, then renamed to `target` (the destination, its symlinks resolved).
    Replace {
        what: &'static str,
        path: PathBuf,
        target: PathBuf,
        temp: Partial,
        file: std::fs::File,
    },
}

/// A temporary file that is removed unless it became the destination: whatever ends the run
/// early (an error, `?`, a sink dropped unwritten) leaves nothing behind.
pub(super) struct Partial(Option<PathBuf>);

impl Partial {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("set until renamed")
    }

    /// Makes the file `target`: renamed over it, or where that cannot be done, copied into it.
    /// The temporary file is then gone either way.
    fn rename_to(mut self, target: &Path) -> std::io::Result<()> {
        let temp = self.path().to_path_buf();
        if std::fs::rename(&temp, target).is_ok() {
            self.0 = None;
            return Ok(());
        }
        let mut whole = std::fs::File::open(&temp)?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .create(true)
            .open(target)?;
        std::io::copy(&mut whole, &mut out)?;
        out.flush()
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(temp) = self.0.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
}

impl Sink {
    /// The report's destination: `--output` or stdout.
    pub(super) fn report(path: Option<&Path>) -> Result<Sink> {
        match path {
            None => Ok(Sink::Stdout),
            Some(path) if path.as_os_str() == "-" => Ok(Sink::Stdout),
            Some(path) => Sink::file(path, "report", "--output"),
        }
    }

    pub(super) fn is_stdout(&self) -> bool {
        matches!(self, Sink::Stdout)
    }

    /// A file for `what`, named by `flag`.
    pub(super) fn file(path: &Path, what: &'static str, flag: &str) -> Result<Sink> {
        let cannot = |e: std::io::Error| {
            usage(format!(
                "cannot write the {what} to {}: {e}: choose a writable {flag} path",
                path.display()
            ))
        };
        let in_place = |file: std::io::Result<std::fs::File>| {
            Ok(Sink::InPlace {
                what,
                path: path.to_path_buf(),
                file: file.map_err(cannot)?,
            })
        };
        let writable = |at: &Path| std::fs::OpenOptions::new().write(true).open(at);
        if path.as_os_str().to_string_lossy().ends_with('/') {
            return Err(usage(format!(
                "{flag} {} names a directory: name a file",
                path.display()
            )));
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(usage(format!(
                    "{flag} {} is a directory: name a file",
                    path.display()
                )));
            }
            Ok(meta) if !meta.is_file() => return in_place(writable(path)),
            _ => {}
        }
        let target = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
                Ok(target) => target,
                // Dangling: written through the link, which creates its target.
                Err(_) => return in_place(std::fs::File::create(path)),
            },
            _ => path.to_path_buf(),
        };
        let name = target
            .file_name()
            .ok_or_else(|| usage(format!("{flag} {} names no file", path.display())))?;
        let existing = std::fs::metadata(&target).ok();
        // A name of its own (several runs may share a PID: containers), tried a few times.
        let mut created = None;
        for attempt in 0..8u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(
                ".{}-{nanos:x}-{attempt}.partial",
                std::process::id()
            ));
            let temp = target.with_file_name(temp_name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
            {
                Ok(file) => {
                    created = Some((temp, file));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                // A directory this user cannot write to, holding a file it can.
                Err(_) if existing.is_some() => return in_place(writable(&target)),
                Err(e) => return Err(cannot(e)),
            }
        }
        let (temp, file) = created.ok_or_else(|| {
            cannot(std::io::Error::other(
                "no free temporary name beside it after 8 tries",
            ))
        })?;
        let temp = Partial(Some(temp));
        // The replacement keeps the access the destination had (a report restricted to its
        // owner stays so).
        if let Some(meta) = &existing {
            std::fs::set_permissions(temp.path(), meta.permissions()).map_err(cannot)?;
        }
        Ok(Sink::Replace {
            what,
            path: path.to_path_buf(),
            target,
            temp,
            file,
        })
    }

    /// Streams `render` into the destination through a buffer (reports of large organizations
    /// are hundreds of megabytes; they are not held in memory twice).
    pub(super) fn write_with(
        self,
        render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let write = |file: Box<dyn Write>| {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
            render(&mut out).and_then(|_| out.flush())
        };
        match self {
            Sink::Stdout => write(Box::new(std::io::stdout().lock()))?,
            Sink::InPlace { what, path, file } => {
                // Emptied now, not when opened: a scan that fails leaves the file as it was. (A
                // device or a pipe has no length to set.)
                let _ = file.set_len(0);
                write(Box::new(file))
                    .with_context(|| format!("writing the {what} to {}", path.display()))?
            }
            Sink::Replace {
                what,
                path,
                target,
                temp,
                file,
            } => write(Box::new(file))
                .and_then(|_| temp.rename_to(&target))
                .with_context(|| format!("writing the {what} to {}", path.display()))?,
        }
        Ok(())
    }
}

/// The file `path` names, its symlinks resolved, whether or not it exists yet (`None` if its
/// directory cannot be resolved either).
pub(super) fn resolved(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok().or_else(|| {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(parent).ok()?.join(path.file_name()?))
    })
}
