//! The executor's own effects inside a step, each journaled with what was there before
//! (issue #14): path routing's static trees and nginx include, and the seed of a storage entry.

use super::effects::journaled_effect;
use super::error::{EffectError, RunError};
use super::executor::lock;
use super::executor::Shared;
use super::journal::Revert;
use crate::dokku::Cmd;
use crate::plan::{Action, Step};

impl Shared<'_> {
    /// One of the executor's own effects, journaled (its undo first) with the step's.
    fn effect(
        &self,
        id: &str,
        undo: Revert,
        effect: impl FnOnce() -> Result<(), EffectError>,
    ) -> Result<(), RunError> {
        let mut j = lock(&self.journal);
        let mut entries = lock(&self.entries);
        journaled_effect(&mut j, &mut entries, id, undo, effect).map_err(|(_, e)| e)
    }

    /// Where the trees an effect replaces are kept until the transaction ends.
    fn saved_tree(&self, id: &str, tree: &std::path::Path) -> Option<std::path::PathBuf> {
        let name: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::symlink_metadata(tree)
            .is_ok()
            .then(|| self.archives.dir.with_file_name("undo").join(name))
    }

    /// Replaces the tree `to` by `fill`'s, journaled: the previous tree is moved aside first.
    fn replace_tree(
        &self,
        id: &str,
        to: &std::path::Path,
        fill: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<(), RunError> {
        // Each missing parent directory is an effect of its own, removed by the undo.
        let mut missing = Vec::new();
        let mut next = to.parent();
        while let Some(d) = next.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            missing.push(d.to_path_buf());
            next = d.parent();
        }
        for d in missing.into_iter().rev() {
            self.effect(
                &format!("{id}/mkdir {}", d.display()),
                Revert::Dir {
                    created_dir: d.clone(),
                },
                || std::fs::create_dir(&d).map_err(|e| EffectError::io(&d, e)),
            )?;
        }
        let saved = self.saved_tree(id, to);
        let undo = Revert::Tree {
            tree: to.to_path_buf(),
            saved: saved.clone(),
        };
        self.effect(id, undo, || {
            let io = EffectError::io;
            if let Some(sv) = &saved {
                let parent = sv.parent().unwrap_or(sv);
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                if std::fs::symlink_metadata(sv).is_ok() {
                    std::fs::remove_dir_all(sv).map_err(|e| io(sv, e))?;
                }
                std::fs::rename(to, sv).map_err(|e| io(to, e))?;
            }
            fill().map_err(|e| io(to, e))
        })
    }

    /// Path routing (issue 7): the static directories are copied and the app's nginx include
    /// written before the step rebuilds the app's nginx config; each is a journaled effect
    /// with what was there before (issue #14).
    pub(super) fn write_nginx_include(&self, step: &Step) -> Result<(), RunError> {
        let Action::SetNginxInclude {
            app,
            content,
            statics,
            ..
        } = &step.action
        else {
            return Ok(());
        };
        let argv = step.run.masked_argv().join(" ");
        let input = |message: String| RunError::Input {
            argv: argv.clone(),
            message,
        };
        let source = &self.archives.source_dir;
        for s in statics {
            // Resolved inside the pushed source, and holding no link out of itself: nginx
            // serves what is copied here to anyone (issue #13).
            let from = crate::confine::resolve(source, std::path::Path::new(&s.from))
                .map_err(|e| input(format!("static directory: {e}")))?;
            if !from.is_dir() {
                return Err(input(format!(
                    "static directory `{}` is not a directory of the pushed source",
                    s.from
                )));
            }
            crate::confine::check_tree(source, std::path::Path::new(&s.from))
                .map_err(|e| input(format!("static directory: {e}")))?;
            let to = std::path::PathBuf::from(&s.to);
            self.replace_tree(&format!("{}/static {}", step.id, s.to), &to, || {
                copy_plain_tree(&from, &to)
            })?;
        }
        let path = crate::routing::include_path(&crate::dokku::env::dokku_root(), app);
        if let Some(dir) = path.parent().filter(|d| !d.exists()) {
            self.effect(
                &format!("{}/mkdir", step.id),
                Revert::Dir {
                    created_dir: dir.to_path_buf(),
                },
                || std::fs::create_dir(dir).map_err(|e| EffectError::io(dir, e)),
            )?;
        }
        let previous = std::fs::read(&path).ok();
        let previous_mode = std::fs::metadata(&path).map_or(0o644, |m| {
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
        });
        self.effect(
            &format!("{}/include", step.id),
            Revert::File {
                file: path.clone(),
                previous,
                previous_mode,
            },
            || {
                let written = if content.is_empty() {
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                        _ => Ok(()),
                    }
                } else {
                    // Atomic, never through a link.
                    crate::platform::write_atomic(&path, content.as_bytes(), 0o644)
                };
                written.map_err(|e| EffectError::io(&path, e))
            },
        )
    }

    /// Fills a storage entry created by this step with the pushed source's directory (or
    /// file) it replaces (a relative bind mount, docs/mapping.md "Volumes"), so the first
    /// container sees what compose would have mounted; later deploys keep what the app wrote.
    /// The entry's host path comes from `storage:info`; the copy is a journaled effect.
    pub(super) fn seed_storage(&self, id: &str, name: &str, seed: &str) -> Result<(), RunError> {
        let archives = self.archives;
        let info = Cmd::dokku(["storage:info", name, "--format", "json"]);
        let argv = info.masked_argv().join(" ");
        let out = self.runner.run(&info, None, self.step_deadline())?;
        let path = serde_json::from_str::<serde_json::Value>(out.stdout.trim())
            .ok()
            .and_then(|v| {
                v.get("host_path")
                    .and_then(serde_json::Value::as_str)
                    .map(std::path::PathBuf::from)
            })
            .ok_or_else(|| RunError::Input {
                argv: argv.clone(),
                message: "no `host_path` in its output".into(),
            })?;
        // Resolved inside the pushed source, a tree without links out of it (issue #13); a
        // file is opened without following a link.
        let from = super::archive::source_path(&archives.source_dir, seed, archives.confined)
            .map_err(|e| RunError::Input {
                argv: argv.clone(),
                message: format!("seeding `{}` from `{seed}`: {e}", path.display()),
            })?;
        self.replace_tree(&format!("{id}/seed"), &path, || {
            if from.is_dir() {
                super::archive::copy_tree(&from, &path)
            } else {
                std::fs::create_dir_all(&path)?;
                let mut src = if archives.confined {
                    crate::platform::open_nofollow(&from)?
                } else {
                    std::fs::File::open(&from)?
                };
                let name = std::path::Path::new(seed).file_name().unwrap_or_default();
                // Never written through a link the app may have left in its storage.
                let mut dst = std::os::unix::fs::OpenOptionsExt::custom_flags(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true),
                    nix::libc::O_NOFOLLOW,
                )
                .open(path.join(name))?;
                std::io::copy(&mut src, &mut dst).map(|_| ())
            }
        })
    }
}

/// Copies a directory tree of regular files (links are not copied: nginx serves the copy).
fn copy_plain_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type()?;
        if t.is_dir() {
            copy_plain_tree(&src, &dst)?;
        } else if t.is_file() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}
