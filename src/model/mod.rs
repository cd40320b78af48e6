//! Stage 2: the Dokku domain model. Converts the normalised compose project (the JSON
//! `docker compose config --format json` prints) into typed services, apps and datastores,
//! classifying every key as mapped, warned or rejected (style R3, R5).

mod convert_app;
pub mod docker_opt;
mod error;
pub mod k3s;
pub mod keys;
mod limits;
mod names;
mod project;
mod rewrite;
pub mod secret;
mod service;
mod xdokku;

pub use error::{ModelError, Warning};
pub use limits::{Excess, LimitError, Limits};
pub use names::{
    is_valid_app_name, is_valid_config_key, AppName, DatastoreName, NetworkName, ServiceName,
    StackName, StorageName, MAX_APP_NAME, MAX_STORAGE_NAME,
};
pub use project::{
    duration_secs, from_compose_json, relative_path, split_shell_words, ConvertOptions, Project,
};
pub use rewrite::{datastore_host, datastore_user};
pub use secret::env_is_secret;
pub use service::{
    AppSpec, Build, DatastoreSpec, Dependency, DockerOption, EnvVar, FileSource, Healthcheck, Kind,
    Link, Mount, PolicyRule, Port, Resources, SecretDelivery, SecretUse, Service, Source,
};
pub use xdokku::{Backup, ExpectedState, PathRoute, PathTarget, ServiceSettings, StackSettings};
