//! The app itself and how its image is built: `apps:create`, the Dockerfile builder, and for
//! build services the Dockerfile path (`build.dockerfile`), the Procfile (`command`) and the
//! app.json (`healthcheck`) of the generated overlay.

use super::App;
use crate::dokku::{self, PropertyPlugin};
use crate::model::Source;
use crate::plan::overlay_dir;
use crate::plan::planner::properties;
use crate::plan::planner::{undo, Steps};
use crate::plan::step::Action;

/// `apps:create` when the app does not exist.
pub(crate) fn create(a: &App<'_>, out: &mut Steps<'_>) {
    if a.exists {
        return;
    }
    let name = a.name;
    out.push(
        "create",
        Action::CreateApp {
            app: name.to_owned(),
        },
        dokku::apps_create(name),
        format!("app `{name}` does not exist"),
        undo(vec![dokku::apps_destroy(name)]),
    );
}

/// `builder:set selected dockerfile`; for build services the overlay's paths.
pub(crate) fn steps(a: &App<'_>, out: &mut Steps<'_>) {
    let (name, cur) = (a.name, a.cur);
    properties::set(
        out,
        name,
        cur,
        PropertyPlugin::Builder,
        "selected",
        Some("dockerfile"),
    );
    let Source::Build(b) = &a.spec.source else {
        return;
    };
    if b.dockerfile != "Dockerfile" {
        properties::set(
            out,
            name,
            cur,
            PropertyPlugin::BuilderDockerfile,
            "dockerfile-path",
            Some(&b.dockerfile),
        );
    }
    if a.spec.command.is_some() {
        properties::set(
            out,
            name,
            cur,
            PropertyPlugin::Ps,
            "procfile-path",
            Some(&format!("{}/Procfile", overlay_dir(&a.svc.name))),
        );
    }
    if a.spec.healthcheck.is_some() || a.spec.autoscaling.is_some() {
        properties::set(
            out,
            name,
            cur,
            PropertyPlugin::AppJson,
            "appjson-path",
            Some(&format!("{}/app.json", overlay_dir(&a.svc.name))),
        );
    }
}
