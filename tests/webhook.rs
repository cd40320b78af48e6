//! Deploys from a git remote and from CI (issue #9) end to end in the sandbox:
//! `compose:sync` from local repositories, and the webhook receiver (`dokku-compose-webhook`)
//! over real HTTP on loopback, deploying through the sandbox's `dokku` on `PATH`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac as _};
use serde_json::Value;

use crate::support::{git, text, Host};

/// A repository with `files` in the sandbox; with `remote`, its `dokku` remote is app `name`.
fn repo(h: &Host, name: &str, files: &[(&str, &str)], remote: bool) -> PathBuf {
    let dir = h.path().join(format!("src-{name}"));
    for (f, content) in files {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "one"]);
    if remote {
        h.remote(&dir, name);
    }
    dir
}

/// Top-level `compose:<verb> <stack>` calls of the sandbox's call log.
fn deploys(h: &Host, verb: &str, stack: &str) -> Vec<Value> {
    h.calls()
        .into_iter()
        .filter(|c| c["depth"] == 0 && c["argv"][0] == verb && c["argv"][1] == stack)
        .collect()
}

fn commit(dir: &Path, file: &str, content: &str) {
    std::fs::write(dir.join(file), content).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "change"]);
}

const STACK: &str = "services:
  web:
    image: nginx:1.27
    environment:
      GREETING: hello
      API_URL: http://api:8080
  api:
    build: ./api
    command: [\"serve\"]
";

fn stack_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("compose.yaml", STACK),
        ("api/Dockerfile", "FROM python:3.12\nCOPY . /app\n"),
        ("api/app.py", "print('hi')\n"),
    ]
}

/// A bare repository cloned from `src`, as a git host would hold it.
/// How many releases `h`'s stack `shop` has.
fn release_count(h: &Host) -> usize {
    h.json(&["compose:releases", "shop", "--format", "json"])
        .as_array()
        .unwrap()
        .len()
}

fn bare(src: &Path) -> PathBuf {
    let bare = src.with_extension("git");
    git(
        src.parent().unwrap(),
        &[
            "clone",
            "-q",
            "--bare",
            &src.display().to_string(),
            &bare.display().to_string(),
        ],
    );
    bare
}

/// (compose:sync) A stack fetched from a local bare repository deploys; syncing the same commit
/// again changes nothing; a new commit redeploys; tags and commits check out; bad refs, URLs,
/// repositories without compose file and unknown apps fail cleanly.
#[test]
fn sync_fetches_a_stack_from_a_git_repository_and_applies_it() {
    let h = Host::new();
    let src = repo(&h, "shop", &stack_files(), false);
    let bare = bare(&src);
    let url = format!("file://{}", bare.display());
    assert_eq!(
        h.dokku(&["compose:sync", "ghost", &url]).status.code(),
        Some(20)
    );
    h.succeeds(&["apps:create", "shop"]);
    let out = h.fails(&["compose:sync", "shop"]);
    assert!(out.contains("has no sync URL"), "{out}");

    let sha1 = String::from_utf8(git(&src, &["rev-parse", "HEAD"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let out = h.succeeds(&["compose:sync", "shop", &url]);
    assert!(out.contains("Release v1 of stack shop"), "{out}");
    assert_eq!(h.report("ps", "shop-web")["deployed"], "true");
    assert_eq!(h.report("ps", "shop-api")["deployed"], "true");
    let releases = h.json(&["compose:releases", "shop", "--format", "json"]);
    assert!(
        releases
            .to_string()
            .contains(&format!("compose:sync {}", &sha1[..12])),
        "{releases}"
    );
    assert_eq!(
        h.dokku(&["compose:report", "shop", "--compose-sync-url"])
            .stdout,
        format!("{url}\n").into_bytes()
    );

    // The same commit again: up to date, no new release.
    let out = h.succeeds(&["compose:sync", "shop"]);
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(release_count(&h), 1);

    // A new commit on the remote redeploys.
    commit(
        &src,
        "compose.yaml",
        &STACK.replace("GREETING: hello", "GREETING: bonjour"),
    );
    git(&src, &["tag", "v2"]);
    git(
        &src,
        &["push", "-q", &bare.display().to_string(), "main", "v2"],
    );
    let out = h.succeeds(&["compose:sync", "shop"]);
    assert!(out.contains("Release v2 of stack shop"), "{out}");
    assert_eq!(h.config("shop-web")["GREETING"], "bonjour");

    // A commit (here the first one) and a tag check out; a plain path works as a URL too.
    h.succeeds(&["compose:sync", "shop", &bare.display().to_string(), &sha1]);
    assert_eq!(h.config("shop-web")["GREETING"], "hello");
    h.succeeds(&["compose:sync", "shop", &url, "v2"]);
    assert_eq!(h.config("shop-web")["GREETING"], "bonjour");
    assert_eq!(
        h.ok(&["compose:report", "shop", "--compose-sync-ref"]),
        "v2"
    );

    // Bad refs and URLs fail before anything changes, and are not remembered.
    let before = release_count(&h);
    for (args, why) in [
        (
            vec![url.as_str(), "nope"],
            "no branch, tag or commit `nope`",
        ),
        (vec![url.as_str(), "a..b"], "invalid git ref `a..b`"),
        (
            vec!["ext::sh -c touch% /tmp/pwned", "main"],
            "unsupported git URL",
        ),
        (vec!["relative/repo"], "unsupported git URL"),
        (vec!["file:///nonexistent/repo.git"], "no git repository"),
    ] {
        let mut argv = vec!["compose:sync", "shop"];
        argv.extend(&args);
        let o = h.dokku(&argv);
        assert!(
            !o.status.success() && text(&o).contains(why),
            "{argv:?}: {}",
            text(&o)
        );
    }
    assert_eq!(release_count(&h), before);
    assert_eq!(
        h.ok(&["compose:report", "shop", "--compose-sync-ref"]),
        "v2"
    );
    assert!(!Path::new("/tmp/pwned").exists());

    // A repository without compose file: a clear error, the stack keeps its source.
    let plain = repo(&h, "plain", &[("README", "no stack\n")], false);
    let out = h.fails(&["compose:sync", "shop", &plain.display().to_string()]);
    assert!(out.contains("no compose file"), "{out}");
    assert!(h
        .path()
        .join("lib/data/compose/shop/source/compose.yaml")
        .is_file());
    let out = h.succeeds(&["compose:up", "shop"]);
    assert!(out.contains("up to date"), "{out}");
}

/// The receiver, started on an ephemeral loopback port against the sandbox; killed on drop.
struct Receiver {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Receiver {
    fn start(h: &Host) -> Self {
        Self::start_with(h, &[])
    }

    /// Started with extra flags (limits and timeouts).
    fn start_with(h: &Host, flags: &[&str]) -> Self {
        let path = format!(
            "{}:{}",
            h.path().join("lib/sandbox/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_dokku-compose-webhook"))
            .args(["--listen", "127.0.0.1:0", "--deploy-timeout", "120"])
            .args(flags)
            .arg("--lib-root")
            .arg(h.path().join("lib"))
            .env("PATH", path)
            .env("DOKKU_SANDBOX_ROOT", h.path())
            .env_remove("DOKKU_LIB_ROOT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(h.path().join("webhook.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{line:?}"))
            .parse()
            .unwrap();
        Receiver {
            child,
            addr,
            log: h.path().join("webhook.log"),
        }
    }

    /// One request over a fresh connection: (status, body).
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> (u16, Value) {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        read_response(&mut s)
    }

    /// A POST to stack `shop`'s hook: the status.
    fn post(&self, headers: &[(&str, String)], body: &[u8]) -> u16 {
        self.request("POST", "/hooks/shop", headers, body).0
    }

    fn status(&self, stack: &str, secret: &str) -> Value {
        let (code, body) = self.request(
            "GET",
            &format!("/hooks/{stack}/status"),
            &[("Authorization", format!("Bearer {secret}"))],
            b"",
        );
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Waits until no deploy of `stack` runs or waits.
    fn idle(&self, stack: &str, secret: &str) -> Value {
        let t0 = Instant::now();
        loop {
            let s = self.status(stack, secret);
            if s["running"] == false && s["queued"] == false {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "still deploying: {s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "webhook.log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

fn read_response(s: &mut TcpStream) -> (u16, Value) {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let code = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {raw:?}"));
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A sandbox with the stack `shop` pushed and its webhook secret created.
fn deployed_stack() -> (Host, String) {
    let h = Host::new();
    let dir = repo(&h, "shop", &stack_files(), true);
    let o = git(&dir, &["push", "dokku", "main"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = h.dokku(&["compose:webhook-secret", "shop"]);
    assert!(o.status.success(), "{}", text(&o));
    let secret = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(secret.len(), 64, "{}", text(&o));
    (h, secret)
}

/// (webhook) Every answer of the receiver: disabled stack 403, unknown stack 404, no or bad
/// credentials 401, good bearer token 202 and a real deploy, GitHub and Gitea signatures, a
/// tampered body 401, a replayed delivery 409, a replayed signed body 409 under a new, missing or
/// other delivery id, an oversized body 413; the secret is private and
/// shown once.
#[test]
fn webhook_authenticates_and_deploys() {
    let (h, secret) = deployed_stack();
    let stored = h.path().join("lib/config/compose/shop/webhook-secret");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&stored).unwrap().permissions())
            & 0o777,
        0o600
    );
    let again = h.dokku(&["compose:webhook-secret", "shop"]);
    assert!(
        again.status.success() && !text(&again).contains(&secret),
        "shown once: {}",
        text(&again)
    );
    assert!(
        !text(&h.dokku(&["compose:report", "shop"])).contains(&secret),
        "never in the report"
    );
    let r = Receiver::start(&h);
    let bearer = || vec![("Authorization", format!("Bearer {secret}"))];

    let (code, body) = r.request("POST", "/hooks/shop", &bearer(), b"{}");
    assert_eq!(code, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("compose:set shop webhook true"),
        "{body}"
    );
    h.succeeds(&["compose:set", "shop", "webhook", "true"]);
    let (code, _) = r.request("POST", "/hooks/ghost", &bearer(), b"{}");
    assert_eq!(code, 404);
    let (code, _) = r.request("GET", "/nope", &[], b"");
    assert_eq!(code, 404);
    let (code, body) = r.request("POST", "/hooks/shop", &[], b"{}");
    assert_eq!(code, 401, "{body}");
    assert_eq!(
        r.post(
            &[("Authorization", format!("Bearer {}x", &secret[..63]))],
            b"{}"
        ),
        401
    );
    assert_eq!(r.post(&[("X-Gitlab-Token", "wrong".into())], b"{}"), 401);
    let (code, _) = r.request("GET", "/hooks/shop/status", &[], b"");
    assert_eq!(code, 401, "the status needs the secret too");

    // A good token: 202 at once, and a real deploy through the sandbox's dokku.
    let before = deploys(&h, "compose:up", "shop").len();
    let (code, body) = r.request(
        "POST",
        "/hooks/shop",
        &[("X-Dokku-Compose-Token", secret.clone())],
        b"{}",
    );
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["stack"], "shop");
    assert_eq!(body["queued"], false);
    let status = r.idle("shop", &secret);
    assert_eq!(status["last"]["ok"], true, "{status}");
    assert_eq!(status["last"]["command"], "compose:up");
    assert!(!status.to_string().contains(&secret));
    assert_eq!(deploys(&h, "compose:up", "shop").len(), before + 1);

    // A change to the stack's config is deployed by the next hook: a new release.
    h.succeeds(&["config:set", "--no-restart", "shop", "GREETING=hi"]);
    std::fs::write(
        h.path().join("lib/data/compose/shop/source/compose.yaml"),
        STACK.replace("GREETING: hello", "GREETING: ${GREETING}"),
    )
    .unwrap();
    assert_eq!(r.post(&bearer(), b"{}"), 202);
    assert_eq!(r.idle("shop", &secret)["last"]["ok"], true);
    assert_eq!(h.config("shop-web")["GREETING"], "hi");
    assert_eq!(release_count(&h), 2);

    // GitHub: a valid signature, the same body tampered, the same delivery replayed.
    let payload = br#"{"ref":"refs/heads/main","after":"0123"}"#;
    let github = |body: &[u8], id: &str| {
        vec![
            ("X-GitHub-Event", "push".to_owned()),
            ("X-GitHub-Delivery", id.to_owned()),
            (
                "X-Hub-Signature-256",
                format!("sha256={}", sign(&secret, body)),
            ),
        ]
    };
    let gitea = |body: &[u8], id: &str| {
        vec![
            ("X-Gitea-Signature", sign(&secret, body)),
            ("X-Gitea-Delivery", id.to_owned()),
        ]
    };
    let (code, body) = r.request("POST", "/hooks/shop", &github(payload, "d-1"), payload);
    assert_eq!(code, 202, "{body}");
    assert_eq!(
        r.post(
            &github(payload, "d-2"),
            br#"{"ref":"refs/heads/evil","after":"0123"}"#
        ),
        401,
        "tampered body"
    );
    let (code, body) = r.request("POST", "/hooks/shop", &github(payload, "d-1"), payload);
    assert_eq!(code, 409, "{body}");
    // The signature covers the body, not the headers: the same signed body is refused whatever
    // delivery id comes with it (a new one, none, another sender's header).
    let (code, body) = r.request("POST", "/hooks/shop", &github(payload, "d-3"), payload);
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("whatever its delivery id"),
        "{body}"
    );
    assert_eq!(
        r.post(
            &[(
                "X-Hub-Signature-256",
                format!("sha256={}", sign(&secret, payload)),
            )],
            payload
        ),
        409,
        "replayed without a delivery id"
    );
    assert_eq!(
        r.post(&gitea(payload, "g-0"), payload),
        409,
        "replayed under Gitea's headers"
    );
    assert_eq!(
        r.post(
            &[
                (
                    "X-Hub-Signature-256",
                    format!("sha256={}", sign(&secret, payload)),
                ),
                ("Authorization", format!("Bearer {secret}")),
            ],
            payload
        ),
        409,
        "a token alongside does not lift the signed body's replay check"
    );
    // Gitea's signature header and delivery id, with a new body.
    let payload2 = br#"{"ref":"refs/heads/main","after":"4567"}"#;
    assert_eq!(r.post(&gitea(payload2, "g-1"), payload2), 202);
    assert_eq!(r.post(&gitea(payload2, "g-1"), payload2), 409);
    let payload3 = br#"{"ref":"refs/heads/main","after":"89ab"}"#;
    assert_eq!(
        r.post(&gitea(payload3, "g-1"), payload3),
        409,
        "a new body under a delivery id seen before"
    );
    // Token calls are not body-checked: the same body with a new id deploys again.
    assert_eq!(
        r.post(
            &[
                ("Authorization", format!("Bearer {secret}")),
                ("X-Dokku-Compose-Delivery", "ci-1".into()),
            ],
            b"{}"
        ),
        202
    );

    // Oversized: announced 2 MiB, answered 413 after the headers without reading the body.
    let mut s = TcpStream::connect(r.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("POST /hooks/shop HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\nContent-Length: {}\r\n\r\n", 2 * 1024 * 1024).as_bytes()).unwrap();
    s.write_all(&[b'x'; 4096]).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    drop(s);
    // Chunked without a length: cut at the limit.
    let mut s = TcpStream::connect(r.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("POST /hooks/shop HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let chunk = vec![b'x'; 256 * 1024];
    for _ in 0..5 {
        let _ = s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
        let _ = s.write_all(&chunk);
        let _ = s.write_all(b"\r\n");
    }
    let _ = s.write_all(b"0\r\n\r\n");
    assert_eq!(read_response(&mut s).0, 413);

    let status = r.idle("shop", &secret);
    assert_eq!(status["last"]["ok"], true, "{status}");
    // Never two deploys of the stack at once.
    assert_no_overlap(&deploys(&h, "compose:up", "shop"));

    // A stack with a sync URL is deployed by `compose:sync`: a new commit on the remote goes live.
    let src = h.path().join("src-shop");
    let remote = bare(&src);
    h.succeeds(&[
        "compose:sync",
        "shop",
        &remote.display().to_string(),
        "main",
    ]);
    commit(
        &src,
        "compose.yaml",
        &STACK.replace("GREETING: hello", "GREETING: from-git"),
    );
    git(&src, &["push", "-q", &remote.display().to_string(), "main"]);
    assert_eq!(r.post(&bearer(), b"{}"), 202);
    let status = r.idle("shop", &secret);
    assert_eq!(
        (
            status["last"]["command"].as_str(),
            status["last"]["ok"].as_bool()
        ),
        (Some("compose:sync"), Some(true)),
        "{status}"
    );
    assert_eq!(h.config("shop-web")["GREETING"], "from-git");
    assert_eq!(deploys(&h, "compose:sync", "shop").len(), 2);
}

/// Asserts that no two calls overlap in time; returns them sorted by start.
fn assert_no_overlap(calls: &[Value]) -> Vec<(f64, f64)> {
    let mut spans: Vec<(f64, f64)> = calls
        .iter()
        .map(|c| {
            let start = c["start_ms"].as_f64().unwrap();
            (start, start + c["duration_ms"].as_f64().unwrap())
        })
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in spans.windows(2) {
        assert!(w[1].0 >= w[0].1 - 1.0, "overlapping deploys: {w:?}");
    }
    spans
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// (webhook load) 4 bursts of 50 hooks from 8 client threads, each with its own delivery id:
/// every request is answered 202, the stack is deployed at least once per burst and at most
/// twice (one running, one queued that all others joined), deploys never overlap, and every
/// burst's last request is followed by a deploy that started after it (nothing lost).
#[test]
fn webhook_load_coalesces_deploys() {
    let (h, secret) = deployed_stack();
    h.succeeds(&["compose:set", "shop", "webhook", "true"]);
    // Deploys take a while (each `config:export` 150 ms), so a burst finds one running.
    std::fs::write(h.path().join("lib/sandbox/rules.json"), r#"{"latency": {"command_ms": 0, "commands": {"config:export": 150}, "deploy_ms": 0}, "faults": []}"#).unwrap();
    let r = Receiver::start(&h);
    let before = deploys(&h, "compose:up", "shop").len();
    let (bursts, per_burst, threads) = (4usize, 50usize, 8usize);
    let mut answered = 0usize;
    let mut busy = Duration::ZERO;
    let mut last_sent = Vec::new();
    for b in 0..bursts {
        let t0 = Instant::now();
        let results: Vec<(u16, f64)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (r, secret) = (&r, &secret);
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for i in (t..per_burst).step_by(threads) {
                            let sent = now_ms();
                            let (code, _) = r.request(
                                "POST",
                                "/hooks/shop",
                                &[
                                    ("Authorization", format!("Bearer {secret}")),
                                    ("X-Dokku-Compose-Delivery", format!("load-{b}-{i}")),
                                ],
                                b"{}",
                            );
                            out.push((code, sent));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        busy += t0.elapsed();
        assert_eq!(results.len(), per_burst, "every request got an answer");
        assert!(
            results.iter().all(|(c, _)| *c == 202),
            "{:?}",
            results
                .iter()
                .filter(|(c, _)| *c != 202)
                .collect::<Vec<_>>()
        );
        answered += results.len();
        let first = results.iter().map(|(_, t)| *t).fold(f64::MAX, f64::min);
        last_sent.push((first, results.iter().map(|(_, t)| *t).fold(0.0, f64::max)));
        let s = r.idle("shop", &secret);
        assert_eq!(s["last"]["ok"], true, "{s}");
    }
    let deploys: Vec<Value> = deploys(&h, "compose:up", "shop")
        .into_iter()
        .skip(before)
        .collect();
    let spans = assert_no_overlap(&deploys);
    let rps = answered as f64 / busy.as_secs_f64();
    let shortest = spans.iter().map(|(a, b)| b - a).fold(f64::MAX, f64::min);
    println!("webhook load: {answered} requests in {:.3} s of bursts ({rps:.0} requests/s), {bursts} bursts, {} deploys (shortest {shortest:.0} ms)", busy.as_secs_f64(), deploys.len());
    assert_eq!(answered, bursts * per_burst);
    assert!(
        deploys.len() >= bursts && deploys.len() <= 2 * bursts,
        "{} deploys for {bursts} bursts",
        deploys.len()
    );
    // Nothing lost: after each burst's last request, a deploy started before the next burst.
    for (b, (_, last)) in last_sent.iter().enumerate() {
        let next = last_sent.get(b + 1).map_or(f64::MAX, |(first, _)| *first);
        assert!(
            spans
                .iter()
                .any(|(start, _)| *start + 5.0 >= *last && *start < next),
            "burst {b}: no deploy started after its last request"
        );
    }
}

// ---- Hostile clients (issue #13): the receiver's limits, on loopback, with bounded loops.

/// A connection to the receiver with a read timeout.
fn connect(r: &Receiver, timeout: Duration) -> TcpStream {
    let s = TcpStream::connect_timeout(&r.addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s
}

/// `GET /healthz` on a fresh connection: (status, latency).
fn health(r: &Receiver) -> (u16, Duration) {
    let t0 = Instant::now();
    let mut s = connect(r, Duration::from_secs(10));
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let code = String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, t0.elapsed())
}

/// The status code at the start of what `s` answers (0 for nothing, within its read timeout).
fn status_of(s: &mut TcpStream) -> u16 {
    let mut head = [0u8; 12];
    match s.read_exact(&mut head) {
        Ok(()) => String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0),
        Err(_) => 0,
    }
}

/// The receiver's resident memory in KiB.
fn rss_kib(r: &Receiver) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", r.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (webhook limits) Eight clients (twice the request workers) trickle bodies a byte every 200 ms:
/// the health check keeps answering at once meanwhile, and each slow body gets `408` when the
/// body timeout (3 s) runs out.
#[test]
fn webhook_slow_bodies_do_not_block_the_health_check() {
    let h = Host::new();
    let r = Receiver::start_with(
        &h,
        &[
            "--workers",
            "2",
            "--body-timeout",
            "3",
            "--idle-timeout",
            "2",
        ],
    );
    let clients = 8;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let (answers, latencies) = std::thread::scope(|scope| {
        let slow: Vec<_> = (0..clients)
            .map(|_| {
                let (r, done) = (&r, &done);
                scope.spawn(move || {
                    let mut s = connect(r, Duration::from_secs(15));
                    let t0 = Instant::now();
                    s.write_all(
                        b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
                    )
                    .unwrap();
                    let mut reader = s.try_clone().unwrap();
                    let answer = std::thread::scope(|inner| {
                        let read = inner.spawn(move || (status_of(&mut reader), t0.elapsed()));
                        for _ in 0..75 {
                            if read.is_finished() || s.write_all(b"x").is_err() {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        read.join().unwrap()
                    });
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    answer
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let mut latencies = Vec::new();
        while done.load(std::sync::atomic::Ordering::SeqCst) < clients && latencies.len() < 100 {
            latencies.push(health(&r));
            std::thread::sleep(Duration::from_millis(100));
        }
        (
            slow.into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>(),
            latencies,
        )
    });
    let worst = latencies.iter().map(|(_, d)| *d).max().unwrap();
    let mut sorted: Vec<Duration> = latencies.iter().map(|(_, d)| *d).collect();
    sorted.sort();
    let slowest_408 = answers.iter().map(|(_, d)| *d).max().unwrap();
    println!(
        "webhook slow bodies: {clients} clients at 1 byte/200 ms, {} health checks meanwhile: median {:.1} ms, worst {:.1} ms; slow bodies answered {:?} after {:.2}-{:.2} s",
        latencies.len(),
        ms(sorted[sorted.len() / 2]),
        ms(worst),
        answers.iter().map(|(c, _)| *c).collect::<std::collections::BTreeSet<_>>(),
        answers.iter().map(|(_, d)| d.as_secs_f64()).fold(f64::MAX, f64::min),
        slowest_408.as_secs_f64()
    );
    assert!(latencies.len() >= 10, "{} health checks", latencies.len());
    assert!(latencies.iter().all(|(c, _)| *c == 200), "{latencies:?}");
    assert!(
        worst < Duration::from_secs(1),
        "a health check took {worst:?} under slow bodies"
    );
    assert!(
        answers.iter().all(|(c, d)| *c == 408
            && *d >= Duration::from_millis(2500)
            && *d < Duration::from_secs(8)),
        "{answers:?}"
    );
}

/// (webhook limits) A request head streamed without end is refused with `431` once past the
/// 16 KiB limit and the connection closed: the client cannot get more than a few MiB in, and the
/// receiver's memory does not grow with it. Ambiguous framing (`Content-Length` with
/// `Transfer-Encoding`, two lengths, another coding) gets `400`, over 64 headers `431`.
#[test]
fn webhook_refuses_an_oversized_head_without_keeping_it() {
    let h = Host::new();
    let r = Receiver::start(&h);
    let before = rss_kib(&r);
    let cap: usize = 64 * 1024 * 1024;
    let mut results = Vec::new();
    for header in ["X-Pad", "Authorization"] {
        let mut s = connect(&r, Duration::from_secs(10));
        let mut reader = s.try_clone().unwrap();
        let read = std::thread::spawn(move || status_of(&mut reader));
        let t0 = Instant::now();
        let mut sent = 0usize;
        let _ =
            s.write_all(format!("POST /hooks/shop HTTP/1.1\r\nHost: x\r\n{header}: ").as_bytes());
        let chunk = vec![b'a'; 64 * 1024];
        while sent < cap && t0.elapsed() < Duration::from_secs(20) {
            match s.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        results.push((read.join().unwrap(), sent, t0.elapsed()));
    }
    // Framing a smuggler could play with, and too many headers.
    let raw = |req: String| {
        let mut s = connect(&r, Duration::from_secs(10));
        s.write_all(req.as_bytes()).unwrap();
        status_of(&mut s)
    };
    let framing = [
        raw("POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc".into()),
        raw("POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".into()),
        raw("POST /hooks/shop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".into()),
        raw(format!("GET /healthz HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(100))),
        raw("NOT HTTP\r\n\r\n".into()),
    ];
    assert_eq!(framing, [400, 400, 400, 431, 400]);
    let (code, _) = health(&r);
    let after = rss_kib(&r);
    println!("webhook oversized head: {:?} (status, bytes the client got in before the close, time); receiver RSS {before} KiB before, {after} KiB after", results);
    for (status, sent, _) in &results {
        assert_eq!(*status, 431);
        assert!(
            *sent < 16 * 1024 * 1024,
            "the connection stayed open for {sent} bytes"
        );
    }
    assert_eq!(code, 200);
    assert!(
        after < before + 8 * 1024,
        "the receiver grew from {before} KiB to {after} KiB"
    );
}

/// (webhook limits) A connection that sends nothing is closed after the idle timeout (1 s); a
/// half-sent head that goes silent gets `408` then; a head trickled without pause gets `408`
/// at the head timeout (3 s).
#[test]
fn webhook_closes_idle_connections() {
    let h = Host::new();
    let r = Receiver::start_with(&h, &["--idle-timeout", "1", "--header-timeout", "3"]);
    let t0 = Instant::now();
    let mut silent = connect(&r, Duration::from_secs(10));
    let mut raw = Vec::new();
    let closed = silent.read_to_end(&mut raw).is_ok();
    let idle = t0.elapsed();

    let t0 = Instant::now();
    let mut half = connect(&r, Duration::from_secs(10));
    half.write_all(b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let half_code = status_of(&mut half);
    let half_time = t0.elapsed();

    let t0 = Instant::now();
    let mut trickle = connect(&r, Duration::from_secs(10));
    let mut reader = trickle.try_clone().unwrap();
    let read = std::thread::spawn(move || (status_of(&mut reader), t0.elapsed()));
    let _ = trickle.write_all(b"GET /healthz HTTP/1.1\r\n");
    for _ in 0..40 {
        if read.is_finished() || trickle.write_all(b"X-A: b\r\n").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let (trickle_code, trickle_time) = read.join().unwrap();
    println!("webhook idle: silent connection closed after {:.0} ms, half head 408 after {:.0} ms, trickled head {trickle_code} after {:.0} ms", ms(idle), ms(half_time), ms(trickle_time));
    assert!(
        closed && raw.is_empty(),
        "closed without an answer: {raw:?}"
    );
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(4),
        "{idle:?}"
    );
    assert_eq!(half_code, 408);
    assert!(
        half_time >= Duration::from_millis(900) && half_time < Duration::from_secs(4),
        "{half_time:?}"
    );
    assert_eq!(trickle_code, 408);
    assert!(
        trickle_time >= Duration::from_millis(2900) && trickle_time < Duration::from_secs(7),
        "{trickle_time:?}"
    );
}

/// (webhook limits) With at most 8 connections, 8 idle ones fill the table: 24 more are refused
/// with `503` at once (none of the 8 is old enough to evict); the receiver never holds more than
/// 8; once the idle ones are older than the eviction grace, the first health check closes the
/// oldest one, and every health check is answered `200` at the first try.
#[test]
fn webhook_connection_flood_is_refused_while_the_health_check_answers() {
    let h = Host::new();
    let r = Receiver::start_with(
        &h,
        &[
            "--max-connections",
            "8",
            "--idle-timeout",
            "60",
            "--header-timeout",
            "60",
        ],
    );
    let (limit, extra) = (8usize, 24usize);
    let held: Vec<TcpStream> = (0..limit)
        .map(|_| connect(&r, Duration::from_millis(50)))
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    let t0 = Instant::now();
    let mut refusals = Vec::new();
    let mut flood = Vec::new();
    for _ in 0..extra {
        let t = Instant::now();
        let mut s = connect(&r, Duration::from_secs(2));
        refusals.push((status_of(&mut s), t.elapsed()));
        flood.push(s);
    }
    let flood_time = t0.elapsed();
    // Which connections does the receiver still hold? An open one times out on a short read.
    let open = |conns: &mut [TcpStream]| {
        conns
            .iter_mut()
            .map(|s| {
                s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                let mut b = [0u8; 1];
                matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
            })
            .filter(|open| *open)
            .count()
    };
    let mut all: Vec<TcpStream> = held.into_iter().chain(flood).collect();
    let open_after_flood = open(&mut all);
    std::thread::sleep(Duration::from_millis(700));
    let checks: Vec<(u16, Duration)> = (0..5).map(|_| health(&r)).collect();
    let open_after_checks = open(&mut all);
    let refused = refusals.iter().filter(|(c, _)| *c == 503).count();
    let slowest_refusal = refusals.iter().map(|(_, d)| *d).max().unwrap();
    println!(
        "webhook flood: limit {limit}, {extra} more connections in {:.0} ms: {refused} refused 503 (slowest {:.1} ms), {open_after_flood} held open; then 5 health checks {:?} in {:?} ms, {open_after_checks} idle still held",
        ms(flood_time),
        ms(slowest_refusal),
        checks.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        checks.iter().map(|(_, d)| ms(*d).round()).collect::<Vec<_>>()
    );
    assert_eq!(refused, extra, "{refusals:?}");
    assert!(slowest_refusal < Duration::from_secs(1));
    assert_eq!(
        open_after_flood, limit,
        "the receiver holds exactly its limit"
    );
    assert!(
        checks
            .iter()
            .all(|(c, d)| *c == 200 && *d < Duration::from_secs(1)),
        "{checks:?}"
    );
    assert_eq!(
        open_after_checks,
        limit - 1,
        "the first health check evicted the oldest idle connection; the others reused its slot"
    );
}

/// (issue #14) A sync whose source the policy refuses, a slow push and a rollback on one stack
/// at once: the stack lock covers each command's capture and apply, so the push deploys its
/// own source, the refused sync changes nothing, and history and host agree.
#[test]
fn sync_push_and_rollback_at_once_never_mix_sources() {
    let h = Host::new();
    h.succeeds(&["apps:create", "shop"]);
    let src = repo(&h, "shop", &stack_files(), true);
    let o = git(&src, &["push", "-q", "dokku", "main"]);
    assert!(o.status.success(), "{}", text(&o));
    let refused = STACK
        .replace("GREETING: hello", "GREETING: from-sync")
        .replace(
            "image: nginx:1.27",
            "image: nginx:1.27\n    privileged: true",
        );
    let bad = repo(
        &h,
        "bad",
        &[
            ("compose.yaml", refused.as_str()),
            ("api/Dockerfile", "FROM python:3.12\n"),
            ("api/app.py", "x\n"),
        ],
        false,
    );
    let url = format!("file://{}", bare(&bad).display());
    commit(
        &src,
        "compose.yaml",
        &STACK.replace("GREETING: hello", "GREETING: pushed"),
    );
    let source = h.path().join("lib/data/compose/shop/source/compose.yaml");
    for round in 0..3 {
        if round > 0 {
            commit(
                &src,
                "compose.yaml",
                &STACK.replace("GREETING: hello", &format!("GREETING: pushed-{round}")),
            );
        }
        std::fs::write(
            h.path().join("lib/sandbox/rules.json"),
            r#"{"latency": {"command_ms": 60}}"#,
        )
        .unwrap();
        let pusher = Command::new("git")
            .current_dir(&src)
            .args(["push", "-q", "dokku", "main"])
            .env("DOKKU_SANDBOX_ROOT", h.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let sync = h.dokku(&["compose:sync", "shop", &url]);
        let rollback = h.dokku(&["compose:rollback", "shop"]);
        let pushed = pusher.wait_with_output().unwrap();
        std::fs::write(h.path().join("lib/sandbox/rules.json"), "{}").unwrap();
        assert!(
            !sync.status.success(),
            "round {round}: the sync is refused or finds the stack locked: {}",
            text(&sync)
        );
        let greeting =
            String::from_utf8_lossy(&h.dokku(&["config:get", "shop-web", "GREETING"]).stdout)
                .trim()
                .to_owned();
        assert_ne!(
            greeting, "from-sync",
            "round {round}: the refused source was never deployed"
        );
        let captured = std::fs::read_to_string(&source).unwrap();
        assert!(
            !captured.contains("from-sync") && !captured.contains("privileged"),
            "round {round}: the refused source was never captured: {captured}"
        );
        if pushed.status.success() {
            assert!(
                captured.contains("GREETING: pushed"),
                "round {round}: the push's source is kept: {captured}"
            );
        }
        assert!(
            h.dokku(&["compose:report", "shop", "--compose-sync-url"])
                .stdout
                .iter()
                .all(u8::is_ascii_whitespace),
            "round {round}: a refused sync records no sync URL"
        );
        // History and host agree: the latest release's GREETING is what the host has.
        let releases = h.json(&["compose:releases", "shop", "--format", "json"]);
        assert!(!releases.to_string().contains("compose:sync"), "{releases}");
        let _ = rollback;
        assert!(
            !h.path()
                .join("lib/data/compose/shop/journal.jsonl")
                .exists(),
            "round {round}: no transaction left open"
        );
    }
}
