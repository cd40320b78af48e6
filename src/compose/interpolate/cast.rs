//! Casts at the reference's typed paths (compose-go `loader/interpolate.go`): the
//! interpolated text of `deploy.replicas`, `privileged`, `ports[].target`, … becomes an
//! integer, a float or a boolean, with Go's `strconv` errors.

use crate::compose::tree::Node;
use crate::compose::warning::Warning;
use crate::compose::yaml::go_quote;

/// Why a value at a typed path does not convert, worded as Go's `strconv` says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CastError {
    /// Not a number at all (`strconv.Atoi: parsing "two": invalid syntax`).
    #[error("strconv.{func}: parsing {}: invalid syntax", go_quote(text))]
    Syntax {
        /// The Go function the reference calls (`Atoi`, `ParseInt`, `ParseFloat`).
        func: &'static str,
        /// The text.
        text: String,
    },
    /// A number out of the target type's range.
    #[error("strconv.{func}: parsing {}: value out of range", go_quote(text))]
    Range {
        /// The Go function the reference calls.
        func: &'static str,
        /// The text.
        text: String,
    },
    /// Not a boolean (`invalid boolean: maybe`).
    #[error("invalid boolean: {0}")]
    Bool(String),
}

/// Converts the interpolated text at a typed path, pushing the reference's warnings.
pub(super) type Cast = fn(&str, &mut Vec<Warning>) -> Result<Node, CastError>;

/// `*` matches any key, `[]` a sequence item; paths are matched segment by segment.
const CASTS: &[(&[&str], Cast)] = &[
    (&["services", "*", "cpu_count"], to_int64),
    (&["services", "*", "cpu_percent"], to_float),
    (&["services", "*", "cpu_period"], to_int64),
    (&["services", "*", "cpu_quota"], to_int64),
    (&["services", "*", "cpu_rt_period"], to_int64),
    (&["services", "*", "cpu_rt_runtime"], to_int64),
    (&["services", "*", "cpus"], to_float32),
    (&["services", "*", "cpu_shares"], to_int64),
    (&["services", "*", "init"], to_bool),
    (&["services", "*", "deploy", "replicas"], to_int),
    (
        &["services", "*", "deploy", "update_config", "parallelism"],
        to_int,
    ),
    (
        &[
            "services",
            "*",
            "deploy",
            "update_config",
            "max_failure_ratio",
        ],
        to_float,
    ),
    (
        &["services", "*", "deploy", "rollback_config", "parallelism"],
        to_int,
    ),
    (
        &[
            "services",
            "*",
            "deploy",
            "rollback_config",
            "max_failure_ratio",
        ],
        to_float,
    ),
    (
        &["services", "*", "deploy", "restart_policy", "max_attempts"],
        to_int,
    ),
    (
        &[
            "services",
            "*",
            "deploy",
            "placement",
            "max_replicas_per_node",
        ],
        to_int,
    ),
    (&["services", "*", "healthcheck", "retries"], to_int),
    (&["services", "*", "healthcheck", "disable"], to_bool),
    (&["services", "*", "oom_kill_disable"], to_bool),
    (&["services", "*", "oom_score_adj"], to_int64),
    (&["services", "*", "pids_limit"], to_int64),
    (&["services", "*", "ports", "[]", "target"], to_int),
    (&["services", "*", "privileged"], to_bool),
    (&["services", "*", "read_only"], to_bool),
    (&["services", "*", "scale"], to_int),
    (&["services", "*", "stdin_open"], to_bool),
    (&["services", "*", "tty"], to_bool),
    (&["services", "*", "ulimits", "*"], to_int),
    (&["services", "*", "ulimits", "*", "hard"], to_int),
    (&["services", "*", "ulimits", "*", "soft"], to_int),
    (&["services", "*", "volumes", "[]", "read_only"], to_bool),
    (
        &["services", "*", "volumes", "[]", "volume", "nocopy"],
        to_bool,
    ),
    (&["networks", "*", "external"], to_bool),
    (&["networks", "*", "internal"], to_bool),
    (&["networks", "*", "attachable"], to_bool),
    (&["networks", "*", "enable_ipv4"], to_bool),
    (&["networks", "*", "enable_ipv6"], to_bool),
    (&["volumes", "*", "external"], to_bool),
    (&["secrets", "*", "external"], to_bool),
    (&["configs", "*", "external"], to_bool),
];

pub(super) fn cast_for(path: &[&str]) -> Option<Cast> {
    CASTS.iter().find_map(|(pattern, cast)| {
        (pattern.len() == path.len()
            && pattern
                .iter()
                .zip(path)
                .all(|(p, seg)| *p == "*" || p == seg))
        .then_some(*cast)
    })
}

/// Go's `strconv.ParseInt(s, 10, 64)`, with its error text under the given function name.
fn go_int(s: &str, func: &'static str) -> Result<i64, CastError> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CastError::Syntax {
            func,
            text: s.to_owned(),
        });
    }
    s.parse::<i64>().map_err(|_| CastError::Range {
        func,
        text: s.to_owned(),
    })
}

fn to_int(s: &str, _: &mut Vec<Warning>) -> Result<Node, CastError> {
    go_int(s, "Atoi").map(Node::Int)
}

fn to_int64(s: &str, _: &mut Vec<Warning>) -> Result<Node, CastError> {
    go_int(s, "ParseInt").map(Node::Int)
}

/// Go's `strconv.ParseFloat` for decimal text and `inf`/`nan` words (hexadecimal floats are
/// not supported); `max` is the largest finite value of the target size.
fn go_float(s: &str, max: f64) -> Result<f64, CastError> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let word = ["inf", "infinity", "nan"]
        .iter()
        .any(|w| body.eq_ignore_ascii_case(w));
    let decimal = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    let parsed = if word || decimal {
        s.parse::<f64>().ok()
    } else {
        None
    };
    match parsed {
        None => Err(CastError::Syntax {
            func: "ParseFloat",
            text: s.to_owned(),
        }),
        Some(f) if !word && f.abs() > max => Err(CastError::Range {
            func: "ParseFloat",
            text: s.to_owned(),
        }),
        Some(f) => Ok(f),
    }
}

fn to_float(s: &str, _: &mut Vec<Warning>) -> Result<Node, CastError> {
    go_float(s, f64::MAX).map(Node::Float)
}

fn to_float32(s: &str, _: &mut Vec<Warning>) -> Result<Node, CastError> {
    go_float(s, f64::from(f32::MAX)).map(Node::Float)
}

/// YAML 1.1 booleans are accepted with the reference's warning; anything else is an error.
fn to_bool(s: &str, warnings: &mut Vec<Warning>) -> Result<Node, CastError> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Ok(Node::Bool(true)),
        "false" => Ok(Node::Bool(false)),
        "y" | "yes" | "on" => {
            warnings.push(Warning::new(format!(
                "{} for boolean is not supported by YAML 1.2, please use `true`",
                go_quote(s)
            )));
            Ok(Node::Bool(true))
        }
        "n" | "no" | "off" => {
            warnings.push(Warning::new(format!(
                "{} for boolean is not supported by YAML 1.2, please use `false`",
                go_quote(s)
            )));
            Ok(Node::Bool(false))
        }
        _ => Err(CastError::Bool(s.to_owned())),
    }
}
