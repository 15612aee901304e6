# Kaldi/ESPnet-style option parsing, sourced by run.sh after it sets its defaults.
#   --name value     sets the shell variable `name` (dashes become underscores); it must already exist
#   --flag           for a variable whose value is true/false, sets it to true
#   --help / -h      prints $help_message
# An unknown option is an error. Positional arguments are left in "$@".
# Also defines the checks of option values (recipe_error, require_int, is_number, is_positive, require_seconds), quote_cmd and
# rerun_cmd.
# shellcheck shell=bash
_lw_args=("$@")  # the command line as given

# recipe_error MESSAGE: a usage error, reported as lwasr reports its own: one line on stderr, exit status 2.
recipe_error() {
  echo "$0: $*" >&2
  exit 2
}

# require_int MIN NAME...: every option NAME must be a whole number >= MIN (leading zeros are dropped).
require_int() {
  local min=$1 name value
  shift
  for name in "$@"; do
    value=${!name}
    if [[ ! $value =~ ^[0-9]{1,9}$ ]] || (( 10#$value < min )); then
      recipe_error "--${name//_/-} must be a whole number >= $min, not '$value'"
    fi
    printf -v "$name" '%d' "$(( 10#$value ))"
  done
}

# is_number VALUE: whether VALUE is a number, in decimal or exponent notation (-1, 30, 0.5, 1e-4).
is_number() {
  [[ $1 =~ ^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,2})?$ ]]
}

# is_positive VALUE: whether VALUE is a number > 0.
is_positive() {
  [[ $1 != -* ]] && is_number "$1" && [[ ${1%%[eE]*} =~ [1-9] ]]
}

# require_seconds NAME...: every option NAME must be a number of seconds > 0 (e.g. 30 or 0.5).
require_seconds() {
  local name value
  for name in "$@"; do
    value=${!name}
    is_positive "$value" || recipe_error "--${name//_/-} must be a number of seconds > 0, not '$value'"
  done
}

# quote_cmd WORD...: the words as one shell-quoted command line.
quote_cmd() {
  printf '%q ' "$@" | sed 's/ $//'
}

# rerun_cmd FROM [TO]: this run's command line ("$0" and its options) with --stage FROM --stop-stage TO (default FROM) instead.
rerun_cmd() {
  local args=(bash "$0") skip=false a
  for a in "${_lw_args[@]}"; do
    if $skip; then skip=false; continue; fi
    case $a in
      --stage|--stop-stage|--stop_stage) skip=true ;;
      --stage=*|--stop-stage=*|--stop_stage=*) ;;
      *) args+=("$a") ;;
    esac
  done
  args+=(--stage "$1" --stop-stage "${2:-$1}")
  quote_cmd "${args[@]}"
}

# _lw_option NAME: the shell variable that option --NAME sets; an error unless the recipe defines it.
_lw_option() {
  local var=${1//-/_}
  if [[ ! $var =~ ^[a-zA-Z_][a-zA-Z0-9_]*$ ]] || ! declare -p "$var" >/dev/null 2>&1; then
    recipe_error "unknown option --$1 (see $0 --help)"
  fi
  echo "$var"
}

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help)
      echo "${help_message:-no help available}"; exit 0 ;;
    --*=*)
      _name=${1%%=*}; _name=${_name#--}; _var=$(_lw_option "$_name") || exit 2; _value=${1#*=}; shift ;;
    --*)
      _name=${1#--}; _var=$(_lw_option "$_name") || exit 2; shift
      if [[ $# -eq 0 || "$1" == --* ]]; then
        if [[ "${!_var}" == true || "${!_var}" == false ]]; then _value=true
        else recipe_error "option --$_name needs a value"; fi
      else
        _value=$1; shift
      fi ;;
    *) break ;;
  esac
  printf -v "$_var" '%s' "$_value"
  _lw_given_options+=" $_var"
done
unset _name _value _var
