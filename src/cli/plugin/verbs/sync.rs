//! `compose:sync` (issue #9): deploys a stack from a git remote.
//!
//! `compose:sync <app> [<git-url> [<ref>]]` is Dokku's `git:sync` for stacks: it fetches the
//! stack's source from a repository, checks out the ref (a branch, a tag or a commit; default:
//! the remote's default branch), captures it as a push would (`builder-build`,
//! `triggers.rs`) and applies it transactionally, with the resolved commit as the source
//! revision and `compose:sync <sha12>` as the release message. The URL and ref given are kept
//! as the `sync-url` and `sync-ref` properties, so `compose:sync <app>` alone repeats the last
//! sync (the webhook receiver calls it that way).
//!
//! The plugin's git2 is built without network transports. Local repositories (an absolute
//! path or a `file://` URL) are fetched with git2; `http(s)://`, `ssh://` and scp-like
//! `user@host:path` remotes are fetched by the system `git` (`git init`, then `git fetch
//! --depth 1 -- <url> <ref>` run as an argv through duct, never a shell string, with
//! `GIT_TERMINAL_PROMPT=0`) and checked out with git2. The URL's scheme and the ref (git's
//! ref-name rules, no leading `-`) are validated first, so neither can be read as an option
//! or reach one of git's command-running transports (`ext::`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Parser;

use crate::cli::plugin::props::Props;
use crate::cli::plugin::stack::{self, compose_files, stack_dir};
use crate::dokku::env::DokkuEnv;
use crate::report::info1;

/// Property: the repository `compose:sync` fetches from.
const SYNC_URL: &str = "sync-url";
/// Property: the ref `compose:sync` checks out (empty: the remote's default branch).
const SYNC_REF: &str = "sync-ref";

#[derive(Debug, Parser)]
#[command(
    about = "Apply the stack from git",
    long_about = "Fetch the stack from a git repository and apply it (repeats the last URL and ref)"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// The repository: an absolute path, file://, http(s)://, ssh:// or user@host:path
    #[arg(value_name = "GIT-URL")]
    url: Option<String>,
    /// Branch, tag or commit (default: the remote's default branch)
    #[arg(value_name = "REF")]
    git_ref: Option<String>,
    /// Wait for a running apply of the stack instead of failing
    #[arg(long)]
    wait: bool,
}

/// `compose:sync`.
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = super::missing_app(&a.app)? {
        return Ok(code);
    }
    let props = Props::new(&env.config_dir());
    let (url, git_ref) = match &a.url {
        Some(url) => (url.clone(), a.git_ref.clone()),
        None => {
            let Some(url) = props.get(&a.app, SYNC_URL) else {
                anyhow::bail!(
                    "stack `{}` has no sync URL: `dokku compose:sync {} <git-url> [<ref>]`",
                    a.app,
                    a.app
                );
            };
            (url, props.get(&a.app, SYNC_REF))
        }
    };
    let remote = Remote::parse(&url)?;
    if let Some(r) = &git_ref {
        validate_ref(r)?;
    }
    let work = stack_dir(env, &a.app).join(format!("sync.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)
        .with_context(|| format!("cannot create `{}`", work.display()))?;
    let result = (|| {
        println!(
            "{}",
            info1(&format!(
                "Fetching {} ({})",
                url,
                git_ref.as_deref().unwrap_or("default branch")
            ))
        );
        let sha = checkout(&remote, git_ref.as_deref(), &work.join("repo"))?;
        let code = deploy(env, &props, &a.app, &work.join("repo"), &sha, a.wait)?;
        // The URL and ref worked: remember them for `compose:sync <app>` and the webhook. A
        // refused or failed sync changes nothing, these included (issue #14).
        if a.url.is_some() {
            props.set(&a.app, SYNC_URL, Some(&url))?;
            props.set(&a.app, SYNC_REF, git_ref.as_deref())?;
        }
        Ok(code)
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Where a repository is and which transport fetches it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Remote {
    /// A repository on this host: fetched with git2's local transport.
    Local(PathBuf),
    /// http(s), ssh or scp-like: fetched by the system `git`.
    Network(String),
}

impl Remote {
    fn parse(url: &str) -> anyhow::Result<Self> {
        if url.is_empty() || url.starts_with('-') || url.chars().any(char::is_control) {
            anyhow::bail!("invalid git URL `{url}`");
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                anyhow::bail!("invalid git URL `{url}`: file:// URLs take an absolute path");
            }
            return Ok(Self::Local(PathBuf::from(path)));
        }
        if url.starts_with('/') {
            return Ok(Self::Local(PathBuf::from(url)));
        }
        for scheme in ["https://", "http://", "ssh://"] {
            if let Some(rest) = url.strip_prefix(scheme) {
                let host = rest.split('/').next().unwrap_or("");
                if host.is_empty() || host.starts_with('-') || rest.len() <= host.len() + 1 {
                    anyhow::bail!("invalid git URL `{url}`: no host or no path");
                }
                return Ok(Self::Network(url.to_owned()));
            }
        }
        // scp-like `user@host:path` (git's rule: a colon before any slash, no `::`).
        if let Some((host, path)) = url.split_once(':') {
            let host_ok = !host.is_empty()
                && !host.contains('/')
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@.-_".contains(c));
            if host_ok && !path.is_empty() && !path.starts_with(':') && !url.contains("://") {
                return Ok(Self::Network(url.to_owned()));
            }
        }
        anyhow::bail!("unsupported git URL `{url}`: use an absolute path, file://, https://, http://, ssh:// or user@host:path")
    }
}

/// Git's ref-name rules (`git check-ref-format`) for a branch, a tag or a commit, and no
/// leading `-` so that it is never read as an option.
fn validate_ref(r: &str) -> anyhow::Result<()> {
    let ok = !r.is_empty()
        && !r.starts_with('-')
        && r != "@"
        && git2::Reference::is_valid_name(&format!("refs/heads/{r}"));
    if !ok {
        anyhow::bail!("invalid git ref `{r}`");
    }
    Ok(())
}

/// Fetches `git_ref` (default: the remote's default branch) of `remote` into a new repository
/// at `dir`, checks it out and returns the commit's sha.
fn checkout(remote: &Remote, git_ref: Option<&str>, dir: &Path) -> anyhow::Result<String> {
    let repo = git2::Repository::init(dir)
        .with_context(|| format!("cannot create a repository in `{}`", dir.display()))?;
    let commit = match remote {
        Remote::Local(path) => fetch_local(&repo, path, git_ref)?,
        Remote::Network(url) => fetch_network(&repo, dir, url, git_ref)?,
    };
    let mut opts = git2::build::CheckoutBuilder::new();
    opts.force();
    repo.checkout_tree(commit.as_object(), Some(&mut opts))
        .context("cannot check out the fetched commit")?;
    repo.set_head_detached(commit.id())?;
    Ok(commit.id().to_string())
}

fn fetch_local<'r>(
    repo: &'r git2::Repository,
    path: &Path,
    git_ref: Option<&str>,
) -> anyhow::Result<git2::Commit<'r>> {
    if !path.exists() {
        anyhow::bail!("no git repository at `{}`", path.display());
    }
    let url = path.to_str().context("the repository path is not UTF-8")?;
    let mut remote = repo.remote_anonymous(url)?;
    remote
        .fetch(
            &[
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            ],
            None,
            None,
        )
        .with_context(|| format!("cannot fetch `{}`", path.display()))?;
    let candidates: Vec<String> = match git_ref {
        None => {
            let head = remote
                .default_branch()
                .ok()
                .and_then(|b| b.as_str().map(str::to_owned))
                .context("the repository has no default branch (HEAD); name a ref")?;
            vec![head.replacen("refs/heads/", "refs/remotes/origin/", 1)]
        }
        Some(r) => vec![format!("refs/remotes/origin/{r}"), format!("refs/tags/{r}")],
    };
    for name in &candidates {
        if let Ok(reference) = repo.find_reference(name) {
            return reference
                .peel_to_commit()
                .with_context(|| format!("`{name}` is not a commit"));
        }
    }
    if let Some(r) = git_ref
        .filter(|r| r.len() >= 4 && r.len() <= 40 && r.chars().all(|c| c.is_ascii_hexdigit()))
    {
        if let Ok(obj) = repo.revparse_single(r) {
            if let Ok(c) = obj.peel_to_commit() {
                return Ok(c);
            }
        }
    }
    anyhow::bail!(
        "no branch, tag or commit `{}` in `{}`",
        git_ref.unwrap_or("HEAD"),
        path.display()
    )
}

fn fetch_network<'r>(
    repo: &'r git2::Repository,
    dir: &Path,
    url: &str,
    git_ref: Option<&str>,
) -> anyhow::Result<git2::Commit<'r>> {
    let what = git_ref.unwrap_or("HEAD");
    let dir = dir.to_str().context("the work directory is not UTF-8")?;
    let out = duct::cmd(
        "git",
        [
            "-C",
            dir,
            "-c",
            "protocol.ext.allow=never",
            "fetch",
            "--quiet",
            "--depth",
            "1",
            "--no-tags",
            "--",
            url,
            what,
        ],
    )
    .env("GIT_TERMINAL_PROMPT", "0")
    .stdin_null()
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .context("cannot run `git` (needed for http(s) and ssh remotes)")?;
    if !out.status.success() {
        anyhow::bail!(
            "`git fetch {url} {what}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let fetched = repo
        .revparse_single("FETCH_HEAD")
        .context("git fetched nothing")?;
    fetched
        .peel_to_commit()
        .with_context(|| format!("`{what}` is not a commit"))
}

/// Captures `dir` as the stack's source and applies it, as `builder-build` does for a push:
/// the previous source comes back if anything fails.
fn deploy(
    env: &DokkuEnv,
    props: &Props,
    app: &str,
    dir: &Path,
    sha: &str,
    wait: bool,
) -> anyhow::Result<u8> {
    let short: String = sha.chars().take(12).collect();
    println!(
        "{}",
        info1(&format!("Deploying compose stack {app} at {short}"))
    );
    let files = compose_files(dir, props, app)?;
    if files.is_empty() {
        anyhow::bail!("no compose file at {short} (looked for {}; set one with `dokku compose:set {app} compose-file <path>`)", stack::DEFAULT_FILES.join(", "));
    }
    stack::capture_and_apply(
        env,
        props,
        app,
        dir,
        &files,
        &stack::Revision::Known {
            sha,
            message: format!("compose:sync {short}"),
        },
        wait,
    )?;
    println!("{}", info1(&format!("Stack {app} deployed")));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_refs_are_validated() {
        assert_eq!(
            Remote::parse("/srv/repo.git").unwrap(),
            Remote::Local("/srv/repo.git".into())
        );
        assert_eq!(
            Remote::parse("file:///srv/repo.git").unwrap(),
            Remote::Local("/srv/repo.git".into())
        );
        for ok in [
            "https://github.com/o/r.git",
            "http://git.local/r",
            "ssh://git@host/o/r",
            "git@github.com:o/r.git",
        ] {
            assert_eq!(
                Remote::parse(ok).unwrap(),
                Remote::Network(ok.into()),
                "{ok}"
            );
        }
        for bad in [
            "",
            "-uhttps://x",
            "ext::sh -c touch% /tmp/x",
            "fd::3",
            "relative/path",
            "file://relative",
            "https://",
            "https://-oProxy/x",
            "ftp://h/r",
            "a\nb",
        ] {
            assert!(Remote::parse(bad).is_err(), "{bad:?}");
        }
        for ok in ["main", "v1.2.3", "release/2024", "0123abcd"] {
            assert!(validate_ref(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-main",
            "--upload-pack=x",
            "a..b",
            "a b",
            "a~1",
            "x.lock",
            "a//b",
            "@",
            "a@{1}",
            "/main",
            "main/",
        ] {
            assert!(validate_ref(bad).is_err(), "{bad:?}");
        }
    }
}
