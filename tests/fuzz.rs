//! Property tests (proptest, on stable) for the front end's parsers: arbitrary input never
//! panics and always finishes, and generated valid input round-trips. The default case count
//! keeps CI to seconds; set `PROPTEST_CASES` to run longer.

use std::collections::BTreeMap;
use std::path::Path;

use dokku_compose::compose::{dotenv, interpolate, yaml, Node};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn lookup(name: &str) -> Option<String> {
    match name {
        "A" => Some("alpha".into()),
        "EMPTY" => Some(String::new()),
        "DOLLAR" => Some("$x".into()),
        _ => None,
    }
}

/// Text made mostly of the characters that matter to the parsers.
fn syntaxy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("$".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just(":-".to_string()),
            Just("?".to_string()),
            Just("+".to_string()),
            Just("A".to_string()),
            Just("\n".to_string()),
            Just("\"".to_string()),
            Just("'".to_string()),
            Just("\\".to_string()),
            Just("#".to_string()),
            Just("=".to_string()),
            Just(" ".to_string()),
            Just("&a".to_string()),
            Just("*a".to_string()),
            Just("<<".to_string()),
            Just("- ".to_string()),
            Just(": ".to_string()),
            Just("!reset".to_string()),
            "[a-z0-9_]{1,3}",
            any::<char>().prop_map(String::from),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

/// JSON values that are also YAML with the same meaning (JSON is a subset of YAML 1.2).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1.0e9f64..1.0e9).prop_map(serde_json::Value::from),
        "[ -~]{0,12}".prop_map(serde_json::Value::String),
        "[^\\p{C}\\u{85}\\u{2028}\\u{2029}]{0,8}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_.-]{0,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn as_json(node: &Node) -> serde_json::Value {
    node.to_json()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn yaml_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = yaml::parse_bytes(&bytes, Path::new("fuzz.yml"));
    }

    #[test]
    fn yaml_never_panics_on_yamlish_text(text in syntaxy()) {
        let _ = yaml::parse(&text, Path::new("fuzz.yml"));
    }

    #[test]
    fn yaml_reads_json_documents_as_their_values(value in json_value()) {
        let doc = serde_json::json!({"x-fuzz": value});
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let parsed = yaml::parse(&text, Path::new("fuzz.yml")).unwrap();
        prop_assert_eq!(parsed.len(), 1);
        let back = as_json(&parsed[0]);
        // Floats may come back as integers when they are whole (`1.0` → 1.0 stays a float).
        prop_assert_eq!(back, doc);
    }

    #[test]
    fn interpolation_never_panics(template in syntaxy()) {
        let _ = interpolate::interpolate_str(&template, &lookup, &mut Vec::new());
    }

    #[test]
    fn escaped_text_interpolates_to_itself(text in "\\PC{0,40}") {
        let escaped = text.replace('$', "$$");
        let out = interpolate::interpolate_str(&escaped, &lookup, &mut Vec::new()).unwrap();
        prop_assert_eq!(out, text);
    }

    #[test]
    fn defaults_apply_to_unset_names(name in "[A-Z_][A-Z0-9_]{0,6}X", default in "[a-z0-9 ./:]{0,12}") {
        let mut warnings = Vec::new();
        let out = interpolate::interpolate_str(&format!("<${{{name}:-{default}}}>"), &lookup, &mut warnings).unwrap();
        prop_assert_eq!(out, format!("<{default}>"));
        prop_assert!(warnings.is_empty());
    }

    #[test]
    fn dotenv_never_panics(text in syntaxy()) {
        let _ = dotenv::parse(&text, Path::new(".env"), &lookup);
        let _ = dotenv::parse_raw(&text, Path::new(".env"), &lookup);
    }

    #[test]
    fn dotenv_round_trips_quoted_values(entries in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,10}", "[^'\\\\\\x00]{0,20}", 0..8)) {
        let text: String = entries.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
        let mut vars = BTreeMap::new();
        dotenv::parse_into(&text, Path::new(".env"), &lookup, &mut vars, &mut Vec::new()).unwrap();
        prop_assert_eq!(vars, entries);
    }

    #[test]
    fn raw_env_files_round_trip(entries in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,10}", "[^\\n\\r]{0,20}", 0..8)) {
        let text: String = entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let parsed: BTreeMap<String, String> = dotenv::parse_raw(&text, Path::new("raw.env"), &lookup).unwrap().into_iter().collect();
        prop_assert_eq!(parsed, entries);
    }
}
