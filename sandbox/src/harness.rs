//! Test and benchmark harness: the call log, fault injection, the latency model and the image
//! catalog. None of this is Dokku behaviour; it is how tests observe and steer the sandbox.
//!
//! Files under `$DOKKU_LIB_ROOT/sandbox/`:
//! - `calls.jsonl`: one JSON object per `dokku` invocation (argv, exit, times, duration);
//! - `rules.json`: `{"latency": {...}, "faults": [...]}` (env vars override, see docs/sandbox.md);
//! - `images.json`: the image catalog (how a simulated image behaves);
//! - `counter`: the sequence number of calls, used by `nth` fault rules.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::ctx::{read_opt, write_atomic, Ctx, Paths, Res};

/// Latency model: every value is milliseconds, zero by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    /// Delay added to every built-in command.
    pub command_ms: u64,
    /// Per-command overrides (`"apps:create": 300`).
    pub commands: BTreeMap<String, u64>,
    /// Delay added to every deploy (on top of the catalog's build/start times); waited, not
    /// charged as CPU.
    pub deploy_ms: u64,
    /// CPU cores of the modelled host (default 2): each command's delay is CPU time on one of
    /// them, so at most this many delays run at once and parallel calls queue for a core as
    /// real `dokku` invocations (bash, plugn, Go binaries) do. `0` lets every delay overlap.
    pub cores: Option<u64>,
}

/// The cores of [`Latency::cores`] when not set.
pub const DEFAULT_CORES: u64 = 2;

impl Latency {
    /// The modelled host's cores (`0`: unlimited).
    pub fn cores(&self) -> u64 {
        self.cores.unwrap_or(DEFAULT_CORES)
    }
}

/// A fault rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Fault {
    /// Fail the Nth call (1-based, counting every `dokku` invocation in this sandbox).
    pub nth: Option<u64>,
    /// Fail calls whose space-joined argv matches this glob (`*` wildcard), e.g. `apps:create *`.
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    /// Exit code (default 1).
    pub exit: Option<u8>,
    /// Message printed as ` !     <message>` (default `Injected failure`).
    pub message: Option<String>,
    /// Instead of failing the call, make deploys of apps matching this glob fail health checks.
    pub deploy: Option<String>,
}

/// `rules.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Rules {
    /// Latency model.
    pub latency: Latency,
    /// Fault rules.
    pub faults: Vec<Fault>,
}

impl Rules {
    /// Load `rules.json`, then apply env overrides: `DOKKU_SANDBOX_LATENCY_MS`,
    /// `DOKKU_SANDBOX_DEPLOY_MS`, `DOKKU_SANDBOX_FAULTS` (a JSON array of rules, appended).
    pub fn load(paths: &Paths) -> Rules {
        let p = paths.sandbox_dir().join("rules.json");
        let mut r: Rules = read_opt(&p)
            .ok()
            .flatten()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        if let Some(v) = env_u64("DOKKU_SANDBOX_LATENCY_MS") {
            r.latency.command_ms = v;
        }
        if let Some(v) = env_u64("DOKKU_SANDBOX_DEPLOY_MS") {
            r.latency.deploy_ms = v;
        }
        if let Some(v) = env_u64("DOKKU_SANDBOX_CORES") {
            r.latency.cores = Some(v);
        }
        if let Ok(s) = std::env::var("DOKKU_SANDBOX_FAULTS") {
            if let Ok(mut v) = serde_json::from_str::<Vec<Fault>>(&s) {
                r.faults.append(&mut v);
            }
        }
        r
    }
    /// The delay for a command.
    pub fn command_delay(&self, cmd: &str) -> u64 {
        self.latency
            .commands
            .get(cmd)
            .copied()
            .unwrap_or(self.latency.command_ms)
    }
    /// The first call-level fault matching this call.
    pub fn call_fault(&self, n: u64, argv: &[String]) -> Option<&Fault> {
        let joined = argv.join(" ");
        self.faults.iter().find(|f| {
            f.deploy.is_none()
                && (f.nth == Some(n) || f.pattern.as_deref().is_some_and(|p| glob(p, &joined)))
        })
    }
    /// Whether a deploy of `app` must fail its health checks.
    pub fn deploy_fault(&self, app: &str) -> bool {
        self.faults
            .iter()
            .any(|f| f.deploy.as_deref().is_some_and(|p| glob(p, app)))
    }
}

fn env_u64(k: &str) -> Option<u64> {
    std::env::var(k).ok().and_then(|v| v.parse().ok())
}

/// `*`-only glob match over the whole string.
pub fn glob(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == s;
    }
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(idx) => rest = &rest[idx + p.len()..],
                None => return false,
            }
        }
    }
    true
}

/// How a simulated image behaves (one entry of `images.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageBehaviour {
    /// The container exits with this code right after starting (`None`: keeps running).
    pub exit: Option<i32>,
    /// Health checks fail.
    pub unhealthy: bool,
    /// The build fails (` !     App build failed`).
    pub build_fails: bool,
    /// Build time in ms.
    pub build_ms: u64,
    /// Start time per container in ms.
    pub start_ms: u64,
    /// Exit code of `dokku run` against an app running this image (default 0).
    pub run_exit: Option<i32>,
    /// Text `dokku run` prints.
    pub run_output: Option<String>,
    /// Log lines `dokku logs` prints.
    pub logs: Vec<String>,
}

/// The image catalog. Lookup order: `app:<app>`, the exact image, the image without its tag.
/// Unknown images behave like a healthy server.
pub fn image_behaviour(paths: &Paths, app: &str, image: &str) -> ImageBehaviour {
    let p = paths.sandbox_dir().join("images.json");
    let cat: BTreeMap<String, ImageBehaviour> = read_opt(&p)
        .ok()
        .flatten()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let untagged = image
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(image, |(r, _)| r);
    cat.get(&format!("app:{app}"))
        .or_else(|| cat.get(image))
        .or_else(|| cat.get(untagged))
        .cloned()
        .unwrap_or_default()
}

/// Increment and return the call counter (held under the state lock by the caller).
pub fn next_call_number(ctx: &mut Ctx) -> Res<u64> {
    ctx.lock()?;
    let p = ctx.paths.sandbox_dir().join("counter");
    let n = read_opt(&p)?
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    write_atomic(&p, &n.to_string())?;
    ctx.unlock();
    Ok(n)
}

/// One call-log line.
#[derive(Debug, Serialize, Deserialize)]
pub struct CallRecord {
    /// Sequence number of the call in this sandbox.
    pub n: u64,
    /// argv after the program name, secrets as given.
    pub argv: Vec<String>,
    /// Exit status.
    pub exit: u8,
    /// Start, RFC 3339 UTC with milliseconds.
    pub start: String,
    /// End, RFC 3339 UTC with milliseconds.
    pub end: String,
    /// Start in ms since the epoch.
    pub start_ms: u128,
    /// Duration in ms.
    pub duration_ms: f64,
    /// Process id.
    pub pid: u32,
    /// Nesting depth: 0 for a top-level call, 1+ for calls made by plugins during another call.
    pub depth: u32,
}

/// Append a record to `calls.jsonl` (one `write` per line, so parallel writers do not interleave).
pub fn log_call(paths: &Paths, rec: &CallRecord) {
    let p = paths.sandbox_dir().join("calls.jsonl");
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&p) {
        let mut line = serde_json::to_string(rec).unwrap_or_default();
        line.push('\n');
        drop(f.write_all(line.as_bytes()));
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// RFC 3339 UTC timestamp with milliseconds, from ms since the epoch.
pub fn rfc3339(ms: u128) -> String {
    let secs = (ms / 1000) as i64;
    let millis = (ms % 1000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_prefix_suffix_and_middle() {
        assert!(glob("apps:create *", "apps:create web"));
        assert!(!glob("apps:create *", "apps:destroy web"));
        assert!(glob("*:link * web", "postgres:link db web"));
        assert!(glob("x", "x"));
        assert!(!glob("x", "xy"));
    }

    #[test]
    fn latency_model_defaults_to_zero_and_takes_overrides() {
        let mut r = Rules::default();
        assert_eq!(r.command_delay("apps:create"), 0);
        assert_eq!(r.latency.deploy_ms, 0);
        r.latency.command_ms = 250;
        r.latency.commands.insert("ps:rebuild".into(), 3000);
        assert_eq!(r.command_delay("apps:create"), 250);
        assert_eq!(r.command_delay("ps:rebuild"), 3000);
        let parsed: Rules =
            serde_json::from_str(r#"{"latency": {"command_ms": 300, "deploy_ms": 4000}}"#).unwrap();
        assert_eq!(
            (parsed.latency.command_ms, parsed.latency.deploy_ms),
            (300, 4000)
        );
    }

    #[test]
    fn fault_rules_match_nth_or_pattern_and_deploys_separately() {
        let r: Rules = serde_json::from_str(
            r#"{"faults": [{"nth": 3}, {"match": "postgres:link *"}, {"deploy": "web-*"}]}"#,
        )
        .unwrap();
        let argv = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert!(r.call_fault(3, &argv("apps:list")).is_some());
        assert!(r.call_fault(4, &argv("apps:list")).is_none());
        assert!(r.call_fault(9, &argv("postgres:link db web")).is_some());
        assert!(r.deploy_fault("web-1"));
        assert!(!r.deploy_fault("api"));
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
