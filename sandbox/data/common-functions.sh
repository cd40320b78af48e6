#!/usr/bin/env bash
# Sandbox stand-in for $PLUGIN_CORE_AVAILABLE_PATH/common/functions (written for the dokku
# sandbox, not copied from Dokku). Only the helpers a community plugin commonly calls are here;
# output prefixes follow dokku-facts.md section d "Log helpers".

dokku_log_info1() { echo "-----> $*"; }
dokku_log_info2() { echo "=====> $*"; }
dokku_log_verbose() { echo "       $*"; }
dokku_log_warn() { echo " !     $*" 1>&2; }
dokku_log_exclaim() { echo " !     $*"; }
dokku_log_quiet() { [[ -z "$DOKKU_QUIET_OUTPUT" ]] && echo "$*"; return 0; }
dokku_log_info1_quiet() { [[ -z "$DOKKU_QUIET_OUTPUT" ]] && dokku_log_info1 "$@"; return 0; }
dokku_log_info2_quiet() { [[ -z "$DOKKU_QUIET_OUTPUT" ]] && dokku_log_info2 "$@"; return 0; }
dokku_log_verbose_quiet() { [[ -z "$DOKKU_QUIET_OUTPUT" ]] && dokku_log_verbose "$@"; return 0; }
dokku_log_warn_quiet() { [[ -z "$DOKKU_QUIET_OUTPUT" ]] && dokku_log_warn "$@"; return 0; }
dokku_log_fail() { echo " !     $*" 1>&2; exit "${DOKKU_FAIL_EXIT_CODE:-1}"; }
dokku_log_fail_quiet() { [[ -z "$DOKKU_QUIET_OUTPUT" ]] && echo " !     $*" 1>&2; exit "${DOKKU_FAIL_EXIT_CODE:-1}"; }
dokku_log_exit() { echo "$*" 1>&2; exit 0; }
dokku_log_event() { :; }

is_valid_app_name() {
  [[ "$1" =~ ^[a-z0-9][a-z0-9.-]*$ ]]
}

verify_app_name() {
  local APP="$1"
  [[ -z "$APP" ]] && dokku_log_fail "App name must not be empty"
  is_valid_app_name "$APP" || [[ "$APP" =~ ^[a-z0-9][a-z0-9._-]*$ ]] \
    || dokku_log_fail "App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens"
  [[ -d "$DOKKU_ROOT/$APP" ]] || DOKKU_FAIL_EXIT_CODE=20 dokku_log_fail "App $APP does not exist"
  return 0
}

dokku_apps() {
  local a found=false
  for a in "$DOKKU_ROOT"/*/; do
    a="$(basename "$a")"
    [[ "$a" =~ ^[a-z0-9][a-z0-9._-]*$ ]] || continue
    echo "$a"
    found=true
  done
  [[ "$found" == "true" ]] || dokku_log_fail "You haven't deployed any applications yet"
}

config_get() { dokku config:get "$@"; }
config_set() { dokku config:set "$@"; }
config_unset() { dokku config:unset "$@"; }

fn-plugin-property-get() { fn-plugin-property-get-default "$1" "$2" "$3" ""; }
fn-plugin-property-get-default() {
  local f="$DOKKU_LIB_ROOT/config/$1/$2/$3"
  if [[ -s "$f" ]]; then cat "$f"; else echo "$4"; fi
}
fn-plugin-property-write() {
  mkdir -p "$DOKKU_LIB_ROOT/config/$1/$2"
  printf '%s' "$4" >"$DOKKU_LIB_ROOT/config/$1/$2/$3"
}
fn-plugin-property-delete() { rm -f "$DOKKU_LIB_ROOT/config/$1/$2/$3"; }
