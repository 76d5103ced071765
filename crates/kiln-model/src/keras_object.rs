//! Keras's serialized objects (initializers, regularizers): a bare name (`"l2"`) or
//! `{"class_name": "L2", "config": {...}}`.

use serde_json::Value;

/// The class name and config of a Keras object; a bare name has a `null` config.
///
/// # Errors
/// A message naming `what` when the value is neither a string nor an object.
pub(crate) fn name_and_config(v: &Value, what: &str) -> Result<(String, Value), String> {
    match v {
        Value::String(s) => Ok((s.clone(), Value::Null)),
        Value::Object(o) => Ok((
            o.get("class_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            o.get("config").cloned().unwrap_or(Value::Null),
        )),
        _ => Err(format!("{what} must be a name or an object")),
    }
}
