//! Errors of the pipeline from compose JSON to plan.

use crate::graph::GraphError;
use crate::model::{LimitError, ModelError, ServiceName};
use crate::policy::PolicyError;

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The compose project cannot be mapped.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The services cannot be ordered.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The security policy refuses settings.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Replicas, ports or services over the stack's limits.
    #[error(transparent)]
    Limits(#[from] LimitError),
    /// The stack would change what it does not own.
    #[error(transparent)]
    Ownership(#[from] super::OwnershipError),
    /// A one-shot service has nothing to run.
    #[error("service `{service}` is a one-shot job (`services.{service}.x-dokku.state`) but has no `command` to run (the image's entrypoint runs it)")]
    OneShotWithoutCommand {
        /// The service.
        service: ServiceName,
    },
    /// A secret a service uses has no value.
    #[error("service `{service}` uses secret `{secret}`, which has no value: its file is missing, its environment variable is unset, or `services.{service}.secrets` does not list it (compose drops secrets no service lists)")]
    MissingSecret {
        /// The service.
        service: ServiceName,
        /// The secret.
        secret: String,
    },
    /// The compose file declares a datastore password other than the one the existing
    /// datastore has; no datastore plugin can change it, and apps must only get the real one.
    #[error("`services.{service}.environment.{key}`: the {plugin} service `{datastore}` has another password, and the {plugin} plugin has no command to change it; apps would get a password the datastore refuses. Put back the value it was created with (`dokku {plugin}:info {datastore} --dsn` shows it); to move to a new password, recreate the service with its data: `dokku {plugin}:export {datastore} > {datastore}.dump`, unlink its apps and `dokku {plugin}:destroy {datastore}`, push again, then `dokku {plugin}:import {datastore} < {datastore}.dump`")]
    DatastorePassword {
        /// The datastore's compose service.
        service: ServiceName,
        /// The environment key that declares the password.
        key: String,
        /// The plugin.
        plugin: String,
        /// The Dokku service.
        datastore: String,
    },
    /// Two consumers of a service on several networks share none of its networks: Dokku
    /// gives a service its names on one network only (issue 15 item 6).
    #[error("services `{first}` and `{second}` both use `{service}` (`depends_on`/`links`), but no network of `{service}` is shared by both: Dokku gives `{service}` its compose name and aliases (`--network-alias`) only on the network its container is created on (`network:set initial-network`), so one of them could not resolve `{service}`; put both on one network of `{service}` (`services.{service}.networks`)")]
    Unreachable {
        /// The service on several networks.
        service: ServiceName,
        /// One consumer.
        first: ServiceName,
        /// Another consumer sharing no network of `service` with `first`.
        second: ServiceName,
    },
    /// Let's Encrypt was asked for, and a prerequisite is missing.
    #[error("service `{service}` asks for Let's Encrypt, which needs {missing}")]
    Letsencrypt {
        /// The service.
        service: ServiceName,
        /// What is missing.
        missing: String,
    },
    /// A backup setting needs a command the datastore's plugin does not implement.
    #[error("`x-dokku.services.{service}.{key}`: the {plugin} plugin does not implement `dokku {plugin}:{command}` (it fails with \"Not yet implemented\"); the {supported} plugins do")]
    Backups {
        /// The datastore's compose service.
        service: ServiceName,
        /// The setting under `x-dokku.services.<service>` (`backup`,
        /// `backup.encryption_passphrase`).
        key: &'static str,
        /// The plugin.
        plugin: String,
        /// The command it lacks (`backup-auth`).
        command: &'static str,
        /// The plugins that implement it, comma-separated.
        supported: String,
    },
}
