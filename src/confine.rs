//! Confinement of paths to the pushed tree (issue #13, "a pusher gets an app, never the
//! host"). Whoever pushes controls every file and symlink of the tree, so on the server each
//! path the compose project names (env files, secret and config files, bind sources, build
//! contexts, Dockerfiles, included files, static directories, hooks) is resolved here, one
//! component at a time below the root with `symlink_metadata`: `..` that climbs above the
//! root, an absolute path elsewhere, or a symlink whose target leaves the root is refused,
//! never followed. Files are read only when regular and below a size limit, and trees the
//! plugin copies are checked first: a link inside them pointing out of the tree is refused.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read as _};
use std::path::{Component, Path, PathBuf};

/// The default size limit of a file read from the pushed tree (env, secret and config
/// files): 1 MiB. The operator changes it with `dokku compose:set <app> max-file-size <bytes>`.
pub(crate) const DEFAULT_MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Symlinks followed while resolving one path; more is a loop.
const MAX_LINKS: usize = 40;

/// Why a path of the pushed tree is refused. `path` is relative to the root (what the pusher
/// sees in their repository).
#[derive(Debug)]
pub struct PathError {
    /// The path as named, relative to the root when it was below it.
    pub path: String,
    /// What is wrong.
    pub kind: PathErrorKind,
}

/// The reasons a path is refused.
#[derive(Debug)]
pub enum PathErrorKind {
    /// `..` climbs above the root.
    Climbs,
    /// An absolute path outside the root.
    Absolute,
    /// A symlink (at `link`, relative to the root) whose target `target` leaves the root.
    LinkLeaves {
        /// The link, relative to the root.
        link: String,
        /// Its target as stored.
        target: String,
    },
    /// More than [`MAX_LINKS`] links: a loop.
    Loop,
    /// It does not exist.
    NotFound,
    /// Not a regular file (a device, FIFO, socket or directory).
    NotRegular(&'static str),
    /// Larger than the limit.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Another I/O error.
    Io(io::Error),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.path;
        match &self.kind {
            PathErrorKind::Climbs => write!(f, "`{p}` leaves the pushed tree through `..`"),
            PathErrorKind::Absolute => write!(f, "`{p}` is outside the pushed tree"),
            PathErrorKind::LinkLeaves { link, target } => write!(f, "`{p}`: `{link}` is a symlink to `{target}`, outside the pushed tree"),
            PathErrorKind::Loop => write!(f, "`{p}`: too many levels of symlinks"),
            PathErrorKind::NotFound => write!(f, "`{p}` does not exist"),
            PathErrorKind::NotRegular(what) => write!(f, "`{p}` is {what}, not a regular file"),
            PathErrorKind::TooLarge { limit } => write!(f, "`{p}` is larger than {limit} bytes (raise the limit with `dokku compose:set <app> max-file-size <bytes>`)"),
            PathErrorKind::Io(e) => write!(f, "`{p}`: {e}"),
        }
    }
}

impl std::error::Error for PathError {}

impl PathError {
    /// Whether the path simply does not exist (optional files may be skipped).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self.kind, PathErrorKind::NotFound)
    }
}

/// `rel` shown relative to the root.
fn shown(parts: &[OsString]) -> String {
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The canonical root (its own symlinks, if any, are the operator's and resolved).
fn canonical_root(root: &Path) -> Result<PathBuf, PathError> {
    root.canonicalize().map_err(|e| PathError {
        path: ".".to_owned(),
        kind: if e.kind() == io::ErrorKind::NotFound {
            PathErrorKind::NotFound
        } else {
            PathErrorKind::Io(e)
        },
    })
}

/// `path` (absolute, or relative to `root`) below `root`, as its components; `None` when it is
/// absolute and outside.
fn below(root: &Path, canonical: &Path, path: &Path) -> Option<Vec<OsString>> {
    if !path.is_absolute() {
        return Some(
            path.components()
                .map(|c| c.as_os_str().to_owned())
                .collect(),
        );
    }
    let rest = path
        .strip_prefix(canonical)
        .or_else(|_| path.strip_prefix(root))
        .ok()?;
    Some(
        rest.components()
            .map(|c| c.as_os_str().to_owned())
            .collect(),
    )
}

/// `path` as the pusher wrote it: relative to the root, with `..` when it is a near
/// neighbour of it (the loader makes paths absolute), else absolute.
fn display(root: &Path, canonical: &Path, path: &Path) -> String {
    if !path.is_absolute() {
        return path.display().to_string();
    }
    for base in [canonical, root] {
        if let Ok(rel) = path.strip_prefix(base) {
            return rel.display().to_string();
        }
    }
    // A common prefix deeper than `/`: `../x`.
    let shared = root
        .components()
        .zip(path.components())
        .take_while(|(a, b)| a == b)
        .count();
    if shared > 1 {
        let ups = root.components().count() - shared;
        let rest: PathBuf = path.components().skip(shared).collect();
        return format!("{}{}", "../".repeat(ups), rest.display());
    }
    path.display().to_string()
}

/// Resolves `path` (relative to `root`, or absolute below it) inside `root`, following
/// symlinks only while they stay inside. Returns the resolved path (below the canonical root,
/// with no symlink left in it). A path that does not exist (or a dangling link inside the
/// root) resolves to where it would be; reading it then reports [`PathErrorKind::NotFound`].
///
/// # Errors
///
/// When `..`, an absolute path or a symlink leaves the root, or links loop.
pub(crate) fn resolve(root: &Path, path: &Path) -> Result<PathBuf, PathError> {
    let canonical = canonical_root(root)?;
    let named = || display(root, &canonical, path);
    let fail = |kind| {
        Err(PathError {
            path: named(),
            kind,
        })
    };
    let Some(start) = below(root, &canonical, path) else {
        return fail(PathErrorKind::Absolute);
    };
    let mut todo: VecDeque<OsString> = start.into();
    let mut parts: Vec<OsString> = Vec::new();
    let mut links = 0;
    // Once a component is missing, the rest cannot be links: resolved by name only.
    let mut missing = false;
    while let Some(c) = todo.pop_front() {
        match Path::new(&c).components().next() {
            None | Some(Component::CurDir) => {}
            Some(Component::ParentDir) => {
                if parts.pop().is_none() {
                    return fail(PathErrorKind::Climbs);
                }
            }
            Some(Component::RootDir | Component::Prefix(_)) => {
                return fail(PathErrorKind::Absolute)
            }
            Some(Component::Normal(name)) => {
                let here: PathBuf = parts
                    .iter()
                    .chain([&name.to_owned()])
                    .fold(canonical.clone(), |p, c| p.join(c));
                let meta = if missing {
                    None
                } else {
                    std::fs::symlink_metadata(&here).ok()
                };
                match meta {
                    Some(m) if m.file_type().is_symlink() => {
                        links += 1;
                        if links > MAX_LINKS {
                            return fail(PathErrorKind::Loop);
                        }
                        let target = std::fs::read_link(&here).map_err(|e| PathError {
                            path: named(),
                            kind: PathErrorKind::Io(e),
                        })?;
                        let mut link = parts.clone();
                        link.push(name.to_owned());
                        let leaves = || PathError {
                            path: named(),
                            kind: PathErrorKind::LinkLeaves {
                                link: shown(&link),
                                target: target.display().to_string(),
                            },
                        };
                        let next: Vec<OsString> = if target.is_absolute() {
                            // An absolute target counts only when it names a place below the root.
                            let rest = below(root, &canonical, &target).ok_or_else(leaves)?;
                            parts.clear();
                            rest
                        } else {
                            target
                                .components()
                                .map(|c| c.as_os_str().to_owned())
                                .collect()
                        };
                        // `..` in the target may not climb above the root either.
                        let mut depth = parts.len();
                        for c in &next {
                            match Path::new(c).components().next() {
                                Some(Component::ParentDir) if depth == 0 => return Err(leaves()),
                                Some(Component::ParentDir) => depth -= 1,
                                Some(Component::Normal(_)) => depth += 1,
                                _ => {}
                            }
                        }
                        for c in next.into_iter().rev() {
                            todo.push_front(c);
                        }
                    }
                    Some(_) => parts.push(name.to_owned()),
                    None => {
                        missing = true;
                        parts.push(name.to_owned());
                    }
                }
            }
        }
    }
    Ok(parts.iter().fold(canonical, |p, c| p.join(c)))
}

/// `resolved` (from [`resolve`]) relative to the root, for messages.
fn rel_name(root: &Path, resolved: &Path) -> String {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    resolved.strip_prefix(&canonical).map_or_else(
        |_| resolved.display().to_string(),
        |r| r.display().to_string(),
    )
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a symlink"
    }
}

/// Reads a regular file of the pushed tree, at most `limit` bytes.
///
/// # Errors
///
/// When the path leaves the root, is missing, is not a regular file or is larger.
pub(crate) fn read_file(root: &Path, path: &Path, limit: u64) -> Result<Vec<u8>, PathError> {
    let resolved = resolve(root, path)?;
    let name = rel_name(root, &resolved);
    let fail = |kind| PathError {
        path: name.clone(),
        kind,
    };
    let mut file = crate::platform::open_nofollow(&resolved).map_err(|e| {
        fail(if e.kind() == io::ErrorKind::NotFound {
            PathErrorKind::NotFound
        } else {
            PathErrorKind::Io(e)
        })
    })?;
    let meta = file.metadata().map_err(|e| fail(PathErrorKind::Io(e)))?;
    if !meta.is_file() {
        return Err(fail(PathErrorKind::NotRegular(kind_of(meta.file_type()))));
    }
    if meta.len() > limit {
        return Err(fail(PathErrorKind::TooLarge { limit }));
    }
    let mut out = Vec::new();
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| fail(PathErrorKind::Io(e)))?;
    if out.len() as u64 > limit {
        return Err(fail(PathErrorKind::TooLarge { limit }));
    }
    Ok(out)
}

/// Checks a tree the plugin is about to copy or pack (a seed directory, a static directory, a
/// build context): every symlink in it must resolve inside `tree` itself, and every entry must
/// be a regular file, a directory or such a link (no devices, FIFOs or sockets). `.git` is
/// skipped, as the copies skip it.
///
/// # Errors
///
/// The first offending entry, named relative to `root` (the pushed tree).
pub(crate) fn check_tree(root: &Path, tree: &Path) -> Result<(), PathError> {
    let tree = resolve(root, tree)?;
    let prefix = rel_name(root, &tree);
    let name = |rel: &Path| {
        if prefix.is_empty() {
            rel.display().to_string()
        } else {
            format!("{prefix}/{}", rel.display())
        }
    };
    fn walk(tree: &Path, rel: &Path, name: &dyn Fn(&Path) -> String) -> Result<(), PathError> {
        let dir = tree.join(rel);
        let entries = std::fs::read_dir(&dir).map_err(|e| PathError {
            path: name(rel),
            kind: PathErrorKind::Io(e),
        })?;
        let mut names: Vec<OsString> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names.into_iter().filter(|n| n != ".git") {
            let inner = rel.join(&n);
            let meta = std::fs::symlink_metadata(tree.join(&inner)).map_err(|e| PathError {
                path: name(&inner),
                kind: PathErrorKind::Io(e),
            })?;
            let ft = meta.file_type();
            if ft.is_symlink() {
                resolve(tree, &inner).map_err(|e| PathError {
                    path: name(&inner),
                    kind: e.kind,
                })?;
            } else if ft.is_dir() {
                walk(tree, &inner, name)?;
            } else if !ft.is_file() {
                return Err(PathError {
                    path: name(&inner),
                    kind: PathErrorKind::NotRegular(kind_of(ft)),
                });
            }
        }
        Ok(())
    }
    match std::fs::symlink_metadata(&tree) {
        Ok(m) if m.is_dir() => walk(&tree, Path::new(""), &name),
        Ok(_) => Ok(()),
        Err(_) => Err(PathError {
            path: prefix,
            kind: PathErrorKind::NotFound,
        }),
    }
}

/// The plugin's confinement of a load: files are read only below `root` and only up to
/// `max_file_size` bytes (the off-server CLI loads without one, as the reference does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jail {
    /// The pushed tree.
    pub root: PathBuf,
    /// The largest file read, in bytes.
    pub max_file_size: u64,
}

impl Jail {
    /// A jail of `root` with the default size limit.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }

    /// Reads `path` (see [`read_file`]).
    ///
    /// # Errors
    ///
    /// As [`read_file`].
    pub(crate) fn read(&self, path: &Path) -> Result<Vec<u8>, PathError> {
        read_file(&self.root, path, self.max_file_size)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f.txt"), "inside").unwrap();
        std::fs::write(t.path().join("secret"), "outside").unwrap();
        t
    }

    fn reason(r: Result<PathBuf, PathError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn plain_and_dotdot_inside_resolve() {
        let t = tree();
        let root = t.path().join("root");
        let canonical = root.canonicalize().unwrap();
        assert_eq!(
            resolve(&root, Path::new("a/b/f.txt")).unwrap(),
            canonical.join("a/b/f.txt")
        );
        assert_eq!(
            resolve(&root, Path::new("a/../a/./b/f.txt")).unwrap(),
            canonical.join("a/b/f.txt")
        );
        assert_eq!(
            resolve(&root, &root.join("a/b")).unwrap(),
            canonical.join("a/b"),
            "absolute below the root"
        );
        assert_eq!(resolve(&root, Path::new(".")).unwrap(), canonical);
    }

    #[test]
    fn dotdot_and_absolute_outside_are_refused() {
        let t = tree();
        let root = t.path().join("root");
        assert_eq!(
            reason(resolve(&root, Path::new("../secret"))),
            "`../secret` leaves the pushed tree through `..`"
        );
        assert_eq!(
            reason(resolve(&root, Path::new("a/../../secret"))),
            "`a/../../secret` leaves the pushed tree through `..`"
        );
        assert_eq!(
            reason(resolve(&root, Path::new("/etc/passwd"))),
            "`/etc/passwd` is outside the pushed tree"
        );
        assert_eq!(
            reason(resolve(&root, &t.path().join("secret"))),
            "`../secret` is outside the pushed tree",
            "a neighbour, as the pusher wrote it"
        );
    }

    #[test]
    fn symlinks_out_are_refused_and_in_are_followed() {
        let t = tree();
        let root = t.path().join("root");
        symlink(t.path().join("secret"), root.join("abs")).unwrap();
        symlink("../secret", root.join("rel")).unwrap();
        symlink("../../../secret", root.join("a/b/deep")).unwrap();
        symlink("b/f.txt", root.join("a/in")).unwrap();
        symlink(root.join("a/b"), root.join("absin")).unwrap();
        symlink("a", root.join("dir")).unwrap();
        assert!(
            reason(resolve(&root, Path::new("abs"))).contains("`abs` is a symlink to"),
            "absolute link out"
        );
        assert_eq!(
            reason(resolve(&root, Path::new("rel"))),
            "`rel`: `rel` is a symlink to `../secret`, outside the pushed tree"
        );
        assert_eq!(
            reason(resolve(&root, Path::new("a/b/deep"))),
            "`a/b/deep`: `a/b/deep` is a symlink to `../../../secret`, outside the pushed tree"
        );
        let canonical = root.canonicalize().unwrap();
        assert_eq!(
            resolve(&root, Path::new("a/in")).unwrap(),
            canonical.join("a/b/f.txt")
        );
        assert_eq!(
            resolve(&root, Path::new("absin/f.txt")).unwrap(),
            canonical.join("a/b/f.txt")
        );
        assert_eq!(
            resolve(&root, Path::new("dir/b/f.txt")).unwrap(),
            canonical.join("a/b/f.txt"),
            "a link in the middle"
        );
        assert_eq!(
            read_file(&root, Path::new("dir/in"), 100).unwrap(),
            b"inside"
        );
        assert!(read_file(&root, Path::new("rel"), 100).is_err());
    }

    #[test]
    fn dangling_and_loops() {
        let t = tree();
        let root = t.path().join("root");
        symlink("nowhere", root.join("dangling")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        symlink("/nowhere/at/all", root.join("dangling-out")).unwrap();
        let canonical = root.canonicalize().unwrap();
        assert_eq!(
            resolve(&root, Path::new("dangling")).unwrap(),
            canonical.join("nowhere")
        );
        assert!(read_file(&root, Path::new("dangling"), 10)
            .unwrap_err()
            .is_not_found());
        assert_eq!(
            reason(resolve(&root, Path::new("loop1"))),
            "`loop1`: too many levels of symlinks"
        );
        assert!(
            reason(resolve(&root, Path::new("dangling-out"))).contains("outside the pushed tree")
        );
    }

    #[test]
    fn only_small_regular_files_are_read() {
        let t = tree();
        let root = t.path().join("root");
        symlink("/dev/zero", root.join("zero")).unwrap();
        assert_eq!(
            read_file(&root, Path::new("a/b/f.txt"), 6).unwrap(),
            b"inside"
        );
        assert_eq!(
            read_file(&root, Path::new("a/b/f.txt"), 5).unwrap_err().to_string(),
            "`a/b/f.txt` is larger than 5 bytes (raise the limit with `dokku compose:set <app> max-file-size <bytes>`)"
        );
        assert_eq!(
            read_file(&root, Path::new("a"), 5).unwrap_err().to_string(),
            "`a` is a directory, not a regular file"
        );
        assert!(read_file(&root, Path::new("zero"), 5)
            .unwrap_err()
            .to_string()
            .contains("outside the pushed tree"));
        nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(
            read_file(&root, Path::new("fifo"), 5)
                .unwrap_err()
                .to_string(),
            "`fifo` is a FIFO, not a regular file"
        );
    }

    #[test]
    fn trees_with_links_out_are_refused() {
        let t = tree();
        let root = t.path().join("root");
        symlink("f.txt", root.join("a/b/ok")).unwrap();
        check_tree(&root, Path::new("a")).unwrap();
        symlink("../../../secret", root.join("a/b/out")).unwrap();
        assert_eq!(
            check_tree(&root, Path::new("a")).unwrap_err().to_string(),
            "`a/b/out`: `b/out` is a symlink to `../../../secret`, outside the pushed tree"
        );
        std::fs::remove_file(root.join("a/b/out")).unwrap();
        symlink("../../b", root.join("a/b/up")).unwrap();
        // Inside the pushed tree but outside the copied one: refused too.
        std::fs::create_dir_all(root.join("b")).unwrap();
        assert!(check_tree(&root, Path::new("a"))
            .unwrap_err()
            .to_string()
            .contains("outside the pushed tree"));
    }
}
