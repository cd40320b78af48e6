//! State on disk: plugin properties, app env files, app existence and name validation, and the
//! shared `:report` renderer. Layout and rules cite dokku-facts.md §a "Paths" and §d.

use std::collections::BTreeMap;
use std::fs;

use crate::ctx::{fail, fail_code, io_err, read_opt, remove_any, write_atomic, Ctx, Res};

impl Ctx {
    /// Raw property value (`$DOKKU_LIB_ROOT/config/<plugin>/<scope>/<key>`), `None` if unset.
    pub fn prop(&self, plugin: &str, scope: &str, key: &str) -> Res<Option<String>> {
        read_opt(&self.paths.prop_path(plugin, scope, key))
    }
    /// Property value or empty string.
    pub fn prop_or(&self, plugin: &str, scope: &str, key: &str) -> Res<String> {
        Ok(self.prop(plugin, scope, key)?.unwrap_or_default())
    }
    /// App value, else global value, else `default` (the `computed-` rule, §d ":report").
    pub fn prop_computed(&self, plugin: &str, app: &str, key: &str, default: &str) -> Res<String> {
        if let Some(v) = self.prop(plugin, app, key)?.filter(|v| !v.is_empty()) {
            return Ok(v);
        }
        if let Some(v) = self
            .prop(plugin, "--global", key)?
            .filter(|v| !v.is_empty())
        {
            return Ok(v);
        }
        Ok(default.to_string())
    }
    /// Write a property.
    pub fn set_prop(&self, plugin: &str, scope: &str, key: &str, value: &str) -> Res {
        write_atomic(&self.paths.prop_path(plugin, scope, key), value)
    }
    /// Remove a property.
    pub fn unset_prop(&self, plugin: &str, scope: &str, key: &str) -> Res {
        remove_any(&self.paths.prop_path(plugin, scope, key))
    }

    /// Whether `$DOKKU_ROOT/<app>` exists as an app.
    pub fn app_exists(&self, app: &str) -> bool {
        is_valid_app_name_old(app) && self.paths.app_dir(app).is_dir()
    }

    /// `verify_app_name`: the name must be valid and the app must exist, else exit 20
    /// with ` !     App <app> does not exist` (§d "App names").
    pub fn verify_app(&self, app: &str) -> Res {
        if app.is_empty() {
            return fail("Please specify an app to run the command on");
        }
        if !is_valid_app_name_old(app) {
            return fail(APP_NAME_ERROR);
        }
        if !self.app_exists(app) {
            return fail_code(20, format!("App {app} does not exist"));
        }
        Ok(())
    }

    /// Every app, sorted (dirs in `DOKKU_ROOT` not starting with `.` or uppercase, §d).
    pub fn apps(&self) -> Res<Vec<String>> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(&self.paths.root) {
            Ok(rd) => rd,
            Err(_) => return Ok(out),
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() && is_valid_app_name_old(&name) {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The env of an app or `--global` (`$DOKKU_LIB_ROOT/config/<app>/ENV`, §a).
    pub fn env(&self, scope: &str) -> Res<BTreeMap<String, String>> {
        let p = self.paths.lib.join("config").join(scope).join("ENV");
        Ok(read_opt(&p)?.map(|s| parse_env(&s)).unwrap_or_default())
    }
    /// Replace the env of an app or `--global`.
    pub fn write_env(&self, scope: &str, env: &BTreeMap<String, String>) -> Res {
        let p = self.paths.lib.join("config").join(scope).join("ENV");
        let mut s = String::new();
        for (k, v) in env {
            s.push_str(&format!("export {k}='{}'\n", v.replace('\'', "'\\''")));
        }
        write_atomic(&p, &s)
    }

    /// Lines of a list file (empty when missing).
    pub fn read_lines(&self, path: &std::path::Path) -> Res<Vec<String>> {
        Ok(read_opt(path)?
            .map(|s| {
                s.lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }
    /// Write a list file, one entry per line.
    pub fn write_lines(&self, path: &std::path::Path, lines: &[String]) -> Res {
        let mut s = lines.join("\n");
        if !s.is_empty() {
            s.push('\n');
        }
        write_atomic(path, &s)
    }
}

/// The text `IsValidAppName` prints (§d "App names").
pub const APP_NAME_ERROR: &str =
    "App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens";

/// `^[a-z0-9][a-z0-9.-]*$` (§d, `IsValidAppName`, used by `apps:create`).
pub fn is_valid_app_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_lowercase() || ch.is_ascii_digit())
        && c.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '.' || ch == '-')
}

/// `^[a-z0-9][a-z0-9._-]*$` (`IsValidAppNameOld`, still accepted for existing apps).
pub fn is_valid_app_name_old(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_lowercase() || ch.is_ascii_digit())
        && c.all(|ch| {
            ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '.' || ch == '-' || ch == '_'
        })
}

/// `^[a-zA-Z_][a-zA-Z0-9_]*$` (§d "Other names", `validateKey`).
pub fn is_valid_config_key(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// `^[A-Za-z0-9_-]+$` (datastore service names and plugin names, §d).
pub fn is_valid_service_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
}

/// DNS-1123 label of at most 45 characters (storage entry names, §d).
pub fn is_valid_storage_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 45
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Parse an ENV file written by `write_env` (`export K='v'` lines).
pub fn parse_env(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let line_start = rest.trim_start_matches('\n');
        let Some(body) = line_start.strip_prefix("export ") else {
            break;
        };
        let Some(eq) = body.find('=') else { break };
        let key = body[..eq].to_string();
        let mut val = String::new();
        let mut chars = body[eq + 1..].char_indices().peekable();
        let mut consumed = eq + 1;
        let mut in_q = false;
        while let Some((i, ch)) = chars.next() {
            consumed = eq + 1 + i + ch.len_utf8();
            match ch {
                '\'' => in_q = !in_q,
                '\\' if !in_q => {
                    if let Some((j, n)) = chars.next() {
                        consumed = eq + 1 + j + n.len_utf8();
                        val.push(n);
                    }
                }
                '\n' if !in_q => break,
                c => val.push(c),
            }
        }
        out.insert(key, val);
        rest = &body[consumed.min(body.len())..];
    }
    out
}

/// One report row: the full flag (without `--`), the JSON key, the value.
#[derive(Debug, Clone)]
pub struct Row {
    /// Flag without leading dashes, e.g. `app-dir` or `deployed`.
    pub flag: String,
    /// Value.
    pub value: String,
}

/// A `<plugin>:report` definition (§d ":report conventions").
pub struct Report {
    /// Plugin name used in messages (`apps`).
    pub plugin: &'static str,
    /// Report type used in headers and flag prefixes (`app`).
    pub kind: &'static str,
    /// Whether JSON also carries the legacy prefixed keys (`EmitLegacyPrefix`).
    pub legacy: bool,
}

impl Report {
    /// Parse report args and print. `rows(ctx, app)` gives the rows for an app; `global` rows for `--global`.
    pub fn run(
        &self,
        ctx: &mut Ctx,
        args: &[String],
        rows: &dyn Fn(&Ctx, &str) -> Res<Vec<Row>>,
        global_rows: &dyn Fn(&Ctx) -> Res<Vec<Row>>,
    ) -> Res {
        let mut app: Option<String> = None;
        let mut global = false;
        let mut format = "stdout".to_string();
        let mut info: Vec<String> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if a == "--format" {
                i += 1;
                format = args.get(i).cloned().unwrap_or_default();
            } else if let Some(f) = a.strip_prefix("--format=") {
                format = f.to_string();
            } else if a == "--global" {
                global = true;
            } else if a.starts_with("--") {
                info.push(a.clone());
            } else if app.is_none() {
                app = Some(a.clone());
            }
            i += 1;
        }
        if format != "stdout" && format != "json" {
            return fail(format!("Invalid --format value specified: {format}"));
        }
        if info.len() > 1 {
            return fail(format!(
                "{}:report command allows only a single flag",
                self.plugin
            ));
        }
        if !info.is_empty() && format == "json" {
            return fail("--format flag cannot be specified when specifying an info flag");
        }
        let targets: Vec<(String, Vec<Row>)> = if global {
            // Go plugins pass `--global` as the app name to `ReportSingleApp`.
            let name = if self.legacy { "--global" } else { "global" };
            vec![(name.to_string(), global_rows(ctx)?)]
        } else if let Some(a) = &app {
            ctx.verify_app(a)?;
            vec![(a.clone(), rows(ctx, a)?)]
        } else {
            let apps = ctx.apps()?;
            if apps.is_empty() {
                ctx.warn("You haven't deployed any applications yet");
                return Ok(());
            }
            let mut v = Vec::new();
            for a in apps {
                let r = rows(ctx, &a)?;
                v.push((a, r));
            }
            v
        };
        for (name, mut rows) in targets {
            // Rows and the valid-flag list are sorted by flag (`ReportSingleApp`).
            rows.sort_by(|a, b| a.flag.cmp(&b.flag));
            if let Some(flag) = info.first() {
                let want = flag.trim_start_matches('-');
                match rows.iter().find(|r| r.flag == want) {
                    Some(r) => ctx.out(&r.value),
                    None => {
                        let valid: Vec<String> =
                            rows.iter().map(|r| format!("--{}", r.flag)).collect();
                        return fail(format!(
                            "Invalid flag passed, valid flags: {}",
                            valid.join(", ")
                        ));
                    }
                }
                continue;
            }
            if format == "json" {
                let mut m = BTreeMap::new();
                let head = format!("{}-", self.kind);
                for r in &rows {
                    match r.flag.strip_prefix(&head) {
                        Some(short) => {
                            m.insert(short.to_string(), r.value.clone());
                            if self.legacy {
                                m.insert(r.flag.clone(), r.value.clone());
                            }
                        }
                        None => {
                            m.insert(r.flag.clone(), r.value.clone());
                        }
                    }
                }
                ctx.out(serde_json::to_string(&m).unwrap_or_default());
                continue;
            }
            // Padding is the longest `--flag`, at least 31 (`ReportSingleApp`).
            let width = rows
                .iter()
                .map(|r| r.flag.len() + 2)
                .max()
                .unwrap_or(0)
                .max(31);
            ctx.info2(format!("{name} {} information", self.kind));
            for r in &rows {
                ctx.out(format!(
                    "       {:<width$}{}",
                    format!("{}:", label(&r.flag)),
                    r.value
                ));
            }
        }
        Ok(())
    }
}

/// Report row label: flag with `-`/`.` as spaces, first letter uppercased (§d).
pub fn label(flag: &str) -> String {
    let s: String = flag
        .chars()
        .map(|c| if c == '-' || c == '.' { ' ' } else { c })
        .collect();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// Build rows from `(flag, value)` pairs.
pub fn rows(pairs: Vec<(String, String)>) -> Vec<Row> {
    pairs
        .into_iter()
        .map(|(flag, value)| Row { flag, value })
        .collect()
}

/// Ensure a directory exists.
pub fn mkdirs(p: &std::path::Path) -> Res {
    fs::create_dir_all(p).map_err(io_err(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_round_trip_keeps_quotes_and_newlines() {
        let mut m = BTreeMap::new();
        m.insert("A".to_string(), "it's".to_string());
        m.insert("B".to_string(), "line1\nline2".to_string());
        m.insert("C".to_string(), String::new());
        let mut s = String::new();
        for (k, v) in &m {
            s.push_str(&format!("export {k}='{}'\n", v.replace('\'', "'\\''")));
        }
        assert_eq!(parse_env(&s), m);
    }

    #[test]
    fn app_name_rules_follow_is_valid_app_name() {
        assert!(is_valid_app_name("web-1.x"));
        assert!(!is_valid_app_name("Web"));
        assert!(!is_valid_app_name("my_app"));
        assert!(is_valid_app_name_old("my_app"));
        assert!(!is_valid_app_name("-x"));
    }

    #[test]
    fn labels_follow_report_convention() {
        assert_eq!(label("app-dir"), "App dir");
        assert_eq!(label("status-web.1"), "Status web 1");
    }

    #[test]
    fn storage_names_are_dns_labels() {
        assert!(is_valid_storage_name("data-1"));
        assert!(!is_valid_storage_name("Data"));
        assert!(!is_valid_storage_name(&"a".repeat(46)));
    }
}
