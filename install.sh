#!/usr/bin/env bash
# The work behind Dokku's `install` and `update` triggers of the compose plugin (the files
# `install` and `update` at the plugin root delegate here). Dokku runs `install` on every
# `plugin:install` and `update` on every `plugin:update` of ANY plugin, so this is idempotent
# and, once our binary is installed for this version, touches nothing and downloads nothing.
#
# 1. The binaries (bin/dokku-compose-plugin, bin/dokku-compose-webhook), the first way that
#    works, in this order:
#    a. $DOKKU_COMPOSE_PREBUILT (and $DOKKU_COMPOSE_WEBHOOK_PREBUILT): binaries built elsewhere;
#    b. the release of this version (plugin.toml) for this host's architecture:
#       <release-url>/v<version>/{SHA256SUMS,dokku-compose-plugin-<arch>-linux,
#       dokku-compose-webhook-<arch>-linux}, where <release-url> is $DOKKU_COMPOSE_RELEASE_URL
#       or, for a plugin cloned from GitHub, https://github.com/<owner>/<repo>/releases/download.
#       Downloaded with curl (or wget) over HTTPS only (plain http only to 127.0.0.1,
#       localhost or [::1], for a mirror on the host itself and for the tests), verified
#       against SHA256SUMS, and run once (`--version` must name this version) before it
#       replaces anything; a mismatch or a partial download fails and keeps the old binary;
#    c. `cargo build --release --locked` where cargo is on PATH;
#    otherwise an error naming the three ways. New binaries replace old ones by rename(2).
#    bin/.installed records `<version> <way> <detail>`: the same version is not installed twice
#    (for a cargo build, the same git revision).
# 2. The names Dokku looks for at the plugin root (dokku-facts §a "Multi-call binaries"):
#    the symlinks <trigger> -> triggers/<trigger> and subcommands/<verb> -> ../bin/dokku-compose-plugin
#    (`commands`, `install`, `update` and triggers/ are committed files).
# 3. The data directories, and the webhook receiver's systemd service (root with systemd only).
set -eo pipefail
[[ $DOKKU_TRACE ]] && set -x

PLUGIN_DIR="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)"
BIN="$PLUGIN_DIR/bin/dokku-compose-plugin"
WEBHOOK="$PLUGIN_DIR/bin/dokku-compose-webhook"
STAMP="$PLUGIN_DIR/bin/.installed"
VERBS=(up plan config ps status list logs run releases diff rollback down report set vault-password sync webhook-secret help version rotate projects:create projects:list projects:set-var projects:unset-var projects:vars projects:template projects:apply export import-apps)
TRIGGERS=(post-extract builder-build post-delete uninstall)
# Triggers that record a changed app for the next push (triggers/app-changed).
CHANGE_TRIGGERS=(post-create post-deploy post-config-update post-stop post-app-rename post-domains-update post-proxy-ports-update)

log() { [[ -n "$DOKKU_QUIET_OUTPUT" ]] || echo "-----> $*"; }
warn() { echo " !     $*" >&2; }
fail() {
  warn "$*"
  exit 1
}

plugin_version() {
  sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$PLUGIN_DIR/plugin.toml" | head -1
}

revision() {
  git -C "$PLUGIN_DIR" rev-parse HEAD 2>/dev/null || echo "unversioned"
}

# x86_64 or aarch64 (the names of the release files), from `uname -m`.
host_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x86_64 ;;
    aarch64 | arm64) echo aarch64 ;;
    *) uname -m ;;
  esac
}

# Whether the installed binary is this version (and, when built with cargo, this revision).
up_to_date() {
  [[ -x "$BIN" && -f "$STAMP" ]] || return 1
  local version way detail
  read -r version way detail <"$STAMP" || true
  [[ "$version" == "$VERSION" ]] || return 1
  [[ "$way" != cargo || "$detail" == "$(revision)" ]]
}

# Moves $1 over $2 in one rename(2) (both in bin/).
swap() {
  chmod 0755 "$1"
  mv -f "$1" "$2"
}

# The binary $1 answers `--version` with this version (refuses a binary for another
# architecture or another version before it replaces anything).
runs_as_this_version() {
  local out
  out="$("$1" --version 2>&1)" || return 1
  [[ "$out" == "compose $VERSION "* ]]
}

from_prebuilt() {
  [[ -x "$DOKKU_COMPOSE_PREBUILT" ]] || fail "DOKKU_COMPOSE_PREBUILT=$DOKKU_COMPOSE_PREBUILT is not an executable"
  install -m 0755 "$DOKKU_COMPOSE_PREBUILT" "$BIN.new"
  swap "$BIN.new" "$BIN"
  if [[ -n "$DOKKU_COMPOSE_WEBHOOK_PREBUILT" ]]; then
    [[ -x "$DOKKU_COMPOSE_WEBHOOK_PREBUILT" ]] || fail "DOKKU_COMPOSE_WEBHOOK_PREBUILT=$DOKKU_COMPOSE_WEBHOOK_PREBUILT is not an executable"
    install -m 0755 "$DOKKU_COMPOSE_WEBHOOK_PREBUILT" "$WEBHOOK.new"
    swap "$WEBHOOK.new" "$WEBHOOK"
  fi
  echo "$VERSION prebuilt" >"$STAMP"
}

# The base URL of the releases: $DOKKU_COMPOSE_RELEASE_URL, or GitHub's for a plugin cloned
# from GitHub; empty when there is none.
release_url() {
  if [[ -n "$DOKKU_COMPOSE_RELEASE_URL" ]]; then
    echo "${DOKKU_COMPOSE_RELEASE_URL%/}"
    return
  fi
  local origin
  origin="$(git -C "$PLUGIN_DIR" config --get remote.origin.url 2>/dev/null || true)"
  if [[ "$origin" =~ ^(https://github\.com/|git@github\.com:|ssh://git@github\.com/)([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)$ ]]; then
    echo "https://github.com/${BASH_REMATCH[2]}/${BASH_REMATCH[3]%.git}/releases/download"
  fi
}

# Plain http is allowed only to the host itself.
allowed_url() {
  [[ "$1" == https://* || "$1" =~ ^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?(/|$) ]]
}

# download URL FILE: HTTPS only (see allowed_url), redirects to HTTPS only, fails on an HTTP
# error or a short transfer.
download() {
  if command -v curl >/dev/null 2>&1; then
    local proto='=https'
    [[ "$1" == http://* ]] && proto='=http'
    curl --fail --silent --show-error --location --proto "$proto" --proto-redir "$proto" \
      --connect-timeout 15 --max-time 600 --retry 2 --output "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --tries=3 --timeout=30 --max-redirect=5 --output-document="$2" "$1"
  else
    echo "neither curl nor wget is installed" >&2
    return 1
  fi
}

# Installs the release and sets RELEASED=1; leaves RELEASED=0 and says why in NOT_RELEASED
# when there is no release to use (the next way is tried); fails (exit 1) when a release exists
# but its files are broken or do not run here.
from_release() {
  local base arch dir sums line want file got
  RELEASED=0
  base="$(release_url)"
  if [[ -z "$base" ]]; then
    NOT_RELEASED="no release URL (set DOKKU_COMPOSE_RELEASE_URL, or install from the GitHub repository)"
    return 0
  fi
  allowed_url "$base" || fail "DOKKU_COMPOSE_RELEASE_URL=$base: only https:// URLs are allowed (plain http only to 127.0.0.1, localhost or [::1])"
  arch="$(host_arch)"
  DOWNLOAD_DIR="$(mktemp -d "$PLUGIN_DIR/bin/.download.XXXXXX")"
  dir="$DOWNLOAD_DIR"
  if ! download "$base/v$VERSION/SHA256SUMS" "$dir/SHA256SUMS" 2>"$dir/err"; then
    NOT_RELEASED="no release v$VERSION at $base ($(tail -1 "$dir/err"))"
    return 0
  fi
  sums=()
  for file in dokku-compose-plugin-$arch-linux dokku-compose-webhook-$arch-linux; do
    line="$(awk -v f="$file" '$2 == f || $2 == "*" f { print $1; exit }' "$dir/SHA256SUMS")"
    if [[ ! "$line" =~ ^[0-9a-f]{64}$ ]]; then
      NOT_RELEASED="release v$VERSION at $base has no $file for this host's architecture ($arch)"
      return 0
    fi
    sums+=("$line")
  done
  log "Downloading the compose plugin v$VERSION for $arch from $base"
  local i=0
  for file in dokku-compose-plugin-$arch-linux dokku-compose-webhook-$arch-linux; do
    want="${sums[$i]}"
    i=$((i + 1))
    download "$base/v$VERSION/$file" "$dir/$file" || fail "downloading $base/v$VERSION/$file failed; the installed binary is unchanged"
    got="$(sha256sum "$dir/$file" | cut -d' ' -f1)"
    [[ "$got" == "$want" ]] || fail "$file does not match SHA256SUMS (sha256 $got, expected $want): refused; the installed binary is unchanged"
  done
  chmod 0755 "$dir/dokku-compose-plugin-$arch-linux" "$dir/dokku-compose-webhook-$arch-linux"
  # Named so that the multi-call binary knows it is itself (see src/cli/plugin/mod.rs).
  mv "$dir/dokku-compose-plugin-$arch-linux" "$dir/dokku-compose-plugin"
  runs_as_this_version "$dir/dokku-compose-plugin" || fail "the downloaded dokku-compose-plugin does not run here as version $VERSION ($arch): refused; the installed binary is unchanged"
  mv -f "$dir/dokku-compose-webhook-$arch-linux" "$WEBHOOK.new"
  mv -f "$dir/dokku-compose-plugin" "$BIN.new"
  swap "$WEBHOOK.new" "$WEBHOOK"
  swap "$BIN.new" "$BIN"
  echo "$VERSION release ${sums[0]}" >"$STAMP"
  RELEASED=1
}

from_cargo() {
  local rev target
  rev="$(revision)"
  log "Building the compose plugin (cargo build --release), this takes a few minutes once"
  target="${DOKKU_COMPOSE_CARGO_TARGET_DIR:-$PLUGIN_DIR/target}"
  DOKKU_COMPOSE_COMMIT="$rev" CARGO_TARGET_DIR="$target" cargo build --quiet --release --locked --manifest-path "$PLUGIN_DIR/Cargo.toml" --bin dokku-compose-plugin --bin dokku-compose-webhook ||
    fail "building the compose plugin failed"
  install -m 0755 "$target/release/dokku-compose-webhook" "$WEBHOOK.new"
  install -m 0755 "$target/release/dokku-compose-plugin" "$BIN.new"
  swap "$WEBHOOK.new" "$WEBHOOK"
  swap "$BIN.new" "$BIN"
  echo "$VERSION cargo $rev" >"$STAMP"
}

# Sets CHANGED=1 when new binaries were put in place.
binaries() {
  CHANGED=0
  mkdir -p "$PLUGIN_DIR/bin"
  if [[ -n "$DOKKU_COMPOSE_PREBUILT" ]]; then
    from_prebuilt
    CHANGED=1
    return
  fi
  up_to_date && return
  CHANGED=1
  from_release
  [[ "$RELEASED" == 1 ]] && return
  log "No prebuilt release to use: $NOT_RELEASED"
  if command -v cargo >/dev/null 2>&1; then
    from_cargo
    return
  fi
  fail "cannot install the compose plugin's binary v$VERSION for $(host_arch); cargo not found. Use one of:
 !       1. DOKKU_COMPOSE_PREBUILT=/path/to/dokku-compose-plugin dokku plugin:install ... (a binary built for this host)
 !       2. a release: $NOT_RELEASED
 !       3. a Rust toolchain (cargo, https://rustup.rs) for this user, to build it here"
}

layout() {
  mkdir -p "$PLUGIN_DIR/subcommands"
  local verb trigger
  for verb in "${VERBS[@]}"; do
    ln -sfn ../bin/dokku-compose-plugin "$PLUGIN_DIR/subcommands/$verb"
  done
  for trigger in "${TRIGGERS[@]}"; do
    ln -sfn "triggers/$trigger" "$PLUGIN_DIR/$trigger"
  done
  for trigger in "${CHANGE_TRIGGERS[@]}"; do
    ln -sfn triggers/app-changed "$PLUGIN_DIR/$trigger"
  done
}

data() {
  local lib="${DOKKU_LIB_ROOT:-${DOKKU_LIB_PATH:-/var/lib/dokku}}"
  mkdir -p "$lib/data/compose" "$lib/config/compose"
  chmod 0700 "$lib/data/compose"
  if [[ "$(id -u)" == 0 ]] && id dokku >/dev/null 2>&1; then
    chown dokku:dokku "$lib/data/compose" "$lib/config/compose"
  fi
}

# The webhook receiver runs as a systemd service where the host has systemd and we are root
# (docs/webhook.md); it listens on loopback only and deploys only stacks with `webhook true`.
# (Re)started only when the binaries changed or the unit is missing.
webhook_service() {
  [[ -x "$WEBHOOK" ]] || return 0
  if [[ "$(id -u)" != 0 || ! -d /run/systemd/system ]] || ! command -v systemctl >/dev/null 2>&1 || [[ -n "$DOKKU_COMPOSE_NO_WEBHOOK_SERVICE" ]]; then
    return 0
  fi
  local unit=/etc/systemd/system/dokku-compose-webhook.service
  [[ "$CHANGED" == 1 || ! -f "$unit" ]] || return 0
  sed "s|/usr/local/bin/dokku-compose-webhook|$WEBHOOK|" "$PLUGIN_DIR/contrib/dokku-compose-webhook.service" >"$unit"
  systemctl daemon-reload
  systemctl enable --now dokku-compose-webhook.service >/dev/null 2>&1 || warn "could not start dokku-compose-webhook.service (systemctl status dokku-compose-webhook)"
  systemctl try-restart dokku-compose-webhook.service >/dev/null 2>&1 || true
}

VERSION="$(plugin_version)"
[[ -n "$VERSION" ]] || fail "$PLUGIN_DIR/plugin.toml has no version"
mkdir -p "$PLUGIN_DIR/bin"
DOWNLOAD_DIR=""
trap '[[ -z "$DOWNLOAD_DIR" ]] || rm -rf "$DOWNLOAD_DIR"' EXIT
# One install at a time (two `plugin:install` runs at once).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$PLUGIN_DIR/bin/.install.lock"
  flock 9
fi
binaries
layout
data
webhook_service
