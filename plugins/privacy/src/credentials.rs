//! Recognising credentials in plain strings: well-known token formats, and
//! the Shannon entropy used to judge values under secret-looking names.
//!
//! Token formats are recognised by their documented prefixes and shapes, with
//! the surrounding characters checked so that `task-…` is not an OpenAI key
//! and a JWT's header must decode to a JSON object with an `alg`. None of
//! this says anything about the value except its kind; callers report the
//! kind and where it is, never the value.

use std::collections::BTreeMap;

/// A well-known credential format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// AWS access key id (`AKIA…` long-term, `ASIA…` temporary).
    AwsAccessKey,
    /// GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GitHubToken,
    /// Slack token (`xoxb-`, `xoxa-`, `xoxp-`, `xoxr-`, `xoxs-`).
    SlackToken,
    /// OpenAI-style secret key (`sk-…`, also used by Anthropic and others).
    OpenAiKey,
    /// Hugging Face access token (`hf_…`).
    HuggingFaceToken,
    /// Google API key (`AIza…`).
    GoogleApiKey,
    /// A PEM private key (`-----BEGIN … PRIVATE KEY-----`).
    PrivateKey,
    /// A JSON Web Token.
    Jwt,
}

impl Kind {
    /// What a finding calls it.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::AwsAccessKey => "an AWS access key id",
            Kind::GitHubToken => "a GitHub token",
            Kind::SlackToken => "a Slack token",
            Kind::OpenAiKey => "an OpenAI-style API key",
            Kind::HuggingFaceToken => "a Hugging Face token",
            Kind::GoogleApiKey => "a Google API key",
            Kind::PrivateKey => "a PEM private key",
            Kind::Jwt => "a JSON Web Token",
        }
    }
}

/// The first well-known credential in `text`, if any.
pub fn known_format(text: &str) -> Option<Kind> {
    if let Some(at) = text.find("-----BEGIN ") {
        let header = &text[at + "-----BEGIN ".len()..];
        let label = header.split("-----").next().unwrap_or_default();
        if label.len() <= 40
            && (label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK"))
        {
            return Some(Kind::PrivateKey);
        }
    }
    let bytes = text.as_bytes();
    (0..bytes.len())
        .filter(|&i| i == 0 || !is_token_byte(bytes[i - 1]))
        .find_map(|i| token_at(text, i))
}

/// Bytes that continue a token: an earlier one means `i` is mid-token.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The credential starting at byte `i` of `text`, if one does.
fn token_at(text: &str, i: usize) -> Option<Kind> {
    let rest = &text.as_bytes()[i..];
    let run = |from: usize, allowed: fn(u8) -> bool| {
        rest[from.min(rest.len())..]
            .iter()
            .take_while(|&&b| allowed(b))
            .count()
    };
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let upper_alnum = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let token = |b: u8| is_token_byte(b);
    // A token ends where its character class ends, unless a token character
    // follows (then it is a longer identifier that merely starts this way).
    let ends = |len: usize| !rest.get(len).is_some_and(|&b| is_token_byte(b));
    let has_digit = |from: usize, len: usize| rest[from..from + len].iter().any(u8::is_ascii_digit);
    if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") {
        return (run(4, upper_alnum) == 16 && ends(20)).then_some(Kind::AwsAccessKey);
    }
    if [b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"]
        .iter()
        .any(|p| rest.starts_with(*p))
    {
        let n = run(4, alnum);
        return (n >= 36 && ends(4 + n)).then_some(Kind::GitHubToken);
    }
    if rest.starts_with(b"github_pat_") {
        let n = run(11, word);
        return (n >= 22 && ends(11 + n)).then_some(Kind::GitHubToken);
    }
    if rest.starts_with(b"xox")
        && rest.get(3).is_some_and(|b| b"baprs".contains(b))
        && rest.get(4) == Some(&b'-')
    {
        let n = run(5, token);
        return (n >= 10 && has_digit(5, n)).then_some(Kind::SlackToken);
    }
    if rest.starts_with(b"sk-") {
        let n = run(3, token);
        let letters = rest[3..3 + n].iter().any(u8::is_ascii_alphabetic);
        return (n >= 20 && letters && has_digit(3, n)).then_some(Kind::OpenAiKey);
    }
    if rest.starts_with(b"hf_") {
        let n = run(3, alnum);
        return (n >= 30 && ends(3 + n)).then_some(Kind::HuggingFaceToken);
    }
    if rest.starts_with(b"AIza") {
        return (run(4, token) == 35).then_some(Kind::GoogleApiKey);
    }
    if rest.starts_with(b"eyJ") {
        return is_jwt(&text[i..]).then_some(Kind::Jwt);
    }
    None
}

/// Whether `text` starts with `header.payload.signature`, base64url, whose
/// header decodes to a JSON object naming its algorithm.
fn is_jwt(text: &str) -> bool {
    // The signature may be empty (`alg: none`) but its dot may not.
    let mut segments = text.splitn(3, '.');
    let (Some(header), Some(payload), Some(_signature)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return false;
    };
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !(base64url(header) && base64url(payload) && payload.starts_with("eyJ")) {
        return false;
    }
    let Some(decoded) = base64url_decode(header) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&decoded)
        .ok()
        .is_some_and(|v| v.get("alg").is_some_and(serde_json::Value::is_string))
}

/// Decode unpadded base64url (RFC 4648 §5).
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let value = |b: u8| match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for b in text.bytes() {
        buffer = (buffer << 6) | u32::from(value(b)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Shannon entropy of `text`'s characters, in bits per character:
/// H = −Σ p·log2 p over the frequency p of each distinct character.
pub fn entropy(text: &str) -> f64 {
    let mut counts: BTreeMap<char, usize> = BTreeMap::new();
    let mut total = 0usize;
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    let total = total as f64;
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / total;
            -p * p.log2()
        })
        .sum()
}

/// Whether a literal value is a reference or a placeholder rather than a
/// secret: `$(VAR)` (expanded by the kubelet), `${VAR}`, `{{ template }}`,
/// `<your-token>`, or a file path.
pub fn is_placeholder(value: &str) -> bool {
    let value = value.trim();
    value.contains("$(")
        || value.contains("${")
        || value.contains("{{")
        || (value.starts_with('<') && value.ends_with('>'))
        || value.starts_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_formats() {
        // Fabricated values in each format's shape; none is a live credential.
        let aws = "AKIAIOSFODNN7EXAMPLE";
        let github = format!("ghp_{}", "a1B2c3D4e5".repeat(4));
        let pat = format!("github_pat_11ABCDEFG0_{}", "x9".repeat(30));
        let slack = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
        let openai = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12";
        let hf = format!("hf_{}", "AbCdEfGhIjKlMnOpQrStUvWxYz12345678");
        let google = format!("AIza{}", "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q");
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----";
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzYSJ9.c2lnbmF0dXJl";
        for (text, want) in [
            (aws.to_owned(), Kind::AwsAccessKey),
            ("ASIAY34FZKBOKMUTVV7A".to_owned(), Kind::AwsAccessKey),
            (github, Kind::GitHubToken),
            (pat, Kind::GitHubToken),
            (slack.to_owned(), Kind::SlackToken),
            (openai.to_owned(), Kind::OpenAiKey),
            (hf.clone(), Kind::HuggingFaceToken),
            (format!("--token={hf}"), Kind::HuggingFaceToken),
            (google, Kind::GoogleApiKey),
            (pem.to_owned(), Kind::PrivateKey),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----".to_owned(),
                Kind::PrivateKey,
            ),
            (jwt.to_owned(), Kind::Jwt),
            (format!("Bearer {jwt}"), Kind::Jwt),
        ] {
            assert_eq!(known_format(&text), Some(want), "{text}");
        }
    }

    #[test]
    fn not_credentials() {
        for text in [
            "",
            "AKIAIOSFODNN7EXAMPL",
            "AKIAIOSFODNN7EXAMPLE1",
            "xAKIAIOSFODNN7EXAMPLE",
            "ghp_short",
            "task-1234567890abcdefghij",
            "sk-learn-is-a-python-library",
            "hf_transfer",
            "-----BEGIN CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----",
            "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiJzYSJ9.c2ln",
            "eyJhbGciOiJIUzI1NiJ9",
            "xoxb-not-a-token",
            "https://huggingface.co/meta-llama/Llama-3.1-8B",
        ] {
            assert_eq!(known_format(text), None, "{text}");
        }
    }

    #[test]
    fn base64url() {
        assert_eq!(
            base64url_decode("eyJhbGciOiJub25lIn0").unwrap(),
            br#"{"alg":"none"}"#
        );
        assert_eq!(base64url_decode("YQ").unwrap(), b"a");
        assert_eq!(base64url_decode("a+b"), None);
    }

    #[test]
    fn entropy_in_bits_per_character() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(entropy(""), 0.0));
        assert!(close(entropy("aaaa"), 0.0));
        assert!(close(entropy("abab"), 1.0));
        assert!(close(entropy("0123456789abcdef"), 4.0));
        assert!(entropy("changeme-changeme") < 3.5);
        assert!(entropy("q8Zt2LwX9vRk4NpB7sYc") > 4.0);
    }

    #[test]
    fn placeholders() {
        for value in [
            "$(DB_PASSWORD)",
            "${TOKEN}",
            "{{ .Values.token }}",
            "<your-token>",
            "/var/run/secrets/token",
        ] {
            assert!(is_placeholder(value), "{value}");
        }
        assert!(!is_placeholder("q8Zt2LwX9vRk4NpB7sYc"));
    }
}
