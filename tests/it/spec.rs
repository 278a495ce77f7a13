//! The drift test: for every API document (the list [`DOCUMENTS`] follows the generator's),
//! the OpenAPI document the proxy serves, which poem-openapi derives from the generated
//! adapters, says the same as the hand-written contract (`openapi/kafka-rest-v2.yaml`,
//! `openapi/kafka-rest-v3.yaml`).
//!
//! Both documents are normalized before they are compared: every `$ref` is resolved (the
//! contract shares parameters, bodies and responses through `components`, poem-openapi inlines
//! them), path-level parameters move into each operation, and keys that only spell a default
//! or that poem-openapi cannot write are dropped (listed at [`DROPPED_KEYS`] and
//! [`DROPPED_DEFAULTS`]). Everything else is compared: every path, method, operationId, tag,
//! parameter, request body, media type, status, schema (type, format, required, nullable,
//! enum, items, additionalProperties, minItems, deprecated) and every description and summary
//! (whitespace at line ends aside), except the descriptions of array and map schemas, which
//! poem-openapi writes inline without one. Examples are not compared: poem-openapi writes none
//! for these types, and they document rather than constrain.

use serde_json::{Map, Value};

use crate::common::TestProxy;
use crate::require_stack;

/// One API document: the module of the generated crate, the contract as checked in, the
/// served document as `cargo xtask codegen` wrote it, where the proxy serves it and the
/// contract's file name (for messages).
struct Document {
    ident: &'static str,
    contract: &'static str,
    served: &'static str,
    served_at: &'static str,
    name: &'static str,
}

/// Every API document, as `APIS` in `xtask/src/codegen.rs` lists them.
const DOCUMENTS: &[Document] = &[
    Document {
        ident: "v2",
        contract: include_str!("../../openapi/kafka-rest-v2.yaml"),
        served: include_str!("../../openapi/served/kafka-rest-v2.json"),
        served_at: "/openapi.json",
        name: "openapi/kafka-rest-v2.yaml",
    },
    Document {
        ident: "v3",
        contract: include_str!("../../openapi/kafka-rest-v3.yaml"),
        served: include_str!("../../openapi/served/kafka-rest-v3.json"),
        served_at: "/v3/openapi.json",
        name: "openapi/kafka-rest-v3.yaml",
    },
];

/// The v2 document, which the tests of the comparison itself use.
const V2: &Document = &DOCUMENTS[0];

/// Keys dropped wherever they stand as keywords: `example(s)` (not compared, see above),
/// `title` (poem-openapi titles every object schema with its name) and
/// `additionalProperties: false` below, which poem-openapi's schema model cannot express (the
/// handlers refuse unknown fields with 422 "Unrecognized field", tested in `produce` and
/// `consume`).
const DROPPED_KEYS: &[&str] = &["example", "examples", "title"];

/// Keys dropped when they hold the value OpenAPI assumes anyway.
const DROPPED_DEFAULTS: &[(&str, Value)] = &[
    ("deprecated", Value::Bool(false)),
    ("explode", Value::Bool(true)),
    ("required", Value::Bool(false)),
    ("nullable", Value::Bool(false)),
    ("readOnly", Value::Bool(false)),
    ("writeOnly", Value::Bool(false)),
    ("additionalProperties", Value::Bool(false)),
];

/// Keys whose object value maps names (paths, media types, statuses, properties) rather than
/// keywords; their keys are kept whatever they are called.
const NAME_MAPS: &[&str] = &["paths", "content", "responses", "properties"];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn contract(doc: &Document) -> Value {
    serde_yaml::from_str(doc.contract).expect("the contract is YAML")
}

fn served(doc: &Document) -> Value {
    serde_json::from_str(doc.served).expect("the served document is JSON")
}

/// The parts of a document that are compared, normalized.
pub fn normalize(doc: &Value) -> Value {
    let resolved = resolve(doc, doc, 0);
    let mut out = Map::new();
    let mut info = Map::new();
    for key in ["title", "version", "description", "license"] {
        if let Some(v) = resolved["info"].get(key) {
            info.insert(key.to_string(), v.clone());
        }
    }
    out.insert("info".into(), clean(&Value::Object(info)));
    let mut tags: Vec<Value> = resolved["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(clean)
        .collect();
    tags.sort_by_key(|t| t["name"].to_string());
    out.insert("tags".into(), Value::Array(tags));

    let mut paths = Map::new();
    for (path, item) in resolved["paths"].as_object().into_iter().flatten() {
        let shared: Vec<Value> = item["parameters"].as_array().cloned().unwrap_or_default();
        let mut methods = Map::new();
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let mut op = op.clone();
            let mut params = shared.clone();
            for p in op["parameters"].as_array().cloned().unwrap_or_default() {
                params.retain(|q| !(q["name"] == p["name"] && q["in"] == p["in"]));
                params.push(p);
            }
            params.sort_by_key(|p| (p["in"].to_string(), p["name"].to_string()));
            if let Some(obj) = op.as_object_mut() {
                obj.remove("parameters");
                if !params.is_empty() {
                    obj.insert("parameters".into(), Value::Array(params));
                }
            }
            methods.insert(method.to_string(), clean(&op));
        }
        paths.insert(path.clone(), Value::Object(methods));
    }
    out.insert("paths".into(), Value::Object(paths));
    Value::Object(out)
}

/// `value` with every `{"$ref": "#/..."}` replaced by what it points to, recursively.
fn resolve(doc: &Value, value: &Value, depth: usize) -> Value {
    assert!(depth < 64, "$ref cycle or nesting too deep");
    match value {
        Value::Object(obj) => {
            if let Some(Value::String(reference)) = obj.get("$ref") {
                let pointer = reference
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("only local $refs are supported: {reference}"));
                let target = doc
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("$ref {reference} points nowhere"));
                return resolve(doc, target, depth + 1);
            }
            Value::Object(
                obj.iter()
                    .map(|(k, v)| (k.clone(), resolve(doc, v, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(doc, v, depth)).collect()),
        other => other.clone(),
    }
}

/// Drops defaults and uncompared keys, merges `allOf` wrappers, trims descriptions and sorts
/// the lists whose order means nothing.
fn clean(value: &Value) -> Value {
    match value {
        Value::Object(obj) => {
            // poem-openapi wraps a `$ref` that carries annotations (nullable, description) as
            // `allOf: [target, annotations]`; after resolving, that is one schema.
            if let Some(Value::Array(parts)) = obj.get("allOf") {
                let mut merged = Map::new();
                for part in parts {
                    if let Value::Object(p) = part {
                        merged.extend(p.clone());
                    }
                }
                for (k, v) in obj {
                    if k != "allOf" {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                return clean(&Value::Object(merged));
            }
            // poem-openapi writes `Vec` and `BTreeMap` schemas inline, without the description
            // the contract gives such a named array or map.
            let is_list_or_map = obj.get("type") == Some(&Value::from("array"))
                || (obj.get("type") == Some(&Value::from("object"))
                    && obj
                        .get("additionalProperties")
                        .is_some_and(Value::is_object));
            let mut out = Map::new();
            for (key, v) in obj {
                if (is_list_or_map && key == "description")
                    || DROPPED_KEYS.contains(&key.as_str())
                    || DROPPED_DEFAULTS.iter().any(|(k, d)| k == key && d == v)
                {
                    continue;
                }
                let cleaned = if NAME_MAPS.contains(&key.as_str()) && v.is_object() {
                    let names = v.as_object().into_iter().flatten();
                    Value::Object(names.map(|(n, x)| (n.clone(), clean(x))).collect())
                } else {
                    clean(v)
                };
                let cleaned = match (key.as_str(), cleaned) {
                    ("description" | "summary", Value::String(s)) => Value::String(
                        s.lines()
                            .map(str::trim)
                            .collect::<Vec<_>>()
                            .join("\n")
                            .trim()
                            .to_string(),
                    ),
                    ("required" | "tags", Value::Array(mut items)) => {
                        items.sort_by_key(Value::to_string);
                        Value::Array(items)
                    }
                    (_, other) => other,
                };
                let empty = matches!(&cleaned, Value::Object(o) if o.is_empty())
                    || matches!(&cleaned, Value::Array(a) if a.is_empty());
                if empty && matches!(key.as_str(), "properties" | "required" | "parameters") {
                    continue;
                }
                out.insert(key.clone(), cleaned);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(clean).collect()),
        other => other.clone(),
    }
}

/// Every difference between two normalized documents, one line each, located by JSON pointer.
pub fn differences(contract: &Value, served: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff("", contract, served, &mut out);
    out
}

fn diff(at: &str, contract: &Value, served: &Value, out: &mut Vec<String>) {
    match (contract, served) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match b.get(k) {
                    Some(w) => diff(&here, v, w, out),
                    None => out.push(format!("{here}: only in the contract: {}", short(v))),
                }
            }
            for (k, w) in b {
                if !a.contains_key(k) {
                    let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(format!("{here}: only in the served document: {}", short(w)));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                diff(&format!("{at}/{i}"), v, w, out);
            }
        }
        (a, b) if a != b => out.push(format!("{at}: contract {}, served {}", short(a), short(b))),
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}...", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

fn assert_no_differences(doc: &Document, served: &Value) {
    let found = differences(&normalize(&contract(doc)), &normalize(served));
    assert!(
        found.is_empty(),
        "the served document differs from {} in {} place(s); change the contract or the \
         generator and run `cargo xtask codegen`:\n{}",
        doc.name,
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_derived_documents_say_what_the_contracts_say() {
    for doc in DOCUMENTS {
        assert_no_differences(doc, &served(doc));
    }
}

#[test]
fn the_committed_served_documents_are_what_the_adapters_derive() {
    assert_eq!(
        DOCUMENTS.iter().map(|d| d.ident).collect::<Vec<_>>(),
        kafka_rest_api::DOCUMENTS
            .iter()
            .map(|(ident, _)| *ident)
            .collect::<Vec<_>>(),
        "this test's DOCUMENTS must list the generated crate's documents"
    );
    for (doc, (_, derive)) in DOCUMENTS.iter().zip(kafka_rest_api::DOCUMENTS) {
        let derived: Value = serde_json::from_str(&derive()).expect("derived JSON");
        assert!(
            derived == served(doc),
            "the served document of {} is stale; run `cargo xtask codegen`",
            doc.name
        );
    }
}

#[test]
fn the_comparison_reports_a_changed_schema_field() {
    let mut changed = contract(V2);
    let partition = changed
        .pointer_mut("/components/schemas/ProduceOffset/properties/partition")
        .expect("ProduceOffset.partition in the contract");
    partition["format"] = Value::from("int64");
    let found = differences(&normalize(&changed), &normalize(&served(V2)));
    let expected = "/paths/~1topics~1{topic_name}/post/responses/200/content/\
                    application~1vnd.kafka.v2+json/schema/properties/offsets/items/properties/\
                    partition/format: contract \"int64\", served \"int32\"";
    assert!(
        found.iter().any(|line| line == expected),
        "expected {expected:?} among {found:#?}"
    );
}

#[test]
fn the_comparison_reports_required_nullable_statuses_and_media_types() {
    let base = normalize(&served(V2));
    type Change = fn(&mut Value);
    let cases: [(&str, Change); 4] = [
        ("/required", |doc| {
            doc["components"]["schemas"]["ProduceOffset"]["required"] =
                serde_json::json!(["offset", "error_code", "error"]);
        }),
        ("/properties/error/nullable", |doc| {
            doc["components"]["schemas"]["ProduceOffset"]["properties"]["error"]
                .as_object_mut()
                .expect("error field")
                .remove("nullable");
        }),
        ("/responses/409", |doc| {
            doc["paths"]["/topics/{topic_name}"]["post"]["responses"]["409"] =
                serde_json::json!({"description": "x"});
        }),
        ("/requestBody/content/application~1json", |doc| {
            doc["components"]["requestBodies"]["Produce"]["content"]["application/json"] =
                serde_json::json!({"schema": {"type": "object"}});
        }),
    ];
    for (needle, change) in cases {
        let mut changed = contract(V2);
        change(&mut changed);
        let found = differences(&normalize(&changed), &base);
        assert!(
            found.iter().any(|line| line.contains(needle)),
            "a change at {needle} went unnoticed: {found:#?}"
        );
    }
}

#[tokio::test]
async fn the_proxy_serves_the_derived_documents_and_swagger_ui() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let client = reqwest::Client::new();
    for doc in DOCUMENTS {
        let json_at = doc.served_at;
        let json: Value = client
            .get(proxy.url(json_at))
            .send()
            .await
            .expect("GET the JSON document")
            .json()
            .await
            .expect("JSON document");
        assert!(
            json == served(doc),
            "{json_at} is not the served document of {}",
            doc.name
        );
        assert_no_differences(doc, &json);

        let yaml_at = json_at.replace(".json", ".yaml");
        let yaml = client
            .get(proxy.url(&yaml_at))
            .send()
            .await
            .expect("GET the YAML document");
        assert_eq!(yaml.status(), 200);
        let yaml: Value = serde_yaml::from_str(&yaml.text().await.expect("text")).expect("YAML");
        assert!(yaml == served(doc), "{yaml_at} is not the served document");
    }

    let docs = client
        .get(proxy.url("/docs"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET /docs");
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html:.200}");
    proxy.stop().await;
}
