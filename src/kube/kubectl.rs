//! kubectl, as Dokku's scheduler-k3s reaches the cluster: `$DOKKU_COMPOSE_KUBECTL` (the
//! sandbox's stand-in in tests) or `kubectl`, with `KUBECONFIG=/etc/rancher/k3s/k3s.yaml`.
//! Only `apply -f -` (a JSON `List` on stdin), `get <kind> -n <ns> [-l <sel>] -o json` and
//! `delete <kind> <name> -n <ns> --ignore-not-found` are used.

use serde_json::{json, Value};

use super::KubeError;

/// k3s's kubeconfig, as Dokku's scheduler-k3s uses it.
pub(crate) const KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";

/// The kubectl the plugin runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kubectl {
    /// The program.
    pub program: String,
}

impl Kubectl {
    /// `$DOKKU_COMPOSE_KUBECTL`, else `kubectl` on the `PATH`.
    pub(crate) fn from_env() -> Self {
        Kubectl {
            program: std::env::var("DOKKU_COMPOSE_KUBECTL")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "kubectl".into()),
        }
    }

    fn run(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Result<String, KubeError> {
        let mut c = duct::cmd(&self.program, args)
            .env("KUBECONFIG", KUBECONFIG)
            // Inside a push: git's hook variables are not kubectl's.
            .env_remove("GIT_DIR")
            .env_remove("GIT_QUARANTINE_PATH")
            .env_remove("GIT_OBJECT_DIRECTORY")
            .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        c = match stdin {
            Some(b) => c.stdin_bytes(b),
            None => c.stdin_null(),
        };
        let line = format!("{} {}", self.program, args.join(" "));
        let out = c
            .run()
            .map_err(|e| KubeError::Kubectl(format!("`{line}`: {e}")))?;
        if !out.status.success() {
            return Err(KubeError::Kubectl(format!(
                "`{line}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The objects of `kind` in `namespace` (matching `selector`, when given).
    pub(crate) fn get(
        &self,
        kind: &str,
        namespace: &str,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, KubeError> {
        let mut args = vec!["get", kind, "-n", namespace];
        if let Some(s) = selector {
            args.extend(["-l", s]);
        }
        args.extend(["-o", "json"]);
        let out = self.run(&args, None)?;
        let v: Value = serde_json::from_str(&out)
            .map_err(|e| KubeError::Kubectl(format!("`get {kind}` answered no JSON: {e}")))?;
        match v["items"].as_array() {
            Some(items) => Ok(items.clone()),
            None => Err(KubeError::Kubectl(format!(
                "`get {kind}` answered no object list"
            ))),
        }
    }

    /// Creates or updates `objects` (one `List`).
    pub(crate) fn apply(&self, objects: &[Value]) -> Result<(), KubeError> {
        if objects.is_empty() {
            return Ok(());
        }
        let list = json!({ "apiVersion": "v1", "kind": "List", "items": objects });
        let body = serde_json::to_vec(&list).map_err(|e| KubeError::Kubectl(e.to_string()))?;
        self.run(&["apply", "-f", "-"], Some(body)).map(|_| ())
    }

    /// Deletes one object (nothing when it is gone already).
    pub(crate) fn delete(&self, kind: &str, namespace: &str, name: &str) -> Result<(), KubeError> {
        self.run(
            &["delete", kind, name, "-n", namespace, "--ignore-not-found"],
            None,
        )
        .map(|_| ())
    }
}

/// `kubectl`'s resource name of a kind (`Service` -> `service`).
pub(crate) fn resource(kind: &str) -> String {
    kind.to_ascii_lowercase()
}
