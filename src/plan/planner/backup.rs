//! `x-dokku.services.<datastore>.backup` -> the datastore plugin's `backup-auth`,
//! `backup-schedule` and `backup-set-encryption`.

use super::secrets::secret_or_mask;
use super::{PlanError, PlanSettings, Steps};
use crate::dokku;
use crate::model::{Backup, DatastoreSpec, ServiceName};
use crate::plan::step::{Action, Undo};

/// The backup steps of datastore `ds`. Datastore plugins cannot report these settings, so
/// they run when the settings changed since the last apply (`backups_changed`, from the
/// caller's record), and each replaces what was set before.
pub(crate) fn steps(
    service: &ServiceName,
    ds: &DatastoreSpec,
    b: &Backup,
    settings: &PlanSettings,
    out: &mut Steps<'_>,
) -> Result<(), PlanError> {
    if settings
        .backups_changed
        .as_ref()
        .is_some_and(|c| !c.contains(ds.name.as_str()))
    {
        return Ok(());
    }
    let svc = ds.name.as_str();
    let kept = || Undo::Irreversible {
        reason: "backups are reconfigured, never removed, by an apply".to_owned(),
    };
    let backup = || Action::Backup {
        datastore: svc.to_owned(),
    };
    // Positional and optional: region, signature version, endpoint; gaps before a given one
    // are empty arguments.
    let extras = [&b.region, &b.signature_version, &b.endpoint_url];
    let given: Vec<&str> = match extras.iter().rposition(|e| e.is_some()) {
        Some(last) => extras[..=last]
            .iter()
            .map(|e| e.as_deref().unwrap_or_default())
            .collect(),
        None => Vec::new(),
    };
    let auth = dokku::backup_auth(
        ds.plugin,
        svc,
        secret_or_mask(settings, service, &b.access_key_id)?,
        secret_or_mask(settings, service, &b.secret_access_key)?,
        &given,
    );
    out.push(
        "backup/auth",
        backup(),
        auth,
        "backup credentials changed or were never set".into(),
        kept(),
    );
    out.push(
        "backup/schedule",
        backup(),
        dokku::backup_schedule(ds.plugin, svc, &b.schedule, &b.bucket),
        format!(
            "backups of `{svc}` run `{}` into `{}`",
            b.schedule, b.bucket
        ),
        kept(),
    );
    let (enc, reason) = match &b.encryption_passphrase {
        Some(secret) => (
            dokku::backup_set_encryption(
                ds.plugin,
                svc,
                secret_or_mask(settings, service, secret)?,
            ),
            "backups are encrypted with the passphrase secret",
        ),
        None => (
            dokku::backup_unset_encryption(ds.plugin, svc),
            "no `encryption_passphrase`: backups are not encrypted",
        ),
    };
    out.push("backup/encryption", backup(), enc, reason.into(), kept());
    Ok(())
}
