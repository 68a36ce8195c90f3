//! Measures the per-request cost of a partner-signature check (P-256 verify), to size
//! the webhook's CPU budget: `cargo run --release --example verify_cost`.

use std::time::Instant;

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use revokd::github::signature::verify_partner_signature;
use revokd::secret::sha256_hex;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let signing = SigningKey::from_slice(&hex::decode(sha256_hex(b"verify cost"))?)?;
    let body = vec![b'x'; 2000];
    let signature: Signature = signing.sign(&body);
    let signature = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
    let key = *signing.verifying_key();
    let pem = p256::pkcs8::EncodePublicKey::to_public_key_pem(&key, p256::pkcs8::LineEnding::LF)?;
    let partner_key = revokd::github::signature::PartnerKey::from_pem(&pem)?;
    let rounds = 2000;
    let started = Instant::now();
    for _ in 0..rounds {
        verify_partner_signature(&partner_key, &body, &signature)?;
    }
    println!("P-256 verify of a 2 KB body: {:.1} µs", started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds));
    let sec1 = key.to_sec1_point(false);
    let parsed =
        aws_lc_rs::signature::ParsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1, sec1.as_bytes())
            .map_err(|e| e.to_string())?;
    let der = base64::engine::general_purpose::STANDARD.decode(&signature)?;
    let started = Instant::now();
    for _ in 0..rounds {
        parsed.verify_sig(&body, &der).map_err(|e| e.to_string())?;
    }
    println!("aws-lc-rs verify: {:.1} µs", started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds));
    Ok(())
}
