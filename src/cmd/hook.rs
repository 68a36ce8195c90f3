//! `revokd hook install [--pre-push] [--force]`: writes a small git hook that runs this
//! revokd binary, for teams that do not use the pre-commit framework.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::cli::HookCommand;

/// The line that marks a hook as written by revokd (and so safe to replace).
const MARKER: &str = "# Installed by `revokd hook install`";

/// `revokd hook …`.
pub fn hook(command: HookCommand) -> Result<u8> {
    match command {
        HookCommand::Install { pre_push, force } => install(Path::new("."), pre_push, force),
    }
}

fn install(dir: &Path, pre_push: bool, force: bool) -> Result<u8> {
    let name = if pre_push { "pre-push" } else { "pre-commit" };
    let hooks = hooks_dir(dir)?;
    let path = hooks.join(name);
    match std::fs::read_to_string(&path) {
        Ok(existing) if !existing.contains(MARKER) => {
            if !force {
                bail!(
                    "{} exists and was not written by revokd; it was left alone. Use --force to replace it \
                     (it is then kept as {name}.bak), or call `{}` from it yourself",
                    path.display(),
                    hook_command(pre_push, "revokd")
                );
            }
            let backup = hooks.join(format!("{name}.bak"));
            std::fs::rename(&path, &backup).with_context(|| format!("moving {} aside", path.display()))?;
            eprintln!("revokd: the previous {name} hook is now {}", backup.display());
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        // Not UTF-8 text: certainly not ours.
        Err(e) if e.kind() == ErrorKind::InvalidData && !force => {
            bail!("{} exists and was not written by revokd; use --force to replace it", path.display())
        }
        Err(e) if e.kind() == ErrorKind::InvalidData => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let exe = std::env::current_exe().context("finding the revokd binary")?;
    std::fs::create_dir_all(&hooks).with_context(|| format!("creating {}", hooks.display()))?;
    write_executable(&path, &script(&exe, pre_push))?;
    println!("installed {} (runs {})", path.display(), hook_command(pre_push, &exe.display().to_string()));
    Ok(0)
}

/// The hooks directory git runs hooks from (honours `core.hooksPath` and worktrees).
fn hooks_dir(dir: &Path) -> Result<PathBuf> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--path-format=absolute", "--git-path", "hooks"])
        .stdin(Stdio::null())
        .output()
        .context("running git")?;
    if !output.status.success() {
        bail!("not in a git repository: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let text = String::from_utf8(output.stdout).context("git printed a hooks path that is not UTF-8")?;
    Ok(PathBuf::from(text.trim_end_matches('\n')))
}

fn hook_command(pre_push: bool, exe: &str) -> String {
    if pre_push { format!("{exe} scan --pre-push --remote \"$1\"") } else { format!("{exe} scan --staged") }
}

/// The hook: a POSIX shell script that execs revokd by absolute path (GUI git clients
/// often run hooks without the user's PATH).
fn script(exe: &Path, pre_push: bool) -> String {
    let exe = shell_quote(&exe.display().to_string());
    let what = if pre_push { "the commits being pushed" } else { "the staged changes" };
    format!(
        "#!/bin/sh\n{MARKER}: stops secrets in {what}.\n\
         # Delete this file to remove the hook; `git {} --no-verify` skips it once.\n\
         exec {}\n",
        if pre_push { "push" } else { "commit" },
        hook_command(pre_push, &exe)
    )
}

/// `text` in single quotes for sh (a `'` inside becomes `'\''`).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn write_executable(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_quotes_the_binary_path_and_carries_the_marker() {
        let text = script(Path::new("/opt/it's here/revokd"), false);
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains(MARKER));
        assert!(text.contains(r"exec '/opt/it'\''s here/revokd' scan --staged"), "{text}");
        let text = script(Path::new("/usr/bin/revokd"), true);
        assert!(text.contains("exec '/usr/bin/revokd' scan --pre-push --remote \"$1\""), "{text}");
    }
}
