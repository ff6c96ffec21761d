//! Input projection: the members of an object a plugin is not shown.
//!
//! A policy set grants each plugin its input (`input.omit` in a plugin's
//! entry). Much of a Kubernetes object's text is bookkeeping that no
//! governance policy reads: `metadata.managedFields` (server-side apply's
//! field ownership) is a third to a half of a typical object, and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation is a second
//! copy of the whole object. Every plugin parses the object it is given, in
//! its own sandbox, so leaving them out is the largest saving on the
//! admission path; [`DEFAULT_OMIT`] is what a plugin entry omits unless it
//! says otherwise.
//!
//! [`Omit::apply`] works on the JSON text without building a tree: it copies
//! the text through and skips the omitted members. It does not validate:
//! it expects text a JSON parser has already accepted (the host validates
//! every object as it parses the envelope). On text that is not JSON it
//! never panics, and either returns it unchanged or cuts what it can
//! recognise.

use std::borrow::Cow;

/// What a plugin entry omits when it does not set `input.omit`.
pub const DEFAULT_OMIT: [&str; 2] = [
    "/metadata/managedFields",
    "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
];

/// Most tokens in one pointer: deeper than any object serde_json parses
/// (its nesting limit is 128), and a bound on the trie's recursion.
pub const MAX_POINTER_TOKENS: usize = 64;

/// A set of JSON pointers whose object members are left out.
///
/// Pointers are RFC 6901 (`~1` is `/`, `~0` is `~`), plus `*` for "any member
/// or element". A pointer leads through objects and arrays, but only object
/// members are removed: an array element a pointer ends on stays, so the
/// indexes a plugin reports (`/spec/containers/1`) still address the
/// original object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Omit {
    root: Node,
    pointers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    children: Vec<(String, Node)>,
    remove: bool,
}

impl Omit {
    /// Parse `pointers`. Fails with a message naming the bad pointer.
    pub fn new<S: AsRef<str>>(pointers: &[S]) -> Result<Omit, String> {
        let mut omit = Omit::default();
        for pointer in pointers {
            let pointer = pointer.as_ref();
            let tokens = parse_pointer(pointer)?;
            let mut node = &mut omit.root;
            for token in tokens {
                let at = match node.children.iter().position(|(t, _)| *t == token) {
                    Some(at) => at,
                    None => {
                        node.children.push((token, Node::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[at].1;
            }
            node.remove = true;
            omit.pointers.push(pointer.to_owned());
        }
        Ok(omit)
    }

    /// The default projection, [`DEFAULT_OMIT`].
    pub fn default_set() -> Omit {
        Omit::new(&DEFAULT_OMIT).expect("DEFAULT_OMIT holds valid pointers")
    }

    /// True when nothing is omitted.
    pub fn is_empty(&self) -> bool {
        self.pointers.is_empty()
    }

    /// The pointers, as written.
    pub fn pointers(&self) -> &[String] {
        &self.pointers
    }

    /// `json` without the omitted members: borrowed when none is present,
    /// otherwise compact text. Text that is not a JSON object (or not valid
    /// JSON) comes back unchanged.
    pub fn apply<'a>(&self, json: &'a str) -> Cow<'a, str> {
        if self.is_empty() {
            return Cow::Borrowed(json);
        }
        let mut writer = Writer {
            text: json,
            bytes: json.as_bytes(),
            out: String::with_capacity(json.len()),
            removed: false,
        };
        let start = ws(writer.bytes, 0);
        if writer.bytes.get(start) != Some(&b'{') {
            return Cow::Borrowed(json);
        }
        match writer.object(start, &[&self.root]) {
            Some(end) if ws(writer.bytes, end) == writer.bytes.len() && writer.removed => {
                Cow::Owned(writer.out)
            }
            _ => Cow::Borrowed(json),
        }
    }
}

/// RFC 6901 tokens of `pointer`.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!(
            "`{pointer}` is not a JSON pointer: start it with `/`, for example `/metadata/managedFields`"
        ));
    };
    if rest.split('/').count() > MAX_POINTER_TOKENS {
        return Err(format!(
            "`{}…` has more than {MAX_POINTER_TOKENS} tokens: no object nests that deep",
            pointer.chars().take(40).collect::<String>()
        ));
    }
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match (c, c == '~') {
                    (_, false) => out.push(c),
                    (_, true) => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(format!(
                                "`{pointer}`: `~` must be followed by 0 (for `~`) or 1 (for `/`)"
                            ));
                        }
                    },
                }
            }
            Ok(out)
        })
        .collect()
}

/// Copies JSON text to `out`, leaving out the members the nodes remove.
struct Writer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    out: String,
    removed: bool,
}

impl Writer<'_> {
    /// Write the object at `i` (a `{`); returns the index after its `}`.
    fn object(&mut self, i: usize, nodes: &[&Node]) -> Option<usize> {
        let b = self.bytes;
        self.out.push('{');
        let mut i = ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            self.out.push('}');
            return Some(i + 1);
        }
        let mut first = true;
        loop {
            let key_start = i;
            let key_end = string_end(b, key_start)?;
            i = ws(b, key_end);
            if b.get(i) != Some(&b':') {
                return None;
            }
            let value_start = ws(b, i + 1);
            // A name that does not decode (a lone surrogate escape, which
            // serde_json's validation lets through) equals no token, but
            // `*` still matches it.
            let key = unescape(&self.text[key_start + 1..key_end - 1]);
            let matched: Vec<&Node> = nodes
                .iter()
                .flat_map(|n| &n.children)
                .filter(|(token, _)| token == "*" || key.as_deref() == Some(token.as_str()))
                .map(|(_, node)| node)
                .collect();
            let value_end = if matched.iter().any(|n| n.remove) {
                self.removed = true;
                value_end(b, value_start)?
            } else {
                if !first {
                    self.out.push(',');
                }
                first = false;
                self.out.push_str(&self.text[key_start..key_end]);
                self.out.push(':');
                self.value(value_start, &matched)?
            };
            i = ws(b, value_end);
            match b.get(i) {
                Some(b',') => i = ws(b, i + 1),
                Some(b'}') => {
                    self.out.push('}');
                    return Some(i + 1);
                }
                _ => return None,
            }
        }
    }

    /// Write the array at `i` (a `[`); elements are never removed.
    fn array(&mut self, i: usize, nodes: &[&Node]) -> Option<usize> {
        let b = self.bytes;
        self.out.push('[');
        let mut i = ws(b, i + 1);
        if b.get(i) == Some(&b']') {
            self.out.push(']');
            return Some(i + 1);
        }
        let mut index = 0usize;
        loop {
            if index > 0 {
                self.out.push(',');
            }
            let matched: Vec<&Node> = nodes
                .iter()
                .flat_map(|n| &n.children)
                .filter(|(token, _)| token == "*" || array_index(token) == Some(index))
                .map(|(_, node)| node)
                .collect();
            i = ws(b, self.value(i, &matched)?);
            index += 1;
            match b.get(i) {
                Some(b',') => i = ws(b, i + 1),
                Some(b']') => {
                    self.out.push(']');
                    return Some(i + 1);
                }
                _ => return None,
            }
        }
    }

    /// Write the value at `i`, descending only where `nodes` lead.
    fn value(&mut self, i: usize, nodes: &[&Node]) -> Option<usize> {
        let leads = nodes.iter().any(|n| !n.children.is_empty());
        match self.bytes.get(i)? {
            b'{' if leads => self.object(i, nodes),
            b'[' if leads => self.array(i, nodes),
            _ => {
                let end = value_end(self.bytes, i)?;
                self.out.push_str(&self.text[i..end]);
                Some(end)
            }
        }
    }
}

/// The array index a pointer token names: RFC 6901 allows `0` and digits
/// without a leading zero, nothing else (no `+0`, no `01`).
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    (digits && (token == "0" || !token.starts_with('0')))
        .then(|| token.parse().ok())
        .flatten()
}

/// A member name's text between its quotes, unescaped.
fn unescape(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains('\\') {
        return Some(Cow::Borrowed(raw));
    }
    serde_json::from_str::<String>(&format!("\"{raw}\""))
        .ok()
        .map(Cow::Owned)
}

/// The index of the first non-whitespace byte at or after `i`.
fn ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Bytes that matter inside a string (`STRING`) or between values
/// (`STRUCTURE`); the scanners skip every other byte with one table lookup.
const STRING: u8 = 1;
const STRUCTURE: u8 = 2;
static CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    class[b'"' as usize] = STRING | STRUCTURE;
    class[b'\\' as usize] = STRING;
    class[b'{' as usize] = STRUCTURE;
    class[b'}' as usize] = STRUCTURE;
    class[b'[' as usize] = STRUCTURE;
    class[b']' as usize] = STRUCTURE;
    class
};

/// The index of the first byte at or after `i` of class `class`, or `len`.
fn skip_to(b: &[u8], mut i: usize, class: u8) -> usize {
    while i < b.len() && CLASS[usize::from(b[i])] & class == 0 {
        i += 1;
    }
    i
}

/// The index after the string that starts at `i` (a `"`).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut i = i + 1;
    loop {
        i = skip_to(b, i, STRING);
        match b.get(i)? {
            b'"' => return Some(i + 1),
            _ => i += 2,
        }
    }
}

/// The index after the value that starts at `i`, without recursion: nested
/// containers are skipped by counting brackets outside strings.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = i;
            loop {
                i = skip_to(b, i, STRUCTURE);
                match b.get(i)? {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut end = i;
            while !matches!(
                b.get(end),
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            ) {
                end += 1;
            }
            (end > i).then_some(end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// What `apply` must produce: the tree with the members removed.
    fn expected(value: &Value, pointers: &[&str]) -> Value {
        fn remove(value: &mut Value, tokens: &[String]) {
            let (first, rest) = (&tokens[0], &tokens[1..]);
            match value {
                Value::Object(map) => {
                    let keys: Vec<String> = map
                        .keys()
                        .filter(|k| first == "*" || *k == first)
                        .cloned()
                        .collect();
                    for k in keys {
                        if rest.is_empty() {
                            map.remove(&k);
                        } else {
                            remove(map.get_mut(&k).expect("key"), rest);
                        }
                    }
                }
                Value::Array(items) if !rest.is_empty() => {
                    for (i, item) in items.iter_mut().enumerate() {
                        if first == "*" || array_index(first) == Some(i) {
                            remove(item, rest);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut value = value.clone();
        for p in pointers {
            remove(&mut value, &parse_pointer(p).expect("pointer"));
        }
        value
    }

    fn check(text: &str, pointers: &[&str]) {
        let omit = Omit::new(pointers).expect("pointers");
        let got = omit.apply(text);
        let parsed: Value = serde_json::from_str(&got).unwrap_or_else(|e| {
            panic!("projection of {text} by {pointers:?} is not JSON: {e}: {got}")
        });
        let original: Value = serde_json::from_str(text).expect("test input is JSON");
        assert_eq!(
            parsed,
            expected(&original, pointers),
            "{text} by {pointers:?}"
        );
        if parsed == original {
            assert!(
                matches!(got, Cow::Borrowed(_)),
                "nothing removed, so no copy"
            );
        }
    }

    #[test]
    fn default_set_drops_managed_fields_and_last_applied() {
        let object = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "p",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"a\":1}",
                    "keep": "me"
                },
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                "labels": {"team": "x"}
            },
            "spec": {"containers": [{"name": "c"}]}
        });
        let text = serde_json::to_string_pretty(&object).unwrap();
        let got = Omit::default_set().apply(&text);
        let got: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "annotations": {"keep": "me"}, "labels": {"team": "x"}},
                "spec": {"containers": [{"name": "c"}]}
            })
        );
        check(&text, &DEFAULT_OMIT);
    }

    #[test]
    fn members_anywhere_in_the_object() {
        let text = r#" { "a" : 1 , "b" : { "c" : [ 1 , { "d" : "x\"}]" , "e" : null } ] , "f" : true } , "g" : [] , "h" : {} } "#;
        for pointers in [
            &["/a"][..],
            &["/b"],
            &["/b/c"],
            &["/b/c/1/d"],
            &["/b/c/*/d", "/b/c/*/e"],
            &["/b/c/0"],
            &["/b/c/*"],
            &["/*/f"],
            &["/*"],
            &["/g", "/h"],
            &["/h/x"],
            &["/missing"],
            &["/a/deeper"],
            &["/b/c/7/d"],
            &["/b", "/b/c"],
            &[],
        ] {
            check(text, pointers);
        }
    }

    #[test]
    fn escaped_member_names_and_pointer_tokens() {
        let text = r#"{"a\/b":1,"c~d":2,"e\u0066":3,"plain":4}"#;
        check(text, &["/a~1b"]);
        check(text, &["/c~0d"]);
        check(text, &["/ef"]);
        check(text, &["/plain"]);
    }

    #[test]
    fn not_an_object_or_not_json_comes_back_unchanged() {
        let omit = Omit::default_set();
        for text in [
            "[1,2]",
            "\"s\"",
            "3",
            "",
            "{\"metadata\":",
            "{\"metadata\":{}} x",
            "{\"a\" 1}",
        ] {
            assert_eq!(omit.apply(text), text, "{text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let deep = format!(
            "{{\"metadata\":{{\"managedFields\":{}{}}},\"k\":1}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            Omit::default_set().apply(&deep),
            "{\"metadata\":{},\"k\":1}"
        );
    }

    /// Real AdmissionReviews from public projects (`shared/corpus`, beside
    /// the repository): the projection of each object and old object is the
    /// tree with the members removed.
    #[test]
    fn real_admission_reviews() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/admission");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("shared/corpus beside the repository") {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let review: Value = serde_json::from_str(&text).unwrap();
            for key in ["object", "oldObject"] {
                let Some(object) = review["request"].get(key).filter(|o| o.is_object()) else {
                    continue;
                };
                for pointers in [&DEFAULT_OMIT[..], &["/spec/*/*/resources", "/metadata/*"]] {
                    check(&serde_json::to_string_pretty(object).unwrap(), pointers);
                    check(&object.to_string(), pointers);
                }
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} objects in {}", dir.display());
    }

    #[test]
    fn undecodable_names_match_only_wildcards() {
        // serde_json accepts a lone surrogate in a raw value it skips.
        let text = r#"{"\ud800":{"x":1},"metadata":{"managedFields":[1],"\udc00":2}}"#;
        assert!(serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok());
        let omit = Omit::default_set();
        assert_eq!(
            omit.apply(text),
            r#"{"\ud800":{"x":1},"metadata":{"\udc00":2}}"#
        );
        let omit = Omit::new(&["/*/x", "/metadata/*"]).unwrap();
        assert_eq!(omit.apply(text), r#"{"\ud800":{},"metadata":{}}"#);
    }

    #[test]
    fn array_indexes_are_rfc_6901() {
        let text = r#"{"a":[{"k":1},{"k":2}]}"#;
        check(text, &["/a/1/k"]);
        check(text, &["/a/0/k"]);
        for not_an_index in ["/a/+0/k", "/a/01/k", "/a/-/k", "/a//k"] {
            assert_eq!(
                Omit::new(&[not_an_index]).unwrap().apply(text),
                text,
                "{not_an_index}"
            );
        }
    }

    #[test]
    fn bad_pointers_are_named() {
        let deep = "/a".repeat(MAX_POINTER_TOKENS + 1);
        assert!(
            Omit::new(&[deep])
                .unwrap_err()
                .contains("more than 64 tokens")
        );
        assert!(Omit::new(&["/a".repeat(MAX_POINTER_TOKENS)]).is_ok());
        assert!(
            Omit::new(&["metadata"])
                .unwrap_err()
                .contains("start it with `/`")
        );
        assert!(
            Omit::new(&["/a~2"])
                .unwrap_err()
                .contains("`~` must be followed")
        );
        assert!(Omit::new::<&str>(&[]).unwrap().is_empty());
    }
}
