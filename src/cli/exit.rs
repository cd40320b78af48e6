//! Exit codes, named as Dokku names them (dokku-facts.md §d "Exit codes").

/// Success.
pub(crate) const OK: u8 = 0;
/// Generic failure, including bad input.
pub(crate) const FAILURE: u8 = 1;
/// Usage error (clap), as Go's pflag `ExitOnError`.
pub(crate) const USAGE: u8 = 2;

/// Whether `err` was reported as it happened: a failed step, its rollback and the outcome
/// are printed by the apply's progress (`StepFailed`, `Undo…`, `Finished` events), so the
/// final error would only repeat Dokku's output.
pub(crate) fn reported_as_it_happened(err: &anyhow::Error) -> bool {
    use crate::exec::apply::ApplyError;
    use crate::exec::ExecError;
    matches!(
        err.downcast_ref::<ApplyError>(),
        Some(ApplyError::Exec(ExecError::StepFailed { .. }))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::apply::ApplyError;
    use crate::exec::{ExecError, RunError};

    #[test]
    fn a_failed_step_is_reported_as_it_happened_even_with_context() {
        let failed = ApplyError::Exec(ExecError::StepFailed {
            step: "web/deploy".into(),
            error: RunError::Status {
                argv: "dokku ps:rebuild shop-web".into(),
                status: 1,
                stderr: "boom".into(),
            },
            undo_failures: Vec::new(),
        });
        let err = anyhow::Error::from(failed).context("stack shop");
        assert!(reported_as_it_happened(&err));
        let refused = anyhow::Error::from(ApplyError::Io {
            path: "services.web.build.context".into(),
            message: "outside the pushed tree".into(),
        });
        assert!(!reported_as_it_happened(&refused));
    }
}
