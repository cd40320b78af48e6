//! `sandbox:*`: commands of the sandbox itself (not Dokku): `sandbox:demo` / `sandbox:init`
//! create a sandbox and print how to use it, `sandbox:git-remote` makes an app a git remote of
//! a local repository, `sandbox:info` prints the control-file paths.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::args::{parse, spec};
use crate::ctx::{fail, io_err, write_atomic, Ctx, Fail, Paths, Res};

/// Create a sandbox at `dir` (or a fresh temp dir) and print how to use it. Runs before any
/// sandbox root is configured, so it does not take a `Ctx`.
pub fn init(dir: Option<&str>, demo: bool, runtime: &str) -> Result<PathBuf, String> {
    let root = match dir {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!(
            "dokku-sandbox-{}-{}",
            std::process::id(),
            crate::harness::now_ms()
        )),
    };
    std::fs::create_dir_all(&root)
        .map_err(|e| format!("cannot create `{}`: {e}", root.display()))?;
    let root = std::fs::canonicalize(&root).map_err(|e| e.to_string())?;
    let paths = Paths {
        root: root.join("home"),
        lib: root.join("lib"),
    };
    paths.ensure().map_err(|e| e.to_string())?;
    if !runtime.is_empty() {
        crate::docker::set_runtime(&paths, runtime)?;
    }
    let rules = paths.sandbox_dir().join("rules.json");
    if !rules.exists() {
        let r = serde_json::json!({"latency": {"command_ms": 0, "commands": {}, "deploy_ms": 0}, "faults": []});
        write_atomic(
            &rules,
            &serde_json::to_string_pretty(&r).unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
    }
    let images = paths.sandbox_dir().join("images.json");
    if !images.exists() {
        let c = serde_json::json!({
            "example/crashing:1": {"exit": 1},
            "example/migrate:1": {"exit": 0, "run_exit": 0, "run_output": "migrations applied"},
            "example/unhealthy:1": {"unhealthy": true},
            "example/slow:1": {"build_ms": 2000, "start_ms": 1500}
        });
        write_atomic(
            &images,
            &serde_json::to_string_pretty(&c).unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = paths.sandbox_dir().join("bin");
    for name in ["dokku", "plugn"] {
        let link = bin.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link).map_err(|e| e.to_string())?;
    }
    if demo {
        let s = root.display();
        println!("=====> Dokku sandbox created at {s}");
        println!("       export DOKKU_SANDBOX_ROOT={s}");
        println!("       export PATH={}:$PATH", bin.display());
        println!();
        println!("-----> Try:");
        println!("       dokku apps:create web");
        println!("       dokku postgres:create db && dokku postgres:link db web");
        println!("       dokku git:from-image web nginx:1.27");
        println!("       dokku ps:report web --format json");
        println!("       dokku plugin:install file:///path/to/plugin --name compose");
        println!("       dokku sandbox:git-remote web --repo /path/to/repo   # then: git push dokku main");
        println!();
        println!("-----> Control files:");
        println!(
            "       call log:      {}",
            paths.sandbox_dir().join("calls.jsonl").display()
        );
        println!(
            "       rules:         {} (latency, faults)",
            rules.display()
        );
        println!("       image catalog: {}", images.display());
    } else {
        println!("{}", root.display());
    }
    Ok(root)
}

/// Dispatch `sandbox:<sub>` once a sandbox exists.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "git-remote" => git_remote(ctx, args),
        // The cluster's name resolution, on the object store (docs/k3s-discovery.md "The sandbox's kubectl").
        "k3s-resolve" => {
            let (ns, host, port) = match args {
                [ns, host, port] => (ns, host, port),
                _ => return fail("usage: sandbox:k3s-resolve <namespace> <host> <port>"),
            };
            let Ok(port) = port.parse::<u16>() else {
                return fail(format!("`{port}` is not a port"));
            };
            match crate::kube::resolve::resolve(&ctx.paths, ns, host, port) {
                Ok(line) => {
                    ctx.out(line);
                    Ok(())
                }
                Err(e) => fail(e),
            }
        }
        // Docker runtime (issue #16): the loopback port of an app's proxied map, and removal
        // of every container, network and image of this sandbox.
        "proxy-port" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            let port = crate::proxy::port_of(&ctx.paths, &app, args.get(1).map(String::as_str))?;
            ctx.out(port.to_string());
            Ok(())
        }
        "teardown" => {
            if crate::docker::enabled(&ctx.paths) {
                crate::docker::teardown(ctx)?;
            }
            Ok(())
        }
        "runtime" => {
            ctx.out(if crate::docker::enabled(&ctx.paths) {
                "docker"
            } else {
                "state"
            });
            Ok(())
        }
        "info" => {
            let d = ctx.paths.sandbox_dir();
            ctx.out(format!("DOKKU_ROOT={}", ctx.paths.root.display()));
            ctx.out(format!("DOKKU_LIB_ROOT={}", ctx.paths.lib.display()));
            ctx.out(format!("call log: {}", d.join("calls.jsonl").display()));
            ctx.out(format!("rules: {}", d.join("rules.json").display()));
            ctx.out(format!(
                "image catalog: {}",
                d.join("images.json").display()
            ));
            Ok(())
        }
        _ => Err(Fail::Silent(255)),
    }
}

/// The `ext::` URL that makes `git push` run `dokku git-receive-pack <app>` in this sandbox.
pub fn remote_url(paths: &Paths, app: &str) -> Res<String> {
    let exe = std::env::current_exe().map_err(io_err(Path::new("current_exe")))?;
    Ok(format!(
        "ext::env DOKKU_ROOT={} DOKKU_LIB_PATH={} {} %S {app}",
        paths.root.display(),
        paths.lib.display(),
        exe.display()
    ))
}

/// `sandbox:git-remote <app> [--repo DIR] [--name dokku]`: add (or update) the remote and allow
/// the `ext` transport in that repository.
fn git_remote(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &spec(&["--repo", "--name"], &[]))?;
    let app = p.arg(0);
    if app.is_empty() {
        return fail("Please specify an app");
    }
    let repo = PathBuf::from(p.get("--repo").unwrap_or("."));
    let name = p.get("--name").unwrap_or("dokku");
    let url = remote_url(&ctx.paths, &app)?;
    let git = |a: &[&str]| Command::new("git").arg("-C").arg(&repo).args(a).output();
    let _ = git(&["remote", "remove", name]);
    let o = git(&["remote", "add", name, &url]).map_err(io_err(&repo))?;
    if !o.status.success() {
        return fail(format!(
            "git remote add failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    git(&["config", "protocol.ext.allow", "always"]).map_err(io_err(&repo))?;
    ctx.info1(format!(
        "Remote `{name}` of {} now pushes to sandbox app {app}",
        repo.display()
    ));
    ctx.verbose(format!("git remote add {name} '{url}'"));
    ctx.verbose("git config protocol.ext.allow always");
    Ok(())
}
