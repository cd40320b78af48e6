//! Installing the plugin (issue #20): the install trigger (install.sh) with a release served
//! from a loopback HTTP server (architecture, SHA256SUMS, refusals that keep the old binary,
//! the cargo fallback and the error naming the three ways, no second download), `plugin:update`
//! to a new version and other plugins' installs in the sandbox, the versions that must agree,
//! the release workflow (actionlint) and the built release binary's glibc symbol versions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use sha2::Digest as _;

use crate::support::{git, plugin_bin, plugin_repo, sandbox_bin, text};

/// The version in Cargo.toml (and so in plugin.toml).
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// PATH for the install trigger: the tools a Dokku host has (curl, git, coreutils), no cargo.
const HOST_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn write_exec(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A stand-in release binary: a script that answers `--version` as `version`.
fn fake_bin(version: &str, tag: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho \"compose {version} ({tag})\"\n").into_bytes()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// A release folder `<dir>/v<version>/` with `files` and their SHA256SUMS; `sums` overrides
/// the listed checksum of some files.
fn write_release(
    dir: &Path,
    version: &str,
    files: &[(&str, Vec<u8>)],
    sums: &BTreeMap<&str, String>,
) {
    let v = dir.join(format!("v{version}"));
    std::fs::create_dir_all(&v).unwrap();
    let mut list = String::new();
    for (name, data) in files {
        std::fs::write(v.join(name), data).unwrap();
        let sum = sums.get(name).cloned().unwrap_or_else(|| sha256(data));
        list.push_str(&format!("{sum}  {name}\n"));
    }
    std::fs::write(v.join("SHA256SUMS"), list).unwrap();
}

/// The four release files of `version`: the real x86_64 binaries when `version` is ours,
/// stand-ins otherwise; aarch64 always stand-ins.
fn release_files(version: &str) -> Vec<(&'static str, Vec<u8>)> {
    let (x86, hook) = if version == VERSION {
        (
            std::fs::read(plugin_bin()).unwrap(),
            std::fs::read(env!("CARGO_BIN_EXE_dokku-compose-webhook")).unwrap(),
        )
    } else {
        (fake_bin(version, "x86_64"), b"webhook x86_64".to_vec())
    };
    vec![
        ("dokku-compose-plugin-x86_64-linux", x86),
        ("dokku-compose-webhook-x86_64-linux", hook),
        (
            "dokku-compose-plugin-aarch64-linux",
            fake_bin(version, "aarch64"),
        ),
        (
            "dokku-compose-webhook-aarch64-linux",
            b"webhook aarch64".to_vec(),
        ),
    ]
}

/// A release folder `<dir>/v<version>/` with the right files and checksums.
fn write_good_release(dir: &Path, version: &str) {
    write_release(dir, version, &release_files(version), &BTreeMap::new());
}

/// A good release of this version in a temporary folder (removed when the first is dropped),
/// served.
fn serve_good_release() -> (tempfile::TempDir, Server) {
    let releases = tempfile::tempdir().unwrap();
    write_good_release(releases.path(), VERSION);
    let server = Server::serve(releases.path());
    (releases, server)
}

/// Keeps the settings of the caller's environment that change what the install trigger does
/// (a prebuilt binary, a release URL, trace and quiet output) out of `c`, and the webhook
/// service off.
fn isolated(c: &mut Command) -> &mut Command {
    c.env("DOKKU_COMPOSE_NO_WEBHOOK_SERVICE", "1");
    for v in [
        "DOKKU_COMPOSE_PREBUILT",
        "DOKKU_COMPOSE_WEBHOOK_PREBUILT",
        "DOKKU_COMPOSE_RELEASE_URL",
        "DOKKU_TRACE",
        "DOKKU_QUIET_OUTPUT",
    ] {
        c.env_remove(v);
    }
    c
}

/// A static file server on 127.0.0.1 over `dir`, recording every requested path.
struct Server {
    http: Arc<tiny_http::Server>,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    url: String,
}

impl Server {
    fn serve(dir: &Path) -> Self {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!(
            "http://127.0.0.1:{}",
            http.server_addr().to_ip().unwrap().port()
        );
        let log = Arc::new(Mutex::new(Vec::new()));
        let (h, l, root) = (Arc::clone(&http), Arc::clone(&log), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            for req in h.incoming_requests() {
                let path = req.url().to_owned();
                l.lock().unwrap().push(path.clone());
                let rel = path.trim_start_matches('/');
                let file = root.join(rel);
                let ok = !rel.split('/').any(|c| c == ".." || c.is_empty()) && file.is_file();
                let _ = if ok {
                    req.respond(tiny_http::Response::from_data(std::fs::read(file).unwrap()))
                } else {
                    req.respond(tiny_http::Response::empty(404))
                };
            }
        });
        Server {
            http,
            log,
            thread: Some(thread),
            url,
        }
    }
    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A plugin checkout (as `plugin:install` clones it) and a data root for one install test.
struct Checkout {
    dir: tempfile::TempDir,
    repo: PathBuf,
}

impl Checkout {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = plugin_repo(dir.path());
        Checkout { dir, repo }
    }
    /// Runs the install trigger with `path` as PATH and the given variables.
    fn install(&self, path: &str, vars: &[(&str, &str)]) -> Output {
        let mut c = Command::new(self.repo.join("install"));
        isolated(&mut c)
            .env("PATH", path)
            .env("DOKKU_LIB_ROOT", self.dir.path().join("lib"));
        c.envs(vars.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
    fn bin(&self) -> Vec<u8> {
        std::fs::read(self.repo.join("bin/dokku-compose-plugin")).unwrap()
    }
    fn set_version(&self, version: &str) {
        let toml = std::fs::read_to_string(self.repo.join("plugin.toml")).unwrap();
        let toml: String = toml
            .lines()
            .map(|l| {
                if l.starts_with("version = ") {
                    format!("version = \"{version}\"\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(self.repo.join("plugin.toml"), toml).unwrap();
    }
    /// Files install.sh left in bin/ besides the binaries, the stamp and the lock.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.repo.join("bin"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| {
                ![
                    "dokku-compose-plugin",
                    "dokku-compose-webhook",
                    ".installed",
                    ".install.lock",
                ]
                .contains(&n.as_str())
            })
            .collect()
    }
}

#[test]
fn install_downloads_the_release_for_the_host_architecture_once() {
    let (_releases, server) = serve_good_release();
    let c = Checkout::new();
    let o = c.install(HOST_PATH, &[("DOKKU_COMPOSE_RELEASE_URL", &server.url)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "Downloading the compose plugin v{VERSION} for x86_64"
        )),
        "{}",
        text(&o)
    );
    assert_eq!(
        c.bin(),
        std::fs::read(plugin_bin()).unwrap(),
        "the x86_64 binary is installed"
    );
    assert_eq!(
        std::fs::read(c.repo.join("bin/dokku-compose-webhook")).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_dokku-compose-webhook")).unwrap()
    );
    let v = format!("/v{VERSION}");
    assert_eq!(
        server.requests(),
        [
            format!("{v}/SHA256SUMS"),
            format!("{v}/dokku-compose-plugin-x86_64-linux"),
            format!("{v}/dokku-compose-webhook-x86_64-linux")
        ]
    );
    assert!(std::fs::read_to_string(c.repo.join("bin/.installed"))
        .unwrap()
        .starts_with(&format!("{VERSION} release ")));
    assert!(c.repo.join("subcommands/up").exists() && c.repo.join("subcommands/version").exists());
    assert_eq!(
        std::fs::read_link(c.repo.join("post-extract")).unwrap(),
        Path::new("triggers/post-extract")
    );
    assert!(c.leftovers().is_empty(), "{:?}", c.leftovers());
    // The same version again: nothing is downloaded.
    let o = c.install(HOST_PATH, &[("DOKKU_COMPOSE_RELEASE_URL", &server.url)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.requests().len(), 3, "{:?}", server.requests());
    // An aarch64 host gets the aarch64 files.
    let arm = Checkout::new();
    let fake = arm.dir.path().join("fakebin");
    write_exec(
        &fake.join("uname"),
        "#!/bin/sh\n[ \"$1\" = -m ] && echo aarch64 || /bin/uname \"$@\"\n",
    );
    let o = arm.install(
        &format!("{}:{HOST_PATH}", fake.display()),
        &[("DOKKU_COMPOSE_RELEASE_URL", &server.url)],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(arm.bin(), fake_bin(VERSION, "aarch64"));
    assert_eq!(
        std::fs::read(arm.repo.join("bin/dokku-compose-webhook")).unwrap(),
        b"webhook aarch64"
    );
    assert_eq!(
        server.requests()[3..],
        [
            format!("{v}/SHA256SUMS"),
            format!("{v}/dokku-compose-plugin-aarch64-linux"),
            format!("{v}/dokku-compose-webhook-aarch64-linux")
        ]
    );
}

#[test]
fn a_wrong_checksum_a_truncated_file_or_a_wrong_binary_is_refused_and_the_old_binary_kept() {
    let (releases, server) = serve_good_release();
    let url = [("DOKKU_COMPOSE_RELEASE_URL", server.url.as_str())];
    let c = Checkout::new();
    assert!(c.install(HOST_PATH, &url).status.success());
    let old = c.bin();
    let stamp = std::fs::read_to_string(c.repo.join("bin/.installed")).unwrap();
    let refused =
        |version: &str, files: Vec<(&str, Vec<u8>)>, sums: BTreeMap<&str, String>, expect: &str| {
            let _ = std::fs::remove_dir_all(releases.path().join(format!("v{version}")));
            write_release(releases.path(), version, &files, &sums);
            c.set_version(version);
            let o = c.install(HOST_PATH, &url);
            assert!(
                !o.status.success() && text(&o).contains(expect),
                "{expect}: {}",
                text(&o)
            );
            assert!(
                text(&o).contains("the installed binary is unchanged"),
                "{}",
                text(&o)
            );
            assert_eq!(c.bin(), old, "{expect}: the old binary is kept");
            assert_eq!(
                std::fs::read_to_string(c.repo.join("bin/.installed")).unwrap(),
                stamp
            );
            assert!(c.leftovers().is_empty(), "{expect}: {:?}", c.leftovers());
        };
    // A checksum that is not the file's.
    let files = release_files("0.2.0");
    let sums = BTreeMap::from([(
        "dokku-compose-plugin-x86_64-linux",
        sha256(b"something else"),
    )]);
    refused(
        "0.2.0",
        files,
        sums,
        "dokku-compose-plugin-x86_64-linux does not match SHA256SUMS",
    );
    // A truncated file (the list names the whole file's checksum).
    let mut files = release_files("0.2.1");
    let whole = sha256(&files[0].1);
    let half = files[0].1.len() / 2;
    files[0].1.truncate(half);
    refused(
        "0.2.1",
        files,
        BTreeMap::from([("dokku-compose-plugin-x86_64-linux", whole)]),
        "does not match SHA256SUMS",
    );
    // A binary that matches its checksum but is not this version (or does not run here).
    let mut files = release_files("0.2.2");
    files[0].1 = fake_bin("0.1.9", "x86_64");
    refused(
        "0.2.2",
        files,
        BTreeMap::new(),
        "does not run here as version 0.2.2",
    );
    // And a good release of a new version replaces it.
    write_good_release(releases.path(), "0.3.0");
    c.set_version("0.3.0");
    let o = c.install(HOST_PATH, &url);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(c.bin(), fake_bin("0.3.0", "x86_64"));
    assert!(c.leftovers().is_empty(), "{:?}", c.leftovers());
}

#[test]
fn without_a_release_the_install_builds_with_cargo_or_names_the_three_ways() {
    let empty = tempfile::tempdir().unwrap();
    let server = Server::serve(empty.path());
    let url = [("DOKKU_COMPOSE_RELEASE_URL", server.url.as_str())];
    let c = Checkout::new();
    // No cargo: the error names the three ways, and nothing is installed.
    let o = c.install(HOST_PATH, &url);
    assert!(!o.status.success(), "{}", text(&o));
    for part in [
        "cargo not found",
        "DOKKU_COMPOSE_PREBUILT=",
        &format!("no release v{VERSION} at {}", server.url),
        "https://rustup.rs",
    ] {
        assert!(text(&o).contains(part), "{part}: {}", text(&o));
    }
    assert!(!c.repo.join("bin/dokku-compose-plugin").exists());
    assert_eq!(server.requests(), [format!("/v{VERSION}/SHA256SUMS")]);
    // A release without this host's architecture is no release either.
    write_release(
        empty.path(),
        VERSION,
        &release_files(VERSION)[2..],
        &BTreeMap::new(),
    );
    let o = c.install(HOST_PATH, &url);
    assert!(
        !o.status.success()
            && text(&o).contains(
                "has no dokku-compose-plugin-x86_64-linux for this host's architecture (x86_64)"
            ),
        "{}",
        text(&o)
    );
    // With cargo: built here (a stand-in cargo records its arguments).
    std::fs::remove_dir_all(empty.path().join(format!("v{VERSION}"))).unwrap();
    let fake = c.dir.path().join("fakebin");
    let log = c.dir.path().join("cargo.log");
    let script = format!(
        "#!/usr/bin/env bash\necho \"$DOKKU_COMPOSE_COMMIT $@\" >> {log}\nmkdir -p \"$CARGO_TARGET_DIR/release\"\ncp {bin} \"$CARGO_TARGET_DIR/release/dokku-compose-plugin\"\ncp {bin} \"$CARGO_TARGET_DIR/release/dokku-compose-webhook\"\n",
        log = log.display(),
        bin = plugin_bin().display()
    );
    write_exec(&fake.join("cargo"), &script);
    let path = format!("{}:{HOST_PATH}", fake.display());
    let o = c.install(&path, &url);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("No prebuilt release to use") && text(&o).contains("cargo build"),
        "{}",
        text(&o)
    );
    let rev = String::from_utf8(git(&c.repo, &["rev-parse", "HEAD"]).stdout).unwrap();
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.starts_with(rev.trim()) && calls.contains("build --quiet --release --locked"),
        "the commit is built in: {calls}"
    );
    assert_eq!(c.bin(), std::fs::read(plugin_bin()).unwrap());
    // Built from this revision: neither built nor downloaded again.
    let before = server.requests().len();
    assert!(c.install(&path, &url).status.success());
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
    assert_eq!(server.requests().len(), before);
}

#[test]
fn a_release_url_must_be_https_except_on_loopback() {
    let c = Checkout::new();
    for url in [
        "http://example.test/releases",
        "ftp://127.0.0.1/x",
        "http://127.0.0.1.example.test/x",
        "file:///tmp",
    ] {
        let o = c.install(HOST_PATH, &[("DOKKU_COMPOSE_RELEASE_URL", url)]);
        assert!(
            !o.status.success() && text(&o).contains("only https:// URLs are allowed"),
            "{url}: {}",
            text(&o)
        );
    }
    // A plugin cloned from GitHub downloads from its releases over HTTPS (no request is made
    // here: the stand-in curl records the URL and fails, so the install falls to the error).
    let fake = c.dir.path().join("fakebin");
    let log = c.dir.path().join("curl.log");
    write_exec(
        &fake.join("curl"),
        &format!("#!/bin/sh\necho \"$@\" >> {}\nexit 22\n", log.display()),
    );
    git(
        &c.repo,
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/acme/dokku-compose.git",
        ],
    );
    let o = c.install(&format!("{}:{HOST_PATH}", fake.display()), &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("--proto =https --proto-redir =https")
            && calls.contains(&format!(
                "https://github.com/acme/dokku-compose/releases/download/v{VERSION}/SHA256SUMS"
            )),
        "{calls}"
    );
}

/// A sandbox with no cargo on PATH.
struct Sandbox {
    root: tempfile::TempDir,
}

impl Sandbox {
    fn dokku(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut c = Command::new(sandbox_bin());
        isolated(&mut c)
            .env("DOKKU_SANDBOX_ROOT", self.root.path())
            .env("PATH", HOST_PATH);
        c.args(args)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
    fn plugin(&self) -> PathBuf {
        self.root.path().join("lib/plugins/available/compose")
    }
    /// A plugin repository whose install trigger only counts its runs.
    fn other_plugin(&self) -> String {
        let repo = self.root.path().join("src/dokku-other");
        write_exec(
            &repo.join("install"),
            "#!/usr/bin/env bash\necho ran >> \"$(dirname \"$0\")/runs\"\n",
        );
        std::fs::write(
            repo.join("plugin.toml"),
            "[plugin]\ndescription = \"other\"\nversion = \"1.0.0\"\n",
        )
        .unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-qm", "other"]);
        format!("file://{}", repo.display())
    }
}

#[test]
fn plugin_update_swaps_in_the_new_version_and_other_plugins_installs_do_nothing() {
    let (releases, server) = serve_good_release();
    let url = [("DOKKU_COMPOSE_RELEASE_URL", server.url.as_str())];
    let s = Sandbox {
        root: tempfile::tempdir().unwrap(),
    };
    let repo = plugin_repo(s.root.path());
    let o = s.dokku(
        &[
            "plugin:install",
            &format!("file://{}", repo.display()),
            "--name",
            "compose",
        ],
        &url,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.requests().len(), 3);
    // The versions agree: plugin:list (plugin.toml), the binary, Cargo.toml.
    let list: serde_json::Value =
        serde_json::from_slice(&s.dokku(&["plugin:list", "--format", "json"], &[]).stdout).unwrap();
    let ours = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "compose")
        .unwrap();
    assert_eq!(ours["version"], VERSION);
    let o = s.dokku(&["compose:version"], &[]);
    assert!(
        o.status.success()
            && String::from_utf8_lossy(&o.stdout).starts_with(&format!("compose {VERSION} (")),
        "{}",
        text(&o)
    );
    assert!(s.dokku(&["apps:create", "shop"], &[]).status.success());
    let o = s.dokku(&["compose:report", "shop", "--compose-plugin-version"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&s.dokku(&["compose:version"], &[]).stdout),
        "{}",
        text(&o)
    );
    // Another plugin's install (which runs every install trigger), without the URL: ours does
    // nothing, downloads nothing, and does not fail.
    let other = s.other_plugin();
    let o = s.dokku(&["plugin:install", &other, "--name", "other"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.requests().len(), 3, "{:?}", server.requests());
    assert!(s.dokku(&["plugin:update", "other"], &[]).status.success());
    assert_eq!(server.requests().len(), 3, "{:?}", server.requests());
    // A new version pushed to the plugin's repository: plugin:update swaps the binary.
    write_good_release(releases.path(), "0.9.0");
    let toml = std::fs::read_to_string(repo.join("plugin.toml")).unwrap();
    std::fs::write(
        repo.join("plugin.toml"),
        toml.replace(&format!("version = \"{VERSION}\""), "version = \"0.9.0\""),
    )
    .unwrap();
    git(&repo, &["commit", "-qam", "0.9.0"]);
    let o = s.dokku(&["plugin:update", "compose"], &url);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(s.plugin().join("bin/dokku-compose-plugin")).unwrap(),
        fake_bin("0.9.0", "x86_64")
    );
    assert!(std::fs::read_to_string(s.plugin().join("bin/.installed"))
        .unwrap()
        .starts_with("0.9.0 release "));
    assert_eq!(server.requests().len(), 6, "{:?}", server.requests());
    let status = git(&s.plugin(), &["status", "--porcelain"]);
    assert!(
        status.stdout.is_empty(),
        "the install leaves the checkout clean for the next plugin:update: {}",
        String::from_utf8_lossy(&status.stdout)
    );
}

#[test]
fn after_a_prebuilt_install_other_plugins_install_without_cargo() {
    let s = Sandbox {
        root: tempfile::tempdir().unwrap(),
    };
    let repo = plugin_repo(s.root.path());
    let bin = plugin_bin();
    let o = s.dokku(
        &[
            "plugin:install",
            &format!("file://{}", repo.display()),
            "--name",
            "compose",
        ],
        &[("DOKKU_COMPOSE_PREBUILT", bin.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", text(&o));
    let other = s.other_plugin();
    let o = s.dokku(&["plugin:install", &other, "--name", "other"], &[]);
    assert!(
        o.status.success(),
        "another plugin installs on a host without cargo: {}",
        text(&o)
    );
    assert!(!text(&o).contains("cargo"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(s.root.path().join("lib/plugins/available/other/runs")).unwrap(),
        "ran\n"
    );
    let o = s.dokku(&["plugin:update", "other"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(s.plugin().join("bin/dokku-compose-plugin")).unwrap(),
        std::fs::read(&bin).unwrap()
    );
}

#[test]
fn plugin_toml_cargo_toml_and_the_binary_report_one_version() {
    let toml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.toml")).unwrap();
    assert!(
        toml.lines()
            .any(|l| l == format!("version = \"{VERSION}\"")),
        "plugin.toml's version is Cargo.toml's {VERSION}:\n{toml}"
    );
    let o = Command::new(plugin_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .split(' ')
            .take(2)
            .collect::<Vec<_>>(),
        ["compose", VERSION]
    );
    // Every root name Dokku runs is in the repository or laid by install.sh (checked above by
    // the installs): the committed surface.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in crate::support::PLUGIN_FILES {
        let meta = std::fs::metadata(root.join(f)).unwrap();
        assert!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0
                || f.ends_with(".toml")
                || f.starts_with('.'),
            "{f} is executable"
        );
    }
}

#[test]
fn the_release_workflow_passes_actionlint_and_builds_what_install_downloads() {
    let bin = std::env::var("ACTIONLINT_BIN")
        .expect("ACTIONLINT_BIN (scripts/setup-actionlint, run by scripts/test)");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(&bin)
        .current_dir(root)
        .args(["-no-color", ".github/workflows/release.yml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "actionlint: {}", text(&o));
    let wf = std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap();
    assert!(
        wf.contains("scripts/build-release --all")
            && wf.contains("SHA256SUMS")
            && wf.contains("tags:"),
        "{wf}"
    );
    // The linter can fail: a broken copy is refused.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("release.yml");
    std::fs::write(&broken, wf.replace("runs-on:", "runs_on:")).unwrap();
    let o = Command::new(&bin)
        .arg("-no-color")
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
}

/// The release folder scripts/build-release made (scripts/test runs it and sets
/// DOKKU_COMPOSE_RELEASE_DIR).
fn built_release() -> PathBuf {
    let dir = std::env::var_os("DOKKU_COMPOSE_RELEASE_DIR").map(PathBuf::from).expect("DOKKU_COMPOSE_RELEASE_DIR: the folder scripts/build-release prints (scripts/test runs it)");
    assert!(
        dir.join("SHA256SUMS").is_file(),
        "{} has no SHA256SUMS: run scripts/build-release",
        dir.display()
    );
    dir
}

/// The highest `GLIBC_x.y[.z]` version a dynamic symbol of `bin` needs (read by `objdump`, the
/// binutils of the binary's architecture), or None for a static binary.
fn max_glibc(objdump: &str, bin: &Path) -> Option<Vec<u32>> {
    let o = Command::new(objdump)
        .arg("-T")
        .arg(bin)
        .output()
        .unwrap_or_else(|e| panic!("{objdump} (binutils): {e}"));
    if !o.status.success() {
        assert!(
            text(&o).contains("not a dynamic object"),
            "{objdump} -T {}: {}",
            bin.display(),
            text(&o)
        );
        return None;
    }
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            v.split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<Vec<u32>>>()
        })
        .max()
}

#[test]
fn the_release_binaries_need_at_most_glibc_2_31_and_match_their_checksums() {
    let dir = built_release();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut names = Vec::new();
    for line in sums.lines() {
        let (sum, name) = line
            .split_once("  ")
            .unwrap_or_else(|| panic!("SHA256SUMS line `{line}`"));
        assert_eq!(
            sum,
            sha256(&std::fs::read(dir.join(name)).unwrap()),
            "{name}"
        );
        // x86_64 with the host's binutils; aarch64 (CI's release job) with the cross binutils.
        let objdump = if name.ends_with(&format!("-{}-linux", std::env::consts::ARCH)) {
            "objdump".to_owned()
        } else {
            format!("{}-linux-gnu-objdump", name.rsplit('-').nth(1).unwrap())
        };
        if let Some(max) = max_glibc(&objdump, &dir.join(name)) {
            assert!(
                max <= vec![2, 31],
                "{name} needs GLIBC_{}",
                max.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
            );
        }
        names.push(name.to_owned());
    }
    for name in [
        "dokku-compose-plugin-x86_64-linux",
        "dokku-compose-webhook-x86_64-linux",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} in SHA256SUMS:\n{sums}"
        );
    }
    // The check reads real versions: this test binary, linked against the build host's glibc
    // (2.36 here), needs more than 2.31.
    let host = max_glibc("objdump", &std::env::current_exe().unwrap()).unwrap();
    assert!(host > vec![2, 31], "{host:?}");
    // Under its installed name, the binary answers as this version.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.join("dokku-compose-plugin-x86_64-linux"),
        tmp.path().join("dokku-compose-plugin"),
    )
    .unwrap();
    let o = Command::new(tmp.path().join("dokku-compose-plugin"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(&format!("compose {VERSION} (")),
        "{}",
        text(&o)
    );
}

#[test]
fn the_release_binaries_run_on_debian_11() {
    // A Debian 11 (glibc 2.31) root made once with debootstrap (target-bullseye/), the built
    // x86_64 binaries run in it by chroot (as root, as CI runs).
    let dir = built_release();
    let o = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-bullseye"))
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("GLIBC 2.31")
            && out.contains(&format!("--version: compose {VERSION} ("))
            && out.contains("bullseye: ok"),
        "{out}"
    );
}
