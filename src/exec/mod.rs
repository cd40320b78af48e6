//! Stage 5: effects. The only place commands run (`runner`), the executor that applies a plan
//! in dependency order with a journal and rollback (`executor`, `journal`), the per-stack lock
//! (`lock`), saved build contexts (`archive`), and the release history with secrets sealed at
//! rest (`releases`, `secrets`).

pub mod apply;
pub(crate) mod archive;
mod effects;
mod error;
mod event;
pub(crate) mod executor;
mod files;
pub(crate) mod hooks;
pub(crate) mod host_wide;
pub(crate) mod journal;
pub(crate) mod known;
pub(crate) mod kube;
pub mod lock;
pub mod releases;
mod rollback;
pub(crate) mod runner;
pub mod secrets;

pub(crate) use error::{EffectError, ExecError, RunError};
pub(crate) use event::Event;
