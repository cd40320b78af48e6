//! app.json `formation` for k3s (issue 21): `x-dokku.services.<svc>.autoscaling` as Dokku's
//! app-json plugin reads it (`formation.<process>.autoscaling`, KEDA). The plan refuses it
//! for an app on docker-local, which has no autoscaler.

use serde::Serialize;

use crate::model::k3s::Autoscaling;
use crate::model::AppSpec;

/// `formation`: the one process type every app runs.
#[derive(Serialize)]
pub(super) struct Formation<'a> {
    web: Process<'a>,
}

#[derive(Serialize)]
struct Process<'a> {
    autoscaling: &'a Autoscaling,
}

/// The formation of `app`, when it autoscales.
pub(super) fn formation(app: &AppSpec) -> Option<Formation<'_>> {
    app.autoscaling.as_ref().map(|autoscaling| Formation {
        web: Process { autoscaling },
    })
}
