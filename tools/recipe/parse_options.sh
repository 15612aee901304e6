# Kaldi/ESPnet-style option parsing, sourced by run.sh after it sets its defaults.
#   --name value     sets the shell variable `name` (dashes become underscores); it must already exist
#   --flag           for a variable whose value is true/false, sets it to true
#   --help / -h      prints $help_message
# An unknown option is an error. Positional arguments are left in "$@".
# shellcheck shell=bash
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help)
      echo "${help_message:-no help available}"; exit 0 ;;
    --*=*)
      _name=${1%%=*}; _name=${_name#--}; _value=${1#*=}; shift ;;
    --*)
      _name=${1#--}; shift
      _var=${_name//-/_}
      if [[ $# -eq 0 || "$1" == --* ]]; then
        if [[ "${!_var-}" == true || "${!_var-}" == false ]]; then _value=true
        else echo "$0: option --$_name needs a value" >&2; exit 1; fi
      else
        _value=$1; shift
      fi ;;
    *) break ;;
  esac
  _var=${_name//-/_}
  if ! declare -p "$_var" >/dev/null 2>&1 || [[ ! "$_var" =~ ^[a-zA-Z_][a-zA-Z0-9_]*$ ]]; then
    echo "$0: unknown option --$_name (see $0 --help)" >&2
    exit 1
  fi
  printf -v "$_var" '%s' "$_value"
  _lw_given_options+=" $_var"
done
unset _name _value _var
