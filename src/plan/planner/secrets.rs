//! Values the planner needs from outside the compose file: compose secrets and datastore
//! passwords.

use super::{PlanError, PlanSettings};
use crate::model::ServiceName;

/// The password in a URL's user part (`postgres://u:pw@h/x` -> `pw`).
pub(crate) fn url_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority
        .rsplit_once('@')?
        .0
        .split_once(':')
        .map(|(_, p)| p)
}

/// The value of compose secret `name` used by `service`. `None` when planning without the
/// secrets' values (off the server: `dokku-compose plan` reads no secret; shown masked); in an
/// apply or a server plan (`secrets_dir` set) a secret without a value is refused, even when
/// no secret has one (a missing file used to be planned as the mask itself).
pub(crate) fn secret_value(
    settings: &PlanSettings,
    service: &ServiceName,
    name: &str,
) -> Result<Option<String>, PlanError> {
    match settings.secrets.0.get(name) {
        Some(v) => Ok(Some(v.clone())),
        None if settings.secrets.0.is_empty() && settings.secrets_dir.is_none() => Ok(None),
        None => Err(PlanError::MissingSecret {
            service: service.clone(),
            secret: name.to_owned(),
        }),
    }
}

/// A datastore password: declared (`POSTGRES_PASSWORD`) or the value of the compose secret
/// `POSTGRES_PASSWORD_FILE` names. `Ok(None)` also when that value is unknown (off-server).
pub(crate) fn datastore_password(
    settings: &PlanSettings,
    service: &ServiceName,
    declared: &Option<String>,
    secret: &Option<String>,
) -> Result<Option<String>, PlanError> {
    match (declared, secret) {
        (Some(p), _) => Ok(Some(p.clone())),
        (None, Some(s)) => secret_value(settings, service, s),
        (None, None) => Ok(None),
    }
}

/// The value of secret `name` used by `service`, the mask when it is unknown (off-server).
pub(crate) fn secret_or_mask(
    settings: &PlanSettings,
    service: &ServiceName,
    name: &str,
) -> Result<String, PlanError> {
    Ok(
        secret_value(settings, service, name)?
            .unwrap_or_else(|| crate::dokku::cmd::MASK.to_owned()),
    )
}
