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
    /// The plugin: source paths resolve inside `source_dir` and the trees packed or copied
    /// hold no link out of themselves (issue #13).
    pub confined: bool,
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.into())
}

/// A relative path that stays inside its base (`..`, absolute paths and prefixes refused).
fn inside(base: &Path, rel: &str) -> io::Result<PathBuf> {
    let p = Path::new(rel);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(bad(format!("path `{rel}` leaves the project directory")));
    }
    Ok(base.join(p))
}

impl ArchiveStore {
    fn saved_path(&self, app: &str, digest: &str) -> io::Result<PathBuf> {
        let name = digest.replace(':', "-");
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || app.contains('/')
            || app.starts_with('.')
        {
            return Err(bad(format!("bad archive name `{app}/{digest}`")));
        }
        Ok(self.dir.join(app).join(format!("{name}.tar")))
    }

    /// The bytes to send for `stdin`: packs an archive (and saves it for `app`) or reads a
    /// saved one.
    pub(crate) fn bytes(&self, stdin: &Stdin) -> io::Result<Vec<u8>> {
        match stdin {
            Stdin::Config { values, .. } => serde_json::to_vec(values).map_err(io::Error::other),
            Stdin::Saved { app, digest } => {
                let path = self.saved_path(app, digest)?;
                std::fs::read(&path).map_err(|e| {
                    io::Error::new(e.kind(), format!("saved archive `{}`: {e}", path.display()))
                })
            }
            Stdin::Archive { app, digest, .. } => {
                let path = self.saved_path(app, digest)?;
                if self.prefer_saved {
                    if let Ok(bytes) = std::fs::read(&path) {
                        return Ok(bytes);
                    }
                }
                let bytes = pack(stdin, &self.source_dir, self.confined)?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                // The plugin's own copy: readable by the dokku user only (issue #13).
                crate::platform::write_atomic(&path, &bytes, 0o600)?;
                Ok(bytes)
            }
        }
    }
}

/// Copies a directory tree (without `.git`), symlinks as links.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
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
pub(crate) fn tree_digest(path: &Path) -> io::Result<String> {
    use sha2::{Digest as _, Sha256};
    fn walk(h: &mut Sha256, path: &Path, rel: &Path) -> io::Result<()> {
        let meta = std::fs::symlink_metadata(path)
            .map_err(|e| io::Error::new(e.kind(), format!("`{}`: {e}", path.display())))?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111;
        if meta.file_type().is_symlink() {
            h.update(
                format!(
                    "l\0{}\0{}\0",
                    rel.display(),
                    std::fs::read_link(path)?.display()
                )
                .as_bytes(),
            );
        } else if meta.is_dir() {
            h.update(format!("d\0{}\0", rel.display()).as_bytes());
            let mut names: Vec<_> = std::fs::read_dir(path)?
                .collect::<io::Result<Vec<_>>>()?
                .into_iter()
                .map(|e| e.file_name())
                .collect();
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

/// A source path for the archive: inside `source_dir`; `confined`, resolved there (links
/// followed only while they stay inside) and, for a directory, holding no link out of itself.
pub(crate) fn source_path(source_dir: &Path, rel: &str, confined: bool) -> io::Result<PathBuf> {
    let lexical = inside(source_dir, rel)?;
    if !confined {
        return Ok(lexical);
    }
    let refused = |e: crate::confine::PathError| {
        io::Error::new(io::ErrorKind::PermissionDenied, e.to_string())
    };
    let resolved = crate::confine::resolve(source_dir, Path::new(rel)).map_err(refused)?;
    if resolved.is_dir() {
        crate::confine::check_tree(source_dir, Path::new(rel)).map_err(refused)?;
    } else if std::fs::symlink_metadata(&resolved).is_ok_and(|m| !m.is_file()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("`{rel}` is not a regular file"),
        ));
    }
    Ok(resolved)
}

/// Packs an archive: the base directory of the source (without `.git`), then the copied
/// source files, then the generated files. Symlinks are stored as links, never followed.
pub(crate) fn pack(stdin: &Stdin, source_dir: &Path, confined: bool) -> io::Result<Vec<u8>> {
    let Stdin::Archive {
        base,
        files,
        copies,
        ..
    } = stdin
    else {
        return Err(bad("a saved archive is read, not packed"));
    };
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Deterministic);
    if let Some(base) = base {
        let dir = source_path(source_dir, base, confined)?;
        append_tree(&mut b, &dir, Path::new(""))?;
    }
    for (name, src) in copies {
        let from = source_path(source_dir, src, confined)?;
        inside(Path::new(""), name)?;
        b.append_path_with_name(&from, name)
            .map_err(|e| io::Error::new(e.kind(), format!("`{}`: {e}", from.display())))?;
        // A copied directory (a source bind mount, issue 15 item 5) brings its tree.
        if from.is_dir() {
            append_tree(&mut b, &from, Path::new(name))?;
        }
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
        } else if ty.is_file() || ty.is_symlink() {
            b.append_path_with_name(&path, &inner)?;
        } else {
            // A FIFO would block the packing, a device would be read: neither belongs in a
            // build context.
            return Err(bad(format!(
                "`{}` is not a regular file, directory or symlink",
                inner.display()
            )));
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
            app: "shop-api".into(),
            base: Some("api".into()),
            files: BTreeMap::from([("Procfile".to_owned(), "web: run\n".to_owned())]),
            copies: BTreeMap::from([("files/etc/site.conf".to_owned(), "site.conf".to_owned())]),
            digest: "sha256:ab".into(),
        };
        let store = ArchiveStore {
            dir: src.path().join("saved"),
            source_dir: src.path().to_path_buf(),
            prefer_saved: false,
            confined: true,
        };
        let bytes = store.bytes(&stdin).unwrap();
        let got = names(&bytes);
        assert_eq!(
            got,
            vec![
                ("Dockerfile".to_owned(), "FROM alpine\n".to_owned()),
                ("files/etc/site.conf".to_owned(), "conf".to_owned()),
                ("Procfile".to_owned(), "web: run\n".to_owned())
            ]
        );
        let again = store
            .bytes(&Stdin::Saved {
                app: "shop-api".into(),
                digest: "sha256:ab".into(),
            })
            .unwrap();
        assert_eq!(again, bytes);
        let missing = store
            .bytes(&Stdin::Saved {
                app: "shop-api".into(),
                digest: "sha256:cd".into(),
            })
            .unwrap_err();
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
        assert_eq!(
            tree_digest(&dir.path().join("api")).unwrap(),
            d1,
            "rewriting the same content, or .git, changes nothing"
        );
        std::fs::write(dir.path().join("api/app.py"), "v2").unwrap();
        assert_ne!(tree_digest(&dir.path().join("api")).unwrap(), d1);
        assert!(tree_digest(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn issue_13_confined_archives_refuse_links_out() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("api")).unwrap();
        std::fs::write(t.path().join("secret"), "SECRET").unwrap();
        std::fs::write(src.join("api/Dockerfile"), "FROM alpine\n").unwrap();
        std::fs::write(src.join("app.conf"), "conf").unwrap();
        std::os::unix::fs::symlink(t.path().join("secret"), src.join("leak")).unwrap();
        std::os::unix::fs::symlink("app.conf", src.join("alias.conf")).unwrap();
        let archive = |base: Option<&str>, copy: Option<&str>| Stdin::Archive {
            app: "shop-api".into(),
            base: base.map(str::to_owned),
            files: BTreeMap::new(),
            copies: copy
                .map(|c| BTreeMap::from([("files/x".to_owned(), c.to_owned())]))
                .unwrap_or_default(),
            digest: "sha256:00".into(),
        };
        let got = names(&pack(&archive(Some("api"), Some("alias.conf")), &src, true).unwrap());
        assert_eq!(
            got[1],
            ("files/x".to_owned(), "conf".to_owned()),
            "a link inside the tree is copied as its file"
        );
        let e = pack(&archive(None, Some("leak")), &src, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`leak` is a symlink to") && e.contains("outside the pushed tree"),
            "{e}"
        );
        std::os::unix::fs::symlink("../../secret", src.join("api/leak")).unwrap();
        let e = pack(&archive(Some("api"), None), &src, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`api/leak`") && e.contains("outside the pushed tree"),
            "{e}"
        );
        std::os::unix::fs::symlink(t.path(), src.join("ctx")).unwrap();
        assert!(pack(&archive(Some("ctx"), None), &src, true)
            .unwrap_err()
            .to_string()
            .contains("outside the pushed tree"));
    }

    #[test]
    fn paths_cannot_escape() {
        let src = tempfile::tempdir().unwrap();
        let stdin = Stdin::Archive {
            app: "shop-api".into(),
            base: Some("../etc".into()),
            files: BTreeMap::new(),
            copies: BTreeMap::new(),
            digest: "sha256:00".into(),
        };
        assert!(pack(&stdin, src.path(), false)
            .unwrap_err()
            .to_string()
            .contains("leaves the project directory"));
        let stdin = Stdin::Archive {
            app: "shop-api".into(),
            base: None,
            files: BTreeMap::from([("/etc/x".to_owned(), String::new())]),
            copies: BTreeMap::new(),
            digest: "sha256:00".into(),
        };
        assert!(pack(&stdin, src.path(), false).is_err());
    }
}
