#!/bin/bash
# SSH_ASKPASS for the sshd system test: logs each keyboard-interactive prompt, answers it.
#
# ssh runs this once per prompt with the prompt text as $1 ("(user@host) Password: ").
# AP_ASKPASS_DIR holds the answers the test chose for this login:
#   password     the password to give at a "Password" prompt
#   totp_secret  the base32 secret enrolled for the user (codes are computed here, with oathtool,
#                at the moment the code is asked, so they are fresh)
#   code_mode    "right:N": the code of the time step N steps after now (N = 0, 1 keeps every
#                accepted code's step later than the one before, as replay protection needs);
#                "replay": the code last given for a "right" mode (written to last_code);
#                "wrong": a 6-digit code that matches no step within +-2 of now
# Every prompt is appended to prompts.log; an unexpected prompt gets no answer (exit 1).
set -u
dir=${AP_ASKPASS_DIR:?}
prompt=${1-}
printf '%s\n' "$prompt" >> "$dir/prompts.log"

code_for() {  # the TOTP code of unix time $1
  oathtool --totp=sha1 --digits=6 --time-step-size=30s --base32 --now="@$1" "$(cat "$dir/totp_secret")"
}

case $prompt in
  *[Pp]assword*)
    cat "$dir/password"
    ;;
  *[Cc]ode*)
    mode=$(cat "$dir/code_mode")
    now=$(date +%s)
    case $mode in
      right:*)
        code=$(code_for $((now + ${mode#right:} * 30)))
        printf '%s\n' "$code" > "$dir/last_code"
        printf '%s\n' "$code"
        ;;
      replay)
        cat "$dir/last_code"
        ;;
      wrong)
        near=" "
        for offset in -2 -1 0 1 2; do
          near+="$(code_for $((now + offset * 30))) "
        done
        candidate=$(((10#$(code_for "$now") + 500000) % 1000000))
        for ((tries = 0; tries < 10; tries++)); do  # at most 5 candidates can be taken
          padded=$(printf '%06d' "$candidate")
          [[ $near == *" $padded "* ]] || break
          candidate=$(((candidate + 1) % 1000000))
        done
        printf '%s\n' "$padded"
        ;;
      *)
        exit 1
        ;;
    esac
    ;;
  *)
    exit 1
    ;;
esac
