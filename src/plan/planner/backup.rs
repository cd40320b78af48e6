//! `x-dokku.services.<datastore>.backup` -> the datastore plugin's `backup-auth`,
//! `backup-schedule` and `backup-set-encryption`.

use super::secrets::secret_or_mask;
use super::{PlanError, PlanSettings, Steps};
use crate::dokku;
use crate::dokku::catalog::{self, Backups};
use crate::model::{Backup, DatastoreSpec, ServiceName};
use crate::plan::step::{Action, Undo};

/// The backup steps of datastore `ds`; refused for a plugin without backup commands. Datastore plugins cannot report these settings, so
/// they run when the settings changed since the last apply (`backups_changed`, from the
/// caller's record), and each replaces what was set before.
pub(crate) fn steps(
    service: &ServiceName,
    ds: &DatastoreSpec,
    b: &Backup,
    settings: &PlanSettings,
    out: &mut Steps<'_>,
) -> Result<(), PlanError> {
    supported(service, ds, b)?;
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
        None if !encrypts(ds.plugin) => return Ok(()),
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

/// Whether the plugin implements the backup encryption commands.
fn encrypts(plugin: &str) -> bool {
    catalog::by_plugin(plugin).is_some_and(|d| d.backups == Backups::Encrypted)
}

/// Refuses backups on a plugin without backup commands, and an encryption passphrase on one
/// that cannot encrypt them.
fn supported(service: &ServiceName, ds: &DatastoreSpec, b: &Backup) -> Result<(), PlanError> {
    let backups = catalog::by_plugin(ds.plugin).map_or(Backups::None, |d| d.backups);
    let (key, command, wanted) = match backups {
        Backups::None => ("backup", "backup-auth", Backups::Unencrypted),
        Backups::Unencrypted if b.encryption_passphrase.is_some() => (
            "backup.encryption_passphrase",
            "backup-set-encryption",
            Backups::Encrypted,
        ),
        _ => return Ok(()),
    };
    let supported: Vec<&str> = catalog::DATASTORES
        .iter()
        .filter(|d| d.backups == wanted || d.backups == Backups::Encrypted)
        .map(|d| d.plugin)
        .collect();
    Err(PlanError::Backups {
        service: service.clone(),
        key,
        plugin: ds.plugin.to_owned(),
        command,
        supported: supported.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use crate::model::{from_compose_json, ConvertOptions, StackName};
    use crate::plan::{plan, PlanError, PlanSettings};
    use crate::state::DokkuState;

    fn planned(image: &str, encrypted: bool) -> Result<Vec<String>, PlanError> {
        let json = serde_json::json!({
            "services": {"db": {"image": image, "secrets": [{"source": "k"}, {"source": "s"}, {"source": "p"}]}},
            "secrets": {"k": {"environment": "K"}, "s": {"environment": "S"}, "p": {"environment": "P"}},
            "x-dokku": {"services": {"db": {"backup": {
                "schedule": "0 3 * * *", "bucket": "b",
                "access_key_id": {"secret": "k"}, "secret_access_key": {"secret": "s"}
            }}}}
        });
        let mut json = json;
        if encrypted {
            json["x-dokku"]["services"]["db"]["backup"]["encryption_passphrase"] =
                serde_json::json!({"secret": "p"});
        }
        let opts = ConvertOptions {
            stack: StackName::parse("shop").unwrap(),
            project_dir: "/p".into(),
        };
        let (project, warnings) = from_compose_json(&json, &opts).unwrap();
        let graph = crate::graph::build(&project).unwrap();
        let settings = PlanSettings::default();
        let p = plan(
            &project,
            &graph,
            &DokkuState::default(),
            &settings,
            warnings,
        )?;
        Ok(p.steps.iter().map(|s| s.run.to_string()).collect())
    }

    #[test]
    fn backups_need_the_commands_of_the_plugin() {
        let steps = planned("postgres:16", true).unwrap();
        for want in [
            "dokku postgres:backup-schedule shop-db '0 3 * * *' b",
            "dokku postgres:backup-set-encryption shop-db '********'",
        ] {
            assert!(steps.contains(&want.to_owned()), "{steps:?}");
        }
        let unset = "dokku postgres:backup-unset-encryption shop-db".to_owned();
        assert!(planned("postgres:16", false).unwrap().contains(&unset));
        let err = planned("elasticsearch:9.3.3", false)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "`x-dokku.services.db.backup`: the elasticsearch plugin does not implement `dokku elasticsearch:backup-auth` (it fails with \"Not yet implemented\"); the couchdb, mariadb, mongo, mysql, postgres, rabbitmq, redis plugins do");
        // rabbitmq backs up, unencrypted only: no encryption step, and a passphrase is refused.
        let steps = planned("rabbitmq:4", false).unwrap();
        assert!(
            steps.iter().any(|s| s.contains("rabbitmq:backup-schedule"))
                && !steps.iter().any(|s| s.contains("encryption")),
            "{steps:?}"
        );
        let err = planned("rabbitmq:4", true).unwrap_err().to_string();
        assert_eq!(err, "`x-dokku.services.db.backup.encryption_passphrase`: the rabbitmq plugin does not implement `dokku rabbitmq:backup-set-encryption` (it fails with \"Not yet implemented\"); the couchdb, mariadb, mongo, mysql, postgres, redis plugins do");
    }
}
