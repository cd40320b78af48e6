//! Stage 5: effects. The only place commands run (`runner`), the executor that applies a plan
//! in dependency order with a journal and rollback (`executor`, `journal`), the per-stack lock
//! (`lock`), saved build contexts (`archive`), and the release history with secrets sealed at
//! rest (`releases`, `secrets`).

pub mod apply;
pub mod archive;
mod effects;
mod error;
mod event;
pub mod executor;
mod files;
pub mod hooks;
pub mod host_wide;
pub mod journal;
pub mod known;
pub mod kube;
pub mod lock;
pub mod releases;
mod rollback;
pub mod runner;
pub mod secrets;

pub use error::{EffectError, ExecError, RunError, UndoFailure};
pub use event::Event;
