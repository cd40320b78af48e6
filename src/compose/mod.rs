//! Stage 1: read compose files exactly as Docker Compose v2 (`docker compose config`) does.
//!
//! Files are parsed into a [`tree::Node`] tree (`yaml`), interpolated against the project
//! environment (`environment`, `interpolate`, `dotenv`), merged, extended, included and
//! normalised into the reference's long syntax, validated, and finally decoded into the typed
//! compose project that `dokku-compose config` prints and the planner reads.

pub mod dotenv;
pub mod environment;
pub mod error;
pub mod interpolate;
pub mod tree;
pub mod warning;
pub mod yaml;

pub use error::ComposeError;
pub use tree::Node;
pub use warning::Warning;
