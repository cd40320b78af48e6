//! One app service (not a datastore) -> [`AppSpec`]. Each concern is its own file; this one
//! puts them together in the order their docker options are emitted:
//!
//! | compose keys | file |
//! |---|---|
//! | `image`, `build`, `command`, `entrypoint`, `user`, `working_dir` | `source.rs` |
//! | `healthcheck` | `health.rs` |
//! | `environment` | `env.rs` |
//! | `ports`, `x-dokku.proxy_port` | `ports.rs` |
//! | `networks` (aliases) | `networks.rs` |
//! | `volumes`, `use_api_socket` | `storage.rs` |
//! | `configs`, `secrets` | `files.rs` |
//! | `scale`, `deploy`, `cpus`, `mem_*`, `restart`, `stop_grace_period`, `logging` | `resources.rs` |
//! | container shaping (`cap_add`, `ulimits`, `sysctls`, namespaces, `dns`…) | `container.rs` |

use std::collections::BTreeMap;

use super::container::Opts;
use super::ctx::Ctx;
use super::error::ModelError;
use super::names::{AppName, ServiceName};
use super::service::{AppSpec, Source};
use super::xdokku::ServiceSettings;
use crate::compose::types;

pub(super) fn convert_app(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    app: AppName,
    raw: &types::Service,
    settings: &ServiceSettings,
) -> Result<AppSpec, ModelError> {
    let base = format!("services.{name}");
    let mut opts = Opts::new(&base);
    let start = super::source::start(ctx, raw, &mut opts)?;
    let is_build = matches!(start.source, Source::Build(_));
    let healthcheck = super::health::healthcheck(ctx, raw, &base);
    let env = super::env::app_env(raw, &base, settings, &mut ctx.warnings)?;
    let (ports, published) = super::ports::ports(ctx, raw, settings, &mut opts)?;
    let (networks, aliases) = super::networks::service_networks(ctx, name, raw, &base);
    let mut storage = super::storage::storage(ctx, name, raw, is_build, &mut opts)?;
    super::files::configs(ctx, raw, &base, is_build, &mut storage.files);
    let secrets = super::files::secrets(ctx, raw, &base, settings)?;
    if settings.backup.is_some() {
        return Err(ModelError::Extension {
            path: format!("x-dokku.services.{name}.backup"),
            message: "backups are for datastore services".into(),
        });
    }
    let process = super::resources::process(ctx, raw, settings, &mut opts)?;
    super::container::container_options(ctx, raw, &mut opts)?;
    super::source::build_options(&start.source, &mut opts)?;
    super::networks::check_aliases(&aliases, name, &base)?;
    Ok(AppSpec {
        secrets,
        app,
        source: start.source,
        command: start.command,
        entrypoint: start.entrypoint,
        working_dir: start.working_dir,
        user: start.user,
        healthcheck,
        env,
        links: BTreeMap::new(),
        ports,
        published,
        networks,
        aliases,
        mounts: storage.mounts,
        files: storage.files,
        replicas: process.replicas,
        replicas_path: process.replicas_path,
        limits: process.limits,
        reservations: process.reservations,
        restart_policy: process.restart_policy,
        stop_timeout: process.stop_timeout,
        log_max_size: process.log_max_size,
        docker_options: opts.list,
        autoscaling: settings.k3s.autoscaling.clone(),
    })
}
