//! Tests of interpolation and the casts at typed paths.

use super::cast::cast_for;
use super::*;
use crate::compose::tree::Map;

fn env(name: &str) -> Option<String> {
    match name {
        "FOO" => Some("first".into()),
        "BAR" => Some(String::new()),
        "JSON" => Some(r#"{"json":2}"#.into()),
        "B" => Some("bee".into()),
        _ => None,
    }
}

fn run(template: &str) -> (Result<String, String>, Vec<String>) {
    let mut warnings = Vec::new();
    let out = interpolate_str(template, &env, &mut warnings).map_err(|e| e.message);
    (out, warnings.into_iter().map(|w| w.message).collect())
}

fn ok(template: &str) -> String {
    run(template)
        .0
        .unwrap_or_else(|e| panic!("{template}: {e}"))
}

fn fails(template: &str) -> String {
    run(template).0.expect_err(template)
}

#[test]
fn substitution_table() {
    let cases = [
        ("$$", "$"),
        ("$$FOO", "$FOO"),
        ("$${FOO}", "${FOO}"),
        ("$$$$", "$$"),
        ("$$${FOO}", "$first"),
        ("$FOO", "first"),
        ("${FOO}", "first"),
        ("$FOO.x", "first.x"),
        ("$FOO-x", "first-x"),
        ("${FOO}x", "firstx"),
        ("$FOO$FOO", "firstfirst"),
        ("$FOO:-x", "first:-x"),
        ("$1 $- $@ $ x$", "$1 $- $@ $ x$"),
        ("${UNSET:-d}", "d"),
        ("<${UNSET:-}>", "<>"),
        ("<${BAR:-d}>", "<d>"),
        ("<${BAR-d}>", "<>"),
        ("<${UNSET-d}>", "<d>"),
        ("<${FOO:+yes}>", "<yes>"),
        ("<${BAR:+yes}>", "<>"),
        ("<${UNSET:+yes}>", "<>"),
        ("<${FOO+yes}>", "<yes>"),
        ("<${BAR+yes}>", "<yes>"),
        ("<${UNSET+yes}>", "<>"),
        ("${A:-${B:-c}}", "bee"),
        ("${A:-${C:-c}}", "c"),
        ("${A:-pre-${B}-post}", "pre-bee-post"),
        ("${A:-${C:-${B}}}", "bee"),
        ("${B:+--flag=${B}}", "--flag=bee"),
        ("${V:-a:b}", "a:b"),
        ("${V:-}}", "}"),
        ("${V:-{x}}", "{x}"),
        ("${V:-x y z}", "x y z"),
        ("${V:-$$notavar}", "$notavar"),
        ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
        ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
        (":?ok ${BAR:-defaultValue}", ":?ok defaultValue"),
        ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"),
        ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
        ("${UNSET_VAR-myerror?msg}", "myerror?msg"),
        ("${FOO?bar-baz}", "first"),
        ("ok ${BAR?err}", "ok "),
        (r#"ok ${missing:-{"json":1}}"#, r#"ok {"json":1}"#),
        (r#"ok ${JSON-{"json":1}}"#, r#"ok {"json":2}"#),
        ("${FOO:-x} and ${B}", "first and bee"),
        ("${FOO} ${UNSET:-x}", "first x"),
        ("héllo ${MARK:-✓} 日本語", "héllo ✓ 日本語"),
        ("a\n${UNSET:-x}\n${FOO}", "a\nx\nfirst"),
    ];
    for (template, want) in cases {
        assert_eq!(ok(template), want, "{template}");
    }
}

#[test]
fn unset_variables_warn_once_per_occurrence() {
    let (out, warnings) = run("${NOPE} $NOPE ${B:-${NOPE}}");
    assert_eq!(out.unwrap(), "  bee");
    let one = "The \"NOPE\" variable is not set. Defaulting to a blank string.";
    assert_eq!(warnings, vec![one, one, one]);
    let (_, warnings) = run("<${A:+--flag=${A}}>");
    assert_eq!(
        warnings,
        vec!["The \"A\" variable is not set. Defaulting to a blank string."]
    );
    assert!(run("${UNSET:-x}${UNSET-y}${UNSET:+z}").1.is_empty());
}

#[test]
fn required_variables() {
    assert_eq!(
        fails("${DB:?database password must be set}"),
        "required variable DB is missing a value: database password must be set"
    );
    assert_eq!(
        fails("${BAR:?empty}"),
        "required variable BAR is missing a value: empty"
    );
    assert_eq!(
        fails("${DB?must be defined}"),
        "required variable DB is missing a value: must be defined"
    );
    assert_eq!(fails("${DB:?}"), "required variable DB is missing a value");
    assert_eq!(
        fails("${A:?need A (B=${B})}"),
        "required variable A is missing a value: need A (B=bee)"
    );
    assert_eq!(
        fails("${V:?error: missing value for V}"),
        "required variable V is missing a value: error: missing value for V"
    );
    assert_eq!(
        fails("${A:-${C:?C needed}}"),
        "required variable C is missing a value: C needed"
    );
    assert_eq!(
        fails("${UNSET_VAR?bar-baz}"),
        "required variable UNSET_VAR is missing a value: bar-baz"
    );
    // The argument is interpolated eagerly: a required variable in a default fails even
    // when the default is not needed, as in the reference.
    assert!(run("${FOO:-${C:?x}}").0.is_err());
}

#[test]
fn invalid_templates() {
    for template in [
        "${VAR",
        "${1VAR}",
        "${VAR NAME}",
        "${}",
        "${VAR:=x}",
        "x ${",
        "${A:-x\ny}",
    ] {
        assert!(
            fails(template).starts_with("invalid interpolation format in "),
            "{template}"
        );
    }
}

fn node_err(yaml_path: &[&str], value: &str) -> String {
    let mut node = Node::Str(value.to_string());
    for key in yaml_path.iter().rev() {
        node = if *key == "[]" {
            Node::Seq(vec![node])
        } else {
            Node::Map(Map::from([((*key).to_string(), node)]))
        };
    }
    interpolate_node(node, &env, &mut Vec::new())
        .unwrap_err()
        .message
}

#[test]
fn errors_name_the_key_path_like_the_reference() {
    assert_eq!(
            node_err(&["services", "db", "environment", "POSTGRES_PASSWORD"], "${DB_PASS:?must be set}"),
            "error while interpolating services.db.environment.POSTGRES_PASSWORD: required variable DB_PASS is missing a value: must be set"
        );
    assert_eq!(
            node_err(&["services", "app", "environment", "A"], "${VAR"),
            "invalid interpolation format for services.app.environment.A.\nYou may need to escape any $ with another $.\n${VAR"
        );
    assert_eq!(
            node_err(&["services", "app", "command", "[]"], "${"),
            "invalid interpolation format for services.app.command.[].\nYou may need to escape any $ with another $.\n${"
        );
    // The quoted template of an error inside a remainder is that remainder.
    assert_eq!(
        node_err(&["x"], "${A:-x} ${ }"),
        "invalid interpolation format for x.\nYou may need to escape any $ with another $.\n ${ }"
    );
}

fn cast(path: &[&str], value: &str) -> (Result<Node, String>, Vec<Warning>) {
    let mut warnings = Vec::new();
    let cast = cast_for(path).expect("a typed path");
    (
        cast(value, &mut warnings).map_err(|e| e.to_string()),
        warnings,
    )
}

#[test]
fn casts_at_typed_paths() {
    let svc =
        |rest: &[&'static str]| -> Vec<&'static str> { [&["services", "w"][..], rest].concat() };
    assert_eq!(cast(&svc(&["deploy", "replicas"]), "2").0, Ok(Node::Int(2)));
    assert_eq!(
        cast(&svc(&["deploy", "replicas"]), "two").0,
        Err("strconv.Atoi: parsing \"two\": invalid syntax".into())
    );
    assert_eq!(
        cast(&svc(&["deploy", "replicas"]), "99999999999999999999").0,
        Err("strconv.Atoi: parsing \"99999999999999999999\": value out of range".into())
    );
    assert_eq!(
        cast(&svc(&["pids_limit"]), "x").0,
        Err("strconv.ParseInt: parsing \"x\": invalid syntax".into())
    );
    assert_eq!(cast(&svc(&["cpus"]), "1.5").0, Ok(Node::Float(1.5)));
    assert_eq!(
        cast(&svc(&["cpus"]), "1e39").0,
        Err("strconv.ParseFloat: parsing \"1e39\": value out of range".into())
    );
    assert_eq!(
        cast(&svc(&["cpu_percent"]), "abc").0,
        Err("strconv.ParseFloat: parsing \"abc\": invalid syntax".into())
    );
    assert_eq!(
        cast(&svc(&["ports", "[]", "target"]), "80").0,
        Ok(Node::Int(80))
    );
    assert_eq!(
        cast(&svc(&["ulimits", "nofile"]), "65535").0,
        Ok(Node::Int(65535))
    );
    assert_eq!(
        cast(&svc(&["ulimits", "nofile", "soft"]), "1").0,
        Ok(Node::Int(1))
    );
    assert_eq!(
        cast(&["networks", "n", "external"], "TRUE").0,
        Ok(Node::Bool(true))
    );
    assert_eq!(
        cast(&svc(&["read_only"]), "1").0,
        Err("invalid boolean: 1".into())
    );
    let (value, warnings) = cast(&svc(&["privileged"]), "yes");
    assert_eq!(value, Ok(Node::Bool(true)));
    assert_eq!(
        warnings,
        vec![Warning::new(
            "\"yes\" for boolean is not supported by YAML 1.2, please use `true`"
        )]
    );
    let (value, warnings) = cast(&svc(&["tty"]), "Off");
    assert_eq!(value, Ok(Node::Bool(false)));
    assert_eq!(
        warnings,
        vec![Warning::new(
            "\"Off\" for boolean is not supported by YAML 1.2, please use `false`"
        )]
    );
    assert!(cast_for(&["services", "w", "environment", "N"]).is_none());
    assert!(cast_for(&["services", "w", "ports", "[]", "published"]).is_none());
}

#[test]
fn interpolate_node_walks_values_not_keys_and_casts() {
    let lookup = |name: &str| match name {
        "N" => Some("007".to_string()),
        "REPLICAS" => Some("2".to_string()),
        "KEY" => Some("key".to_string()),
        _ => None,
    };
    let doc = super::super::yaml::parse(
            "services:\n  app:\n    labels:\n      ${KEY}: v\n    environment:\n      ZERO: ${N}\n      LIT: 007\n    deploy:\n      replicas: ${REPLICAS}\n    read_only: 'true'\n    command: [\"$$HOME\", !override '${N}']\n",
            std::path::Path::new("c.yml"),
        )
        .unwrap()
        .remove(0);
    let mut warnings = Vec::new();
    let out = interpolate_node(doc, &lookup, &mut warnings)
        .unwrap()
        .to_json();
    let app = &out["services"]["app"];
    assert_eq!(app["labels"], serde_json::json!({"${KEY}": "v"}));
    assert_eq!(
        app["environment"],
        serde_json::json!({"ZERO": "007", "LIT": 7})
    );
    assert_eq!(app["deploy"]["replicas"], serde_json::json!(2));
    assert_eq!(app["read_only"], serde_json::json!(true));
    assert_eq!(app["command"], serde_json::json!(["$HOME", "007"]));
    assert!(warnings.is_empty());
}

#[test]
fn reset_values_are_not_interpolated_override_values_are() {
    let doc = super::super::yaml::parse(
        "a: !reset ${X:?never checked}\nb: !override ${N:-3}\n",
        std::path::Path::new("c.yml"),
    )
    .unwrap()
    .remove(0);
    let out = interpolate_node(doc, &env, &mut Vec::new()).unwrap();
    let m = out.as_map().unwrap();
    assert_eq!(
        m["a"],
        Node::Tagged(
            Tag::Reset,
            Box::new(Node::Str("${X:?never checked}".into()))
        )
    );
    assert_eq!(
        m["b"],
        Node::Tagged(Tag::Override, Box::new(Node::Str("3".into())))
    );
}

#[test]
fn limits_turn_runaway_input_into_errors() {
    let big = "x".repeat(1 << 20);
    let lookup = |name: &str| (name == "BIG").then(|| big.clone());
    let err = interpolate_str(&"${BIG}".repeat(5), &lookup, &mut Vec::new()).unwrap_err();
    assert!(
        err.message.contains("limit of 4194304 bytes"),
        "{}",
        err.message
    );
    let nested = format!("{}x{}", "${A:-".repeat(100), "}".repeat(100));
    assert!(interpolate_str(&nested, &lookup, &mut Vec::new())
        .unwrap_err()
        .message
        .contains("nests deeper"));
    let within = format!("{}x{}", "${A:-".repeat(50), "}".repeat(50));
    assert_eq!(
        interpolate_str(&within, &lookup, &mut Vec::new()).unwrap(),
        "x"
    );
}
