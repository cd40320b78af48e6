//! Packs the build context a plan describes ([`Stdin::Archive`]) into the tar that
//! `git:from-archive --archive-type tar <app> --` reads, and keeps a copy of every archive
//! deployed, so a rollback can redeploy the previous one ([`Stdin::Saved`]).

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::dokku::Stdin;

/// Where saved archives live: `<dir>/<app>/<digest>.tar`.
#[derive(Debug, Clone)]
pub struct ArchiveStore {
    /// The directory.
    pub dir: PathBuf,
    /// The directory the archive's source paths are relative to (the project directory).
    pub source_dir: PathBuf,
    /// Send the saved archive of a digest when there is one instead of packing again: a
    /// rollback redeploys exactly what that release deployed.
    pub prefer_saved: bool,
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.into())
}

/// A relative path that stays inside its base (`..`, absolute paths and prefixes refused).
fn inside(base: &Path, rel: &str) -> io::Result<PathBuf> {
    let p = Path::new(rel);
    if p.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(bad(format!("path `{rel}` leaves the project directory")));
    }
    Ok(base.join(p))
}

impl ArchiveStore {
    fn saved_path(&self, app: &str, digest: &str) -> io::Result<PathBuf> {
        let name = digest.replace(':', "-");
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || app.contains('/') || app.starts_with('.') {
            return Err(bad(format!("bad archive name `{app}/{digest}`")));
        }
        Ok(self.dir.join(app).join(format!("{name}.tar")))
    }

    /// The bytes to send for `stdin`: packs an archive (and saves it for `app`) or reads a
    /// saved one.
    pub fn bytes(&self, app: &str, stdin: &Stdin) -> io::Result<Vec<u8>> {
        match stdin {
            Stdin::Config { values, .. } => serde_json::to_vec(values).map_err(io::Error::other),
            Stdin::Saved { app, digest } => {
                let path = self.saved_path(app, digest)?;
                std::fs::read(&path).map_err(|e| io::Error::new(e.kind(), format!("saved archive `{}`: {e}", path.display())))
            }
            Stdin::Archive { digest, .. } => {
                let path = self.saved_path(app, digest)?;
                if self.prefer_saved {
                    if let Ok(bytes) = std::fs::read(&path) {
                        return Ok(bytes);
                    }
                }
                let bytes = pack(stdin, &self.source_dir)?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                crate::platform::write_atomic(&path, &bytes, 0o644)?;
                Ok(bytes)
            }
        }
    }
}

/// Copies a directory tree (without `.git`), symlinks as links.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_name() == ".git" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ty = e.file_type()?;
        if ty.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// A content digest of a file or directory tree (without `.git`): paths, modes, file
/// contents and symlink targets, in name order.
pub fn tree_digest(path: &Path) -> io::Result<String> {
    use sha2::{Digest as _, Sha256};
    fn walk(h: &mut Sha256, path: &Path, rel: &Path) -> io::Result<()> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| io::Error::new(e.kind(), format!("`{}`: {e}", path.display())))?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111;
        if meta.file_type().is_symlink() {
            h.update(format!("l\0{}\0{}\0", rel.display(), std::fs::read_link(path)?.display()).as_bytes());
        } else if meta.is_dir() {
            h.update(format!("d\0{}\0", rel.display()).as_bytes());
            let mut names: Vec<_> = std::fs::read_dir(path)?.collect::<io::Result<Vec<_>>>()?.into_iter().map(|e| e.file_name()).collect();
            names.sort();
            for n in names.into_iter().filter(|n| n != ".git") {
                walk(h, &path.join(&n), &rel.join(&n))?;
            }
        } else {
            h.update(format!("f\0{}\0{mode:o}\0{}\0", rel.display(), meta.len()).as_bytes());
            h.update(std::fs::read(path)?);
        }
        Ok(())
    }
    let mut h = Sha256::new();
    walk(&mut h, path, Path::new(""))?;
    Ok(format!("sha256:{:x}", h.finalize()))
}

/// Packs an archive: the base directory of the source (without `.git`), then the copied
/// source files, then the generated files. Symlinks are stored as links, never followed.
pub fn pack(stdin: &Stdin, source_dir: &Path) -> io::Result<Vec<u8>> {
    let Stdin::Archive { base, files, copies, .. } = stdin else {
        return Err(bad("a saved archive is read, not packed"));
    };
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Deterministic);
    if let Some(base) = base {
        let dir = inside(source_dir, base)?;
        append_tree(&mut b, &dir, Path::new(""))?;
    }
    for (name, src) in copies {
        let from = inside(source_dir, src)?;
        inside(Path::new(""), name)?;
        b.append_path_with_name(&from, name).map_err(|e| io::Error::new(e.kind(), format!("`{}`: {e}", from.display())))?;
    }
    for (name, content) in files {
        inside(Path::new(""), name)?;
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, content.as_bytes())?;
    }
    b.into_inner()
}

fn append_tree(b: &mut tar::Builder<Vec<u8>>, dir: &Path, rel: &Path) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("`{}`: {e}", dir.display())))?
        .collect::<io::Result<_>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name();
        if name == ".git" {
            continue;
        }
        let path = e.path();
        let inner = rel.join(&name);
        let ty = e.file_type()?;
        if ty.is_dir() {
            b.append_dir(&inner, &path)?;
            append_tree(b, &path, &inner)?;
        } else {
            b.append_path_with_name(&path, &inner)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn names(bytes: &[u8]) -> Vec<(String, String)> {
        let mut a = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut s = String::new();
            if e.header().entry_type().is_file() {
                std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            }
            out.push((name, s));
        }
        out
    }

    #[test]
    fn packs_base_copies_and_files_and_saves() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("api/.git")).unwrap();
        std::fs::write(src.path().join("api/.git/HEAD"), "x").unwrap();
        std::fs::write(src.path().join("api/Dockerfile"), "FROM alpine\n").unwrap();
        std::fs::write(src.path().join("site.conf"), "conf").unwrap();
        let stdin = Stdin::Archive {
            base: Some("api".into()),
            files: BTreeMap::from([("Procfile".to_owned(), "web: run\n".to_owned())]),
            copies: BTreeMap::from([("files/etc/site.conf".to_owned(), "site.conf".to_owned())]),
            digest: "sha256:ab".into(),
        };
        let store = ArchiveStore { dir: src.path().join("saved"), source_dir: src.path().to_path_buf(), prefer_saved: false };
        let bytes = store.bytes("shop-api", &stdin).unwrap();
        let got = names(&bytes);
        assert_eq!(
            got,
            vec![
                ("Dockerfile".to_owned(), "FROM alpine\n".to_owned()),
                ("files/etc/site.conf".to_owned(), "conf".to_owned()),
                ("Procfile".to_owned(), "web: run\n".to_owned())
            ]
        );
        let again = store.bytes("shop-api", &Stdin::Saved { app: "shop-api".into(), digest: "sha256:ab".into() }).unwrap();
        assert_eq!(again, bytes);
        let missing = store.bytes("shop-api", &Stdin::Saved { app: "shop-api".into(), digest: "sha256:cd".into() }).unwrap_err();
        assert!(missing.to_string().contains("saved archive"), "{missing}");
    }

    #[test]
    fn tree_digest_follows_content_not_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("api/.git")).unwrap();
        std::fs::write(dir.path().join("api/app.py"), "v1").unwrap();
        let d1 = tree_digest(&dir.path().join("api")).unwrap();
        std::fs::write(dir.path().join("api/.git/HEAD"), "moved").unwrap();
        std::fs::write(dir.path().join("api/app.py"), "v1").unwrap();
        assert_eq!(tree_digest(&dir.path().join("api")).unwrap(), d1, "rewriting the same content, or .git, changes nothing");
        std::fs::write(dir.path().join("api/app.py"), "v2").unwrap();
        assert_ne!(tree_digest(&dir.path().join("api")).unwrap(), d1);
        assert!(tree_digest(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn paths_cannot_escape() {
        let src = tempfile::tempdir().unwrap();
        let stdin = Stdin::Archive { base: Some("../etc".into()), files: BTreeMap::new(), copies: BTreeMap::new(), digest: "sha256:00".into() };
        assert!(pack(&stdin, src.path()).unwrap_err().to_string().contains("leaves the project directory"));
        let stdin = Stdin::Archive { base: None, files: BTreeMap::from([("/etc/x".to_owned(), String::new())]), copies: BTreeMap::new(), digest: "sha256:00".into() };
        assert!(pack(&stdin, src.path()).is_err());
    }
}
