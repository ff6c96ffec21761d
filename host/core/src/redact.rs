//! Redaction of kept audit inputs: JSON pointers with `*` wildcards.

use serde_json::Value;

/// What redacted values are replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Replace every value `pointers` select in `value` by [`REDACTED`]. A
/// pointer is RFC 6901 (`~0` is `~`, `~1` is `/`), plus `*` for "any key or
/// index". Pointers that select nothing are ignored.
pub fn redact(value: &mut Value, pointers: &[String]) {
    for pointer in pointers {
        let tokens: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        if !tokens.is_empty() {
            redact_at(value, &tokens);
        }
    }
}

fn redact_at(value: &mut Value, tokens: &[String]) {
    let (first, rest) = (&tokens[0], &tokens[1..]);
    let mut apply = |child: &mut Value| {
        if rest.is_empty() {
            *child = Value::String(REDACTED.into());
        } else {
            redact_at(child, rest);
        }
    };
    match value {
        Value::Object(map) if first == "*" => map.values_mut().for_each(&mut apply),
        Value::Object(map) => {
            if let Some(child) = map.get_mut(first.as_str()) {
                apply(child);
            }
        }
        Value::Array(items) if first == "*" => items.iter_mut().for_each(&mut apply),
        Value::Array(items) => {
            if let Some(child) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                apply(child);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[track_caller]
    fn check(mut input: serde_json::Value, pointers: &[&str], expect: serde_json::Value) {
        let pointers: Vec<String> = pointers.iter().map(|s| s.to_string()).collect();
        super::redact(&mut input, &pointers);
        assert_eq!(input, expect);
    }

    #[test]
    fn cases() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "env": [{"name": "K", "value": "secret"}]},
            {"name": "b", "env": [{"name": "T", "value": "token"}]}
        ]}});
        check(
            pod.clone(),
            &["/spec/containers/*/env/*/value"],
            json!({"spec": {"containers": [
                {"name": "a", "env": [{"name": "K", "value": "[REDACTED]"}]},
                {"name": "b", "env": [{"name": "T", "value": "[REDACTED]"}]}
            ]}}),
        );
        check(
            pod.clone(),
            &["/spec/containers/1/env"],
            json!({"spec": {"containers": [
                {"name": "a", "env": [{"name": "K", "value": "secret"}]},
                {"name": "b", "env": "[REDACTED]"}
            ]}}),
        );
        check(
            pod.clone(),
            &["/missing/path", "/spec/containers/9"],
            pod.clone(),
        );
        check(
            json!({"a/b": 1, "c~d": 2}),
            &["/a~1b", "/c~0d"],
            json!({"a/b": "[REDACTED]", "c~d": "[REDACTED]"}),
        );
        check(json!({"a": 1}), &["/"], json!({"a": 1}));
    }
}
