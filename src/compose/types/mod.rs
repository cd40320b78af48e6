//! The typed compose project: the loader's normalised tree decoded into serde types in the
//! reference's long syntax, for the planner. Keys this model does not name are kept in
//! `other` maps, so a project serialises back to exactly what `config --format json` prints
//! (with `$` unescaped).

mod decode;
mod project;
mod resource;
mod runtime;
mod service;

pub(crate) use decode::DecodeError;
pub use project::Project;
pub(crate) use resource::{Config, Network, Secret, Volume};
pub(crate) use runtime::{
    set, Deploy, DeployResources, Device, ExtraHosts, HostAddresses, LogOptions, Logging, Opt,
    RestartPolicy, Scalar, StringOrList, Sysctls, Ulimit,
};
pub(crate) use service::{Build, FileRef, Mount, Port, Service, ServiceNetwork};
