//! Errors of the compose loader. Each carries its structured data (the file, the key path,
//! the service, a typed reason); the message, which mirrors Docker Compose's wording where
//! the reference has one, is made from those fields by `Display`.

use std::path::{Path, PathBuf};

use super::dotenv::DotenvError;
use super::interpolate::InterpolationError;
use super::syntax::SyntaxError;
use super::types::DecodeError;
use super::yaml::YamlError;
use crate::confine::PathError;

/// Why a compose project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A file could not be read.
    #[error("failed to read `{}`: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error, shown in the message (so not also a `source()`: a chain prints it
        /// once).
        error: std::io::Error,
    },
    /// The YAML front end rejected a file.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// Interpolation failed.
    #[error(transparent)]
    Interpolation(#[from] InterpolationError),
    /// An env file could not be parsed.
    #[error(transparent)]
    Dotenv(#[from] DotenvError),
    /// A short-syntax string (port, volume, size, command, duration) does not parse.
    #[error("{}{path}: {reason}", in_file(file.as_deref()))]
    Syntax {
        /// The file, once the loader knows it.
        file: Option<PathBuf>,
        /// The key path (`services.web.ports[0]`).
        path: String,
        /// What is wrong with the string.
        reason: SyntaxError,
    },
    /// A value at a key path is wrong (`FILE: services.web.dns[0] must be a string`).
    #[error("{}{path}{problem}", in_file(file.as_deref()))]
    Key {
        /// The file, once the loader knows it (normalisation errors; the completed project
        /// merged from several files has none).
        file: Option<PathBuf>,
        /// The key path (`services.web.ports[0]`).
        path: String,
        /// What is wrong with the value.
        problem: KeyProblem,
    },
    /// A document breaks the compose schema
    /// (`validating FILE: services.web additional properties 'foo' not allowed`).
    #[error("validating {}: {path}{problem}", file.display())]
    Schema {
        /// The file.
        file: PathBuf,
        /// The key path (`services.web.volumes.0`; `(root)` for the document).
        path: String,
        /// What is wrong.
        problem: KeyProblem,
    },
    /// A document's top-level value is not a mapping.
    #[error("validating {}: top-level object must be a mapping, not {found}", file.display())]
    NotMapping {
        /// The file.
        file: PathBuf,
        /// What it is instead ([`super::Node::kind`]).
        found: &'static str,
    },
    /// A compose file holds no document.
    #[error("empty compose file: `{}`", file.display())]
    Empty {
        /// The file.
        file: PathBuf,
    },
    /// A file the project names is refused by the confinement to the pushed tree (issue #13):
    /// it leaves the tree, is not a regular file, is too large.
    #[error("`{path}`: {error}")]
    Confined {
        /// The file as named.
        file: PathBuf,
        /// What names it: a key path (`include[0]`, `services.web.env_file[1]`) or `.env`.
        path: String,
        /// Why it is refused.
        error: PathError,
    },
    /// A service refers to a service, network, volume, secret or config that is not
    /// declared (or is disabled by profiles).
    #[error("service {service:?} {}: invalid compose project", undefined(*kind, name))]
    Undefined {
        /// The referring service.
        service: String,
        /// What kind of thing it names.
        kind: RefKind,
        /// The undeclared name.
        name: String,
    },
    /// A service sets two keys that exclude each other.
    #[error("service {service} declares mutually exclusive `{first}` and `{second}`: invalid compose project")]
    Exclusive {
        /// The service.
        service: String,
        /// The first key.
        first: &'static str,
        /// The second key.
        second: &'static str,
    },
    /// A service has neither `image` nor `build` (nor `provider`).
    #[error("service {service:?} has neither an image nor a build context specified: invalid compose project")]
    NoImage {
        /// The service.
        service: String,
    },
    /// `depends_on` forms a cycle.
    #[error("dependency cycle detected: {}", chain.join(" -> "))]
    Cycle {
        /// The services around the cycle, the first repeated at the end.
        chain: Vec<String>,
    },
    /// A service's `extends` cannot be resolved.
    #[error("{}", extends_message(file, service, problem))]
    Extends {
        /// The file the service is defined in.
        file: PathBuf,
        /// The service (for [`ExtendsProblem::NotFound`], the one that was looked for).
        service: String,
        /// What is wrong.
        problem: ExtendsProblem,
    },
    /// An `include` entry cannot be loaded.
    #[error("{}", include_message(file, *index, problem))]
    Include {
        /// The including file.
        file: PathBuf,
        /// The entry's index (`include[index]`).
        index: usize,
        /// What is wrong.
        problem: IncludeProblem,
    },
    /// An included file defines a service the including project defines differently.
    #[error("services.{service} conflicts with imported resource (included from {})", included.display())]
    Conflict {
        /// The service.
        service: String,
        /// The (first) included file.
        included: PathBuf,
    },
    /// A service's `env_file` or `label_file` cannot be read.
    #[error("{kind} file {} not found: {}", file.display(), file_problem(file, problem))]
    ServiceFile {
        /// The key path (`services.web.env_file[0]`).
        path: String,
        /// Env file or label file.
        kind: FileKind,
        /// The file.
        file: PathBuf,
        /// What is wrong.
        problem: FileProblem,
    },
    /// The project's env file (`.env` or `--env-file`) cannot be read.
    #[error("{}", env_file_message(file, problem))]
    EnvFile {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        problem: EnvFileProblem,
    },
    /// A boolean environment variable of the loader is not a boolean (Go's `strconv.ParseBool`).
    #[error(
        "strconv.ParseBool: parsing {}: invalid syntax",
        super::yaml::go_quote(value)
    )]
    NotBool {
        /// The variable (`COMPOSE_DISABLE_ENV_FILE`).
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// No compose file to load.
    #[error("no configuration file provided: {reason}")]
    NoConfigFile {
        /// Why.
        reason: NoConfigFile,
    },
    /// An explicit project name (`-p`, `COMPOSE_PROJECT_NAME`) is not valid.
    #[error("invalid project name {name:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number")]
    ProjectName {
        /// The name.
        name: String,
    },
    /// The typed model was asked for without interpolation.
    #[error("the typed model needs interpolation: `no_interpolate` is set")]
    NeedsInterpolation,
    /// The loaded project does not fit the typed model.
    #[error("project `{project}` does not fit the typed model: {error}")]
    Decode {
        /// The project name.
        project: String,
        /// The key path and serde's reason.
        error: DecodeError,
    },
}

/// What is wrong with a value at a key path. Displayed after the path, with its separator
/// (` must be a string`, `: invalid number "x"`).
#[derive(Debug, thiserror::Error)]
pub enum KeyProblem {
    /// The value has the wrong type.
    #[error(" must be {expected}{}", found.map(|f| format!(", not {f}")).unwrap_or_default())]
    WrongType {
        /// What it must be.
        expected: Expected,
        /// What it is ([`super::Node::kind`]), when the message says it.
        found: Option<&'static str>,
    },
    /// A required key is missing (the path names the key).
    #[error(" is required")]
    Required,
    /// A required property is missing (the path names its parent).
    #[error(" missing property '{0}'")]
    MissingProperty(&'static str),
    /// A key the schema does not know.
    #[error(" additional properties '{0}' not allowed")]
    UnknownKey(String),
    /// A value outside the allowed list.
    #[error(" value must be one of {}", .0.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", "))]
    NotOneOf(&'static [&'static str]),
    /// A `pull_policy` the schema's pattern refuses.
    #[error(" '{0}' does not match pattern 'always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+'")]
    PullPolicy(String),
    /// A list entry without `=` where `key=value` is required.
    #[error(": invalid value {0}, expected key=value")]
    NotKeyValue(String),
    /// A string that is not an integer.
    #[error(": failed to cast to expected type: strconv.Atoi: parsing {0:?}: invalid syntax")]
    NotInteger(String),
    /// A string that is not a number.
    #[error(": invalid number {0:?}")]
    InvalidNumber(String),
    /// A string that is not a boolean.
    #[error(": failed to cast to expected type: invalid boolean: {0}")]
    NotBoolean(String),
    /// A file mode that is not octal.
    #[error(": invalid file mode {0:?}")]
    InvalidFileMode(String),
    /// A `devices` entry with more than three parts.
    #[error(": invalid device specification: {0}")]
    InvalidDevice(String),
    /// An `extra_hosts` entry without an address.
    #[error(": invalid additional host, missing IP address: {0}")]
    MissingHostIp(String),
    /// A bind mount without a source.
    #[error(": invalid mount config for type \"bind\": field Source must not be empty")]
    EmptyBindSource,
    /// Port ranges of one document expand to too many mappings.
    #[error(": port ranges expand to more than {limit} mappings")]
    TooManyPorts {
        /// The limit.
        limit: usize,
    },
    /// A service-level limit and its `deploy.resources` twin disagree.
    #[error(": can't set distinct values on '{key}' and 'deploy.resources.{section}.{field}': invalid compose project")]
    DistinctValues {
        /// The service-level key (`mem_limit`).
        key: &'static str,
        /// `limits` or `reservations`.
        section: &'static str,
        /// The field of the section (`memory`).
        field: &'static str,
    },
    /// An ansible-vault env file cannot be decrypted: the vault module's reason (no password
    /// set, a wrong password), which names the file.
    #[error(": {0}")]
    Vault(crate::vault::VaultFileError),
    /// A decrypted ansible-vault env file is not UTF-8.
    #[error(": the decrypted env file {} is not UTF-8", .0.display())]
    DecryptedNotUtf8(PathBuf),
}

impl KeyProblem {
    /// The value must be `expected`; it is `found`.
    pub(crate) fn wrong(expected: Expected, found: &'static str) -> Self {
        Self::WrongType {
            expected,
            found: Some(found),
        }
    }

    /// The value must be `expected` (the message does not say what it is).
    pub(crate) fn must_be(expected: Expected) -> Self {
        Self::WrongType {
            expected,
            found: None,
        }
    }
}

/// The type a value must have, as the messages word it (the schema says "array" where
/// normalisation says "list").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// `a string`
    String,
    /// `a number`
    Number,
    /// `a boolean`
    Boolean,
    /// `a mapping`
    Mapping,
    /// `an array`
    Array,
    /// `a string or an array`
    StringOrArray,
    /// `an array or a mapping`
    ArrayOrMapping,
    /// `a string or a mapping`
    StringOrMapping,
    /// `a list or a mapping`
    ListOrMapping,
    /// `a mapping or a list`
    MappingOrList,
    /// `a number, a string or a mapping`
    NumberStringOrMapping,
    /// `a number or string`
    NumberOrString,
    /// `a boolean, null, number or string`
    Scalar,
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::String => "a string",
            Self::Number => "a number",
            Self::Boolean => "a boolean",
            Self::Mapping => "a mapping",
            Self::Array => "an array",
            Self::StringOrArray => "a string or an array",
            Self::ArrayOrMapping => "an array or a mapping",
            Self::StringOrMapping => "a string or a mapping",
            Self::ListOrMapping => "a list or a mapping",
            Self::MappingOrList => "a mapping or a list",
            Self::NumberStringOrMapping => "a number, a string or a mapping",
            Self::NumberOrString => "a number or string",
            Self::Scalar => "a boolean, null, number or string",
        })
    }
}

/// What a service refers to by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `depends_on` (also implied by `links`, `volumes_from`, `network_mode: service:`).
    Service,
    /// `networks`
    Network,
    /// A `volumes` entry of type `volume`.
    Volume,
    /// `secrets`
    Secret,
    /// `configs`
    Config,
}

impl std::fmt::Display for RefKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Service => "service",
            Self::Network => "network",
            Self::Volume => "volume",
            Self::Secret => "secret",
            Self::Config => "config",
        })
    }
}

/// Why a service's `extends` cannot be resolved.
#[derive(Debug)]
pub enum ExtendsProblem {
    /// The chain is deeper than the limit.
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The chain comes back to a service on it.
    Cycle {
        /// The services along the chain, the repeated one last.
        chain: Vec<String>,
    },
    /// The extended service is not defined in the file.
    NotFound,
    /// The mapping form has no `service`.
    ServiceRequired,
    /// `extends` is neither a string nor a mapping.
    WrongType {
        /// What it is ([`super::Node::kind`]).
        found: &'static str,
    },
}

/// Why an `include` entry cannot be loaded.
#[derive(Debug)]
pub enum IncludeProblem {
    /// The entry is neither a string nor a mapping.
    WrongType {
        /// What it is ([`super::Node::kind`]).
        found: &'static str,
    },
    /// The mapping form has no `path`.
    PathRequired,
    /// `path` is an empty list.
    NoFile,
    /// Includes are nested deeper than the limit.
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The entry includes a file already being included.
    Cycle {
        /// The files along the chain, the repeated one last.
        chain: Vec<PathBuf>,
    },
}

/// Which of a service's file lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `env_file`
    Env,
    /// `label_file`
    Label,
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Env => "env",
            Self::Label => "label",
        })
    }
}

/// Why a service's env or label file cannot be read.
#[derive(Debug)]
pub enum FileProblem {
    /// It does not exist (and is required).
    Missing,
    /// Reading it failed.
    Unreadable(std::io::Error),
    /// It is not UTF-8.
    NotUtf8,
}

/// Why the project's env file cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvFileProblem {
    /// It is a directory.
    Directory,
    /// It does not exist.
    NotFound,
    /// It is not UTF-8 from this point.
    InvalidUtf8 {
        /// The line (from 1).
        line: usize,
        /// The byte offset of the first invalid byte.
        offset: usize,
    },
}

/// Why there is no compose file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoConfigFile {
    /// `COMPOSE_FILE` is set and lists no file.
    EmptyComposeFile,
    /// No default file in the working directory or above.
    NotFound,
}

impl std::fmt::Display for NoConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::EmptyComposeFile => "`COMPOSE_FILE` lists no file",
            Self::NotFound => "not found",
        })
    }
}

/// `FILE: ` before a key path, once the file is known.
fn in_file(file: Option<&Path>) -> String {
    file.map(|f| format!("{}: ", f.display()))
        .unwrap_or_default()
}

fn undefined(kind: RefKind, name: &str) -> String {
    match kind {
        RefKind::Service => format!("depends on undefined service {name:?}"),
        _ => format!("refers to undefined {kind} {name}"),
    }
}

fn extends_message(file: &Path, service: &str, problem: &ExtendsProblem) -> String {
    let file = file.display();
    match problem {
        ExtendsProblem::TooDeep { limit } => {
            format!("services.{service}.extends in {file}: chain deeper than {limit} services")
        }
        ExtendsProblem::Cycle { chain } => {
            format!("circular reference with extends: {}", chain.join(" -> "))
        }
        ExtendsProblem::NotFound => {
            format!("cannot extend service `{service}` in {file}: service not found")
        }
        ExtendsProblem::ServiceRequired => {
            format!("extends.{service}.service is required (services.{service}.extends in {file})")
        }
        ExtendsProblem::WrongType { found } => {
            format!("services.{service}.extends must be a string or a mapping, not {found}")
        }
    }
}

fn include_message(file: &Path, i: usize, problem: &IncludeProblem) -> String {
    let file = file.display();
    match problem {
        IncludeProblem::WrongType { found } => {
            format!("include[{i}] must be a string or a mapping, not {found}")
        }
        IncludeProblem::PathRequired => format!("include[{i}].path is required in {file}"),
        IncludeProblem::NoFile => format!("include[{i}].path in {file} lists no file"),
        IncludeProblem::TooDeep { limit } => {
            format!("include[{i}] in {file}: includes nested deeper than {limit} files")
        }
        IncludeProblem::Cycle { chain } => {
            let chain: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
            format!("include cycle detected:\n{}", chain.join("\n include "))
        }
    }
}

fn file_problem(file: &Path, problem: &FileProblem) -> String {
    match problem {
        FileProblem::Missing => "No such file or directory (os error 2)".to_owned(),
        FileProblem::Unreadable(error) => format!("failed to read `{}`: {error}", file.display()),
        FileProblem::NotUtf8 => "stream did not contain valid UTF-8".to_owned(),
    }
}

fn env_file_message(file: &Path, problem: &EnvFileProblem) -> String {
    let file = file.display();
    match problem {
        EnvFileProblem::Directory => format!("{file} is a directory"),
        EnvFileProblem::NotFound => format!("couldn't find env file: {file}"),
        EnvFileProblem::InvalidUtf8 { line, offset } => {
            format!("failed to read {file}: line {line}: invalid UTF-8 at byte offset {offset}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read error names the file and the OS error once, also through an error chain.
    #[test]
    fn a_read_error_prints_its_cause_once() {
        let e = ComposeError::Read {
            path: "/p/compose.yaml".into(),
            error: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(std::error::Error::source(&e).is_none());
        let chain = format!("{:#}", anyhow::Error::new(e));
        assert_eq!(chain.matches("permission denied").count(), 1, "{chain}");
        assert!(chain.contains("/p/compose.yaml"), "{chain}");
    }
}
