//! A datastore service (`postgres:16` and the other official plugins' images): created when
//! missing, upgraded when its image tag changed, refused when the compose file declares
//! another password than the one it has.

use super::secrets::{datastore_password, url_password};
use super::{irreversible, undo, PlanError, PlanSettings, Steps};
use crate::dokku::{self, catalog};
use crate::model::{DatastoreSpec, ServiceName};
use crate::plan::step::Action;
use crate::state::{DatastoreInfo, DokkuState};

/// The steps of datastore `ds` of compose service `service`.
pub(crate) fn steps(
    state: &DokkuState,
    service: &ServiceName,
    ds: &DatastoreSpec,
    settings: &PlanSettings,
    out: &mut Steps<'_>,
) -> Result<(), PlanError> {
    let exists = state
        .datastores
        .get(ds.plugin)
        .is_some_and(|m| m.contains_key(ds.name.as_str()));
    let password = datastore_password(settings, service, &ds.password, &ds.password_secret)?;
    let root_password = datastore_password(
        settings,
        service,
        &ds.root_password,
        &ds.root_password_secret,
    )?;
    if !exists {
        create(ds, password, root_password, out);
        return Ok(());
    }
    let Some(info) = state
        .datastore_info
        .get(&crate::state::datastore_key(ds.plugin, ds.name.as_str()))
    else {
        return Ok(());
    };
    check_password(service, ds, password.as_deref(), info)?;
    upgrade(ds, info, out);
    Ok(())
}

/// Apps only ever get the password the datastore has: no plugin can change it, so another
/// declared password is refused.
fn check_password(
    service: &ServiceName,
    ds: &DatastoreSpec,
    password: Option<&str>,
    info: &DatastoreInfo,
) -> Result<(), PlanError> {
    let (Some(want), Some(have)) = (password, url_password(&info.dsn)) else {
        return Ok(());
    };
    if want == have {
        return Ok(());
    }
    let key = catalog::by_plugin(ds.plugin)
        .and_then(|d| d.password_keys.first())
        .copied()
        .unwrap_or("PASSWORD");
    let key = if ds.password.is_none() && ds.password_secret.is_some() {
        format!("{key}_FILE")
    } else {
        key.to_owned()
    };
    Err(PlanError::DatastorePassword {
        service: service.clone(),
        key,
        plugin: ds.plugin.to_owned(),
        datastore: ds.name.to_string(),
    })
}

/// A new image tag: `<plugin>:upgrade` (the plugin recreates the container on it).
fn upgrade(ds: &DatastoreSpec, info: &DatastoreInfo, out: &mut Steps<'_>) {
    let Some(v) = &ds.version else { return };
    let image = ds.image.clone().unwrap_or_else(|| {
        catalog::by_plugin(ds.plugin)
            .map_or(ds.plugin, |d| d.image)
            .to_owned()
    });
    let want = format!("{image}:{v}");
    if info.version == want {
        return;
    }
    let name = ds.name.as_str();
    let back = match info.version.rsplit_once(':') {
        Some((i, t)) => undo(vec![dokku::datastore_upgrade(ds.plugin, name, i, t)]),
        None => irreversible("the image the datastore ran is unknown"),
    };
    out.push(
        "upgrade",
        Action::UpgradeDatastore {
            plugin: ds.plugin.to_owned(),
            name: ds.name.to_string(),
            image: want.clone(),
        },
        dokku::datastore_upgrade(ds.plugin, name, &image, v),
        format!(
            "{} service `{}` runs `{}`, want `{want}`",
            ds.plugin, ds.name, info.version
        ),
        back,
    );
}

/// `<plugin>:create`: image, version, passwords (in the environment, never in argv; masked
/// when the secret holding one is unknown here, off-server), config options, custom
/// environment and initial network.
fn create(
    ds: &DatastoreSpec,
    password: Option<String>,
    root_password: Option<String>,
    out: &mut Steps<'_>,
) {
    let unknown =
        |secret: &Option<String>| secret.as_ref().map(|_| crate::dokku::cmd::MASK.to_owned());
    let custom_env = (!ds.custom_env.is_empty()).then(|| {
        ds.custom_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    });
    let cmd = dokku::datastore_create(
        ds.plugin,
        ds.name.as_str(),
        dokku::DatastoreCreate {
            image: ds.image.clone(),
            version: ds.version.clone(),
            password: password.or_else(|| unknown(&ds.password_secret)),
            root_password: root_password.or_else(|| unknown(&ds.root_password_secret)),
            config_options: ds.config_options.clone(),
            custom_env,
            initial_network: ds.network.as_ref().map(ToString::to_string),
        },
    );
    let image = match (&ds.image, &ds.version) {
        (Some(i), Some(v)) => format!("{i}:{v}"),
        (Some(i), None) => i.clone(),
        (None, Some(v)) => format!(
            "{}:{v}",
            catalog::by_plugin(ds.plugin).map_or(ds.plugin, |d| d.image)
        ),
        (None, None) => "the plugin's default image".into(),
    };
    out.push(
        "create",
        Action::CreateDatastore {
            plugin: ds.plugin.to_owned(),
            name: ds.name.to_string(),
        },
        cmd,
        format!(
            "{} service `{}` does not exist ({image})",
            ds.plugin, ds.name
        ),
        irreversible("datastore data is never destroyed by an apply"),
    );
}
