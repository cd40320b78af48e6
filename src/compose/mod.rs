//! Stage 1: read compose files exactly as Docker Compose v2 (`docker compose config`) does.
//!
//! Files are parsed into a [`tree::Node`] tree (`yaml`), interpolated against the project
//! environment (`environment`, `interpolate`, `dotenv`), validated (`validate`), extended and
//! included (`loader`), rewritten to the reference's long syntax (`normalize`, `syntax`),
//! merged (`merge`) and completed with defaults and consistency checks (`finalize`).
//! [`load`] runs the whole pipeline; [`output`] prints the result.

pub mod dotenv;
pub mod environment;
pub(crate) mod error;
mod finalize;
pub mod interpolate;
mod loader;
mod merge;
mod normalize;
pub(crate) mod options;
pub mod output;
pub(crate) mod syntax;
pub(crate) mod tree;
pub mod types;
mod validate;
pub(crate) mod warning;
pub mod yaml;

pub use error::ComposeError;
pub use loader::{load, load_typed, normalize_project_name, DEFAULT_FILES};
pub use options::{LoadOptions, Loaded};
pub use tree::Node;
