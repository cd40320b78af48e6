//! Stage 2: the Dokku domain model. Converts the typed compose project
//! ([`crate::compose::types::Project`], from the loader or decoded from compose JSON) into
//! typed services, apps and datastores, classifying every key as mapped, warned or rejected
//! (style R3, R5).
//!
//! Where a compose key becomes model fields: `project.rs` (top level, app names),
//! `toplevel.rs` (`networks`, `volumes`), `convert_service.rs` (`x-dokku`, the key table,
//! `depends_on`/`links`/`volumes_from`), `datastore.rs` (datastore services), `app.rs` (app
//! services; its header lists the file of each key), `derive.rs` (one-shot jobs,
//! `volumes_from` mounts), `rewrite.rs` (environment values pointing at datastores),
//! `xdokku.rs` (the `x-dokku` schema).

mod app;
mod container;
mod convert_service;
mod ctx;
mod datastore;
mod derive;
pub mod docker_opt;
mod env;
mod error;
mod files;
mod health;
pub(crate) mod k3s;
pub mod keys;
mod limits;
mod names;
mod networks;
mod ports;
mod project;
mod resources;
mod rewrite;
pub(crate) mod secret;
mod service;
mod source;
mod storage;
mod toplevel;
mod xdokku;
mod xdokku_paths;

#[cfg(test)]
mod app_tests;
#[cfg(test)]
mod project_tests;

pub(crate) use error::{ModelError, Warning};
pub(crate) use files::upper_snake;
pub(crate) use limits::{LimitError, Limits};
pub use names::{
    is_valid_app_name, is_valid_config_key, AppName, DatastoreName, NameError, NetworkName,
    ServiceName, StackName, StorageName, MAX_APP_NAME, MAX_STORAGE_NAME,
};
pub use project::{from_compose, from_compose_json, ConvertOptions, Project};
pub(crate) use rewrite::datastore_host;
pub(crate) use secret::env_is_secret;
pub(crate) use service::{
    AppSpec, DatastoreSpec, FileSource, Kind, Mount, PolicyRule, Resources, SecretDelivery,
    Service, Source,
};
pub(crate) use xdokku::{Backup, ExpectedState, PathTarget};
