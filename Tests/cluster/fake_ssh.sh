#!/bin/sh
# A stand-in for ssh in the launcher tests: `fake_ssh.sh [options] HOST COMMAND...` runs COMMAND
# here with `sh -c`, as sshd would run it with the remote login shell, and appends
# "HOST COMMAND" to $FAKE_SSH_LOG. Options (-o X, -p N, -n, ...) are accepted and ignored.
# The command runs in a session of its own, as under sshd: a Ctrl-C here does not reach it, and
# ending this "client" does not end it, so only the launcher's own cleanup can.
while [ $# -gt 0 ]; do
    case $1 in
        -[oiplFJ]) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
host=$1
shift
[ -z "${FAKE_SSH_LOG:-}" ] || printf '%s %s\n' "$host" "$*" >>"$FAKE_SSH_LOG"
cd "$HOME" || exit 255
exec setsid --fork --wait sh -c "$*"
