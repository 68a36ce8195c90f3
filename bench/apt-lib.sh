# Sourced by the bench scripts: installs the Debian packages named as arguments (as root,
# or through sudo), quietly; does nothing without arguments.
apt_install() {
  [ $# -gt 0 ] || return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  printf '==> installing %s\n' "$*" >&2
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
