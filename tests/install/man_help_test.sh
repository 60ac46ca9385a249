#!/bin/bash
# The man pages against the program and the docs: every sub-command answers `--help` and
# `authpolicy help CMD` alike, has its section in authpolicy(1), and every option its --help
# names is in that page (and every option the page names is in some --help); pam_policy(8) and
# authpolicy.pol(5) carry every section of docs/pam.md and docs/language.md and render cleanly;
# the bash completion completes commands and options.
#
# usage: man_help_test.sh AUTHPOLICY_BINARY MAN_BUILD_DIR SOURCE_DIR     (ctest -L man)
set -euo pipefail
[[ $# == 3 ]] || { echo "usage: man_help_test.sh AUTHPOLICY MAN_BUILD_DIR SOURCE_DIR" >&2; exit 2; }
authpolicy=$1 mandir=$2 src=$3
failed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
command -v man > /dev/null || { echo "FAIL required tool missing: man (package man-db)"; exit 1; }
for page in authpolicy.1 pam_policy.8 authpolicy.pol.5; do
  [[ -s $mandir/$page ]] ||
    { echo "FAIL $mandir/$page not built (needs go-md2man, Debian package go-md2man)"; exit 1; }
done
page_source=$src/man/authpolicy.1.md

commands=$("$authpolicy" --help | awk '/^commands:/ {on = 1; next} on && NF == 0 {exit} on {print $1}')
[[ -n $commands ]] || fail "authpolicy --help lists no commands"
help_options=""
for command in $commands; do
  if ! by_help=$("$authpolicy" help "$command" 2>&1); then
    fail "authpolicy help $command exits $?"
    continue
  fi
  by_flag=$("$authpolicy" "$command" --help 2>&1) || fail "authpolicy $command --help exits $?"
  [[ $by_help == "$by_flag" ]] || fail "authpolicy help $command differs from authpolicy $command --help"
  [[ $by_help == usage:* ]] || fail "authpolicy help $command does not start with usage:"
  grep -q "^## $command\b" "$page_source" ||
    fail "authpolicy(1) has no section for $command: add '## $command ...' to man/authpolicy.1.md"
  # Options meant only for tests are not an administrator's business.
  options=$(grep -v 'for tests' <<< "$by_help" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
  for option in $options; do
    grep -q -- "$option\b" "$page_source" || fail "authpolicy(1) does not mention $command $option"
  done
  help_options+=" $options"
done
help_options=$(echo $help_options --help)
# Options the page names in the sections of the commands this build has.
while read -r command option; do
  [[ " $(echo $commands) " == *" $command "* ]] || continue
  [[ " $help_options " == *" $option "* ]] ||
    fail "authpolicy(1) names $command $option, which no --help has"
done < <(awk '/^## / {section = $2} section != "" {
               while (match($0, /\*\*--[a-z][a-z0-9-]*/)) {
                 print section, substr($0, RSTART + 2, RLENGTH - 2); $0 = substr($0, RSTART + RLENGTH)
               }
             }' "$page_source" | sort -u)
"$authpolicy" help no-such-command > /dev/null 2>&1 && fail "authpolicy help no-such-command exits 0"
"$authpolicy" help explain | grep -q 'exit 0' || fail "authpolicy help explain documents no exit codes"

for entry in "pam_policy.8:docs/pam.md" "authpolicy.pol.5:docs/language.md" "authpolicy.1:"; do
  page=${entry%%:*} doc=${entry#*:}
  rendered=$(MANWIDTH=200 man --warnings=w -l "$mandir/$page" 2> "$mandir/$page.warnings") ||
    fail "man -l $page exits $?"
  # tbl may find the docs' tables wider than a terminal; man wraps them, nothing is lost.
  if grep -v -e 'table wider than line width' -e "^warning: file '.*', around line [0-9]*:\$" \
       "$mandir/$page.warnings" | grep -q .; then
    fail "$page renders with warnings: $(head -3 "$mandir/$page.warnings")"
  fi
  # Every table fits a 100-column terminal (wc -L: display columns, box drawing included).
  widest=$(MANWIDTH=100 LC_ALL=C.UTF-8 man -l "$mandir/$page" 2> /dev/null |
    { grep -E '^ *[│┌├└]' || true; } | wc -L)
  ((widest <= 100)) || fail "$page has a table $widest columns wide at MANWIDTH=100"
  # ... and no row spills into the next column (a text block closed on its own line).
  grep -qzP 'T\}\n\t' "$mandir/$page" && fail "$page has a table row that starts one column late"
  [[ -n $doc ]] || continue
  while IFS= read -r heading; do
    plain=$(sed -e 's/`//g' <<< "$heading")
    grep -qF -- "$plain" <<< "$rendered" || fail "$page lacks the section '$plain' of $doc"
  done < <(awk '/^```/ {fenced = !fenced; next} !fenced && NR > 1 && /^##* / {sub(/^##* /, ""); print}' \
             "$src/$doc")
done
# The bash completion offers the commands and a command's options from the program itself.
complete_words() {  # complete_words WORD...: prints what <TAB> after the last word offers
  (
    PATH=$(dirname "$authpolicy"):$PATH
    source "$src/dist/authpolicy.bash-completion"
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    _authpolicy
    echo "${COMPREPLY[*]}"
  )
}
[[ $(complete_words authpolicy ch) == check ]] ||
  fail "bash completion of 'authpolicy ch': '$(complete_words authpolicy ch)'"
[[ $(complete_words authpolicy check --st) == --strict ]] ||
  fail "bash completion of 'authpolicy check --st': '$(complete_words authpolicy check --st)'"
[[ $(complete_words authpolicy help exp) == explain ]] ||
  fail "bash completion of 'authpolicy help exp': '$(complete_words authpolicy help exp)'"

# Only commands: not the words of the prose under the command list ("'authpolicy", "man").
first_words=" $(complete_words authpolicy '') "
[[ $first_words == *" check "* && $first_words != *" man "* && $first_words != *"authpolicy"* ]] ||
  fail "bash completion of 'authpolicy ': '$first_words'"
# Arguments: the actions a command's usage names, not file names.
if [[ " $(echo $commands) " == *" audit "* ]]; then
  [[ $(complete_words authpolicy audit '') == "export flush list prune summary verify" ]] ||
    fail "bash completion of 'authpolicy audit ': '$(complete_words authpolicy audit '')'"
fi
if [[ " $(echo $commands) " == *" totp "* ]]; then
  [[ $(complete_words authpolicy totp '') == "code enroll verify" ]] ||
    fail "bash completion of 'authpolicy totp ': '$(complete_words authpolicy totp '')'"
  [[ $(complete_words authpolicy totp enroll roo) == root ]] ||
    fail "bash completion of 'authpolicy totp enroll roo': '$(complete_words authpolicy totp enroll roo)'"
fi
[[ -z $(cd "$src" && complete_words authpolicy status '') ]] ||
  fail "bash completion of 'authpolicy status ': '$(cd "$src" && complete_words authpolicy status '')'"
[[ $(cd "$src" && complete_words authpolicy enable CMakeL) == "" ]] ||
  fail "bash completion of 'authpolicy enable CMakeL' offers files"

((failed == 0)) || { echo "man_help_test: $failed failures"; exit 1; }
echo "man_help_test: commands [$(echo $commands)] and the three pages agree"
