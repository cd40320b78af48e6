//! What the API server refuses, as the stand-in checks it: every object against the Kubernetes
//! API's JSON schema in strict mode (unknown fields, wrong types), with PyPI's
//! `kubernetes-validate` at the pinned version (`KUBE_VALIDATE_BIN`, installed by
//! scripts/setup-kube-validate), plus the checks the schema cannot express. Without the tool
//! nothing is applied: a missing validator is a loud failure, never a skipped check.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The Kubernetes version objects are validated against (the plugin's `k8s-openapi` feature).
pub const KUBERNETES_VERSION: &str = "1.33.0";

/// Validates `objects` with the schema tool; the error is its report.
pub fn schema(objects: &[Value]) -> Result<(), String> {
    let bin = std::env::var("KUBE_VALIDATE_BIN")
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            "KUBE_VALIDATE_BIN is not set: the sandbox's kubectl validates every object against the Kubernetes API schema (install it with scripts/setup-kube-validate)".to_owned()
        })?;
    let mut docs = String::new();
    for o in objects {
        docs.push_str("---\n");
        docs.push_str(&serde_json::to_string(o).map_err(|e| e.to_string())?);
        docs.push('\n');
    }
    let mut child = Command::new(&bin)
        .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the schema validator `{bin}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(docs.as_bytes())
            .map_err(|e| format!("`{bin}`: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{bin}`: {e}"))?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The tool only warns about kinds it has no schema for: the stand-in refuses those before.
    if out.status.success() && !report.contains("ERROR") {
        Ok(())
    } else {
        Err(format!("the object is invalid: {}", report.trim()))
    }
}

/// An RFC 1035 label (Service names).
pub fn dns1035(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// An RFC 1123 subdomain (most object names).
pub fn dns1123_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// The API server's own checks the schema does not carry (names, port names), as its
/// messages say them.
pub fn semantics(o: &Value) -> Result<(), String> {
    let kind = o["kind"].as_str().unwrap_or("");
    let name = o["metadata"]["name"].as_str().unwrap_or("");
    let invalid = |what: String| format!("The {kind} \"{name}\" is invalid: {what}");
    let ok_name = if kind == "Service" {
        dns1035(name)
    } else {
        dns1123_subdomain(name)
    };
    if !ok_name {
        return Err(invalid(format!("metadata.name: Invalid value: \"{name}\"")));
    }
    let ports = match kind {
        "Service" => o["spec"]["ports"].as_array(),
        "EndpointSlice" => o["ports"].as_array(),
        _ => None,
    };
    if let Some(ports) = ports {
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in ports.iter().enumerate() {
            let pname = p["name"].as_str().unwrap_or("");
            if ports.len() > 1 && pname.is_empty() {
                return Err(invalid(format!("spec.ports[{i}].name: Required value")));
            }
            if !seen.insert(pname.to_owned()) {
                return Err(invalid(format!(
                    "spec.ports[{i}].name: Duplicate value: \"{pname}\""
                )));
            }
        }
    }
    Ok(())
}
