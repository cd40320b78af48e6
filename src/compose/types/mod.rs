//! The typed compose project: the loader's normalised tree decoded into serde types in the
//! reference's long syntax, for the planner. Keys this model does not name are kept in
//! `other` maps, so a project serialises back to exactly what `config --format json` prints
//! (with `$` unescaped).

mod decode;
mod project;
mod resource;
mod runtime;
mod service;

pub use decode::DecodeError;
pub use project::Project;
pub use resource::{Config, Network, Secret, Volume};
pub use runtime::{
    set, Deploy, DeployResources, Device, DeviceLong, ExtraHosts, HostAddresses, LogOptions,
    Logging, Opt, ResourceSet, RestartPolicy, Scalar, StringOrList, Sysctls, Ulimit, UlimitPair,
};
pub use service::{Build, Dependency, FileRef, Healthcheck, Mount, Port, Service, ServiceNetwork};
