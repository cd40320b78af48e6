//! `configs` (copied into the generated build context) and `secrets` (files under
//! `/run/secrets`, or environment variables with `x-dokku.secrets: env`).

use std::collections::BTreeMap;

use super::ctx::Ctx;
use super::error::ModelError;
use super::service::{FileSource, SecretDelivery, SecretUse};
use super::xdokku::ServiceSettings;
use crate::compose::types;

/// `configs`: `file` and `content` configs become files of the image.
pub(super) fn configs(
    ctx: &mut Ctx<'_>,
    raw: &types::Service,
    base: &str,
    is_build: bool,
    files: &mut BTreeMap<String, FileSource>,
) {
    for (i, c) in raw.configs.iter().enumerate() {
        let path = || format!("{base}.configs[{i}]");
        let src = c.source.as_str();
        let target = c.target.clone().unwrap_or_else(|| format!("/{src}"));
        if is_build {
            ctx.warn(
                path(),
                "configs of build services are not copied; add the file to the build context",
            );
            continue;
        }
        let def = ctx.configs.get(src);
        if let Some(file) = def.and_then(|d| d.file.as_deref()) {
            let path = ctx.relative(file);
            files.insert(target, FileSource::Source { path });
        } else if let Some(content) = def.and_then(|d| d.content.clone()) {
            files.insert(target, FileSource::Content { content });
        } else {
            ctx.warn(
                path(),
                "only `file` and `content` configs can be copied into the image; not applied",
            );
        }
    }
}

/// `secrets`: each needs a value on Dokku (`file` or `environment`).
pub(super) fn secrets(
    ctx: &Ctx<'_>,
    raw: &types::Service,
    base: &str,
    settings: &ServiceSettings,
) -> Result<Vec<SecretUse>, ModelError> {
    let mut secrets = Vec::new();
    for (i, c) in raw.secrets.iter().enumerate() {
        let src = c.source.as_str();
        let def = ctx.secrets.get(src);
        if def.is_none_or(|d| d.file.is_none() && d.environment.is_none()) {
            return Err(ModelError::Extension {
                path: format!("{base}.secrets[{i}]"),
                message: format!(
                    "secret `{src}` needs `file` or `environment` to have a value on Dokku"
                ),
            });
        }
        let delivery = if settings.secrets_as_env {
            SecretDelivery::Env(env_name(src))
        } else {
            let target = c.target.as_deref().unwrap_or(src);
            SecretDelivery::File(if target.starts_with('/') {
                target.to_owned()
            } else {
                format!("/run/secrets/{target}")
            })
        };
        secrets.push(SecretUse {
            name: src.to_owned(),
            delivery,
        });
    }
    Ok(secrets)
}

/// `s` upper-cased, with `_` for every character that is not an ASCII letter or digit.
pub(crate) fn upper_snake(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The environment variable a secret is delivered in: upper case, `_` for other characters,
/// never starting with a digit.
fn env_name(src: &str) -> String {
    let var = upper_snake(src);
    if var.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{var}")
    } else {
        var
    }
}
