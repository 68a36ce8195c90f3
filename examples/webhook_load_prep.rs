//! Prepares a partner-webhook load run (used by `bench/webhook-load.sh`): a fresh P-256
//! signing key and GitHub-style key list, valid `xai_api_key` tokens to import as issued
//! keys, and pre-signed alert bodies for wrk, so the load generator spends no CPU on
//! ECDSA and the server's measured cost includes one signature check per request.
//!
//! Usage: `webhook_load_prep OUT_DIR REQUESTS TOKENS_PER_REQUEST [foreign]`; with
//! `foreign` the tokens are of a type we do not issue, which measures the HTTP and
//! signature path alone (no database work).
//! Writes `OUT_DIR/keys.json`, `OUT_DIR/tokens.txt` (one a line) and
//! `OUT_DIR/requests.tsv` (`key_id \t base64 signature \t body` per line).

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use revokd::secret::sha256_hex;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, requests, per_request, foreign) = match args.as_slice() {
        [out, requests, per_request] => (out, requests, per_request, false),
        [out, requests, per_request, kind] if kind == "foreign" => (out, requests, per_request, true),
        _ => return Err("usage: webhook_load_prep OUT_DIR REQUESTS TOKENS_PER_REQUEST [foreign]".into()),
    };
    let out = PathBuf::from(out);
    let requests: usize = requests.parse()?;
    let per_request: usize = per_request.parse()?;
    std::fs::create_dir_all(&out)?;

    let seed = format!("{:?}", SystemTime::now().duration_since(UNIX_EPOCH)?);
    let signing = SigningKey::from_slice(&hex::decode(sha256_hex(seed.as_bytes()))?)?;
    let pem = signing.verifying_key().to_public_key_pem(LineEnding::LF)?;
    let key_id = sha256_hex(pem.as_bytes());
    let keys = serde_json::json!({"public_keys": [{"key_identifier": key_id, "key": pem, "is_current": true}]});
    std::fs::write(out.join("keys.json"), serde_json::to_vec(&keys)?)?;

    let mut tokens = BufWriter::new(std::fs::File::create(out.join("tokens.txt"))?);
    let mut lines = BufWriter::new(std::fs::File::create(out.join("requests.tsv"))?);
    for r in 0..requests {
        let alerts: Vec<_> = (0..per_request)
            .map(|t| {
                let mut token = token(&format!("{seed}/{r}/{t}"));
                if foreign {
                    token = token.replacen("xai-", "zzz-", 1);
                }
                serde_json::json!({"token": token, "type": "xai_api_key", "url": format!("https://github.com/load/test/blob/main/f{r}.py"), "source": "content"})
            })
            .collect();
        for alert in &alerts {
            writeln!(tokens, "{}", alert["token"].as_str().unwrap_or_default())?;
        }
        let body = serde_json::to_string(&alerts)?;
        let signature: Signature = signing.sign(body.as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
        writeln!(lines, "{key_id}\t{signature}\t{body}")?;
    }
    tokens.flush()?;
    lines.flush()?;
    Ok(())
}

/// A valid `xai_api_key` token (80 base62 characters) derived from `seed`.
fn token(seed: &str) -> String {
    let mut out = String::from("xai-");
    let mut block = 0;
    while out.len() < 84 {
        let digest = hex::decode(sha256_hex(format!("{seed}/{block}").as_bytes())).unwrap_or_default();
        out.extend(digest.iter().map(|b| BASE62[usize::from(*b) % 62] as char));
        block += 1;
    }
    out.truncate(84);
    out
}
