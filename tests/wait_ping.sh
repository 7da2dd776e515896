# tests/wait_ping.sh - sourced by the shell tests (integration and client): one way to wait
# for a daemon to serve. Needs $SEKRETS_CLI.

# wait_ping SOCKET [TRIES]: 0 once `sekrets-cli ping` answers on SOCKET; 1 after TRIES
# tries 50 ms apart (default 200: 10 s).
wait_ping() {
  local _
  for _ in $(seq "${2:-200}"); do
    SEKRETS_SOCKET=$1 "$SEKRETS_CLI" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}
