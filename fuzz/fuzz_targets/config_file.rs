//! The configuration loader: TOML text, then `REVOKD_*` overrides, then validation. Any
//! input is a configuration or a `ConfigError`; a valid configuration renders as redacted
//! TOML that loads again.
//!
//! Input: the config text, optionally followed by a NUL and `NAME=value` lines that act
//! as the environment.

#![no_main]

use libfuzzer_sys::fuzz_target;
use revokd::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let Ok(mut config) = Config::from_toml(file) else { return };
    let vars = env.lines().filter_map(|line| line.split_once('=')).map(|(k, v)| (format!("REVOKD_{k}"), v.to_owned()));
    if config.apply_env(vars).is_err() || config.validate().is_err() {
        return;
    }
    let shown = config.to_redacted_toml();
    let again = Config::from_toml(&shown).unwrap_or_else(|e| panic!("redacted config does not load: {e}\n{shown}"));
    again.validate().unwrap_or_else(|e| panic!("redacted config does not validate: {e}\n{shown}"));
});
