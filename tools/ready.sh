# Sourced by the scripts in tools/: start a server that takes --ready_fd
# (devgofer, shim) and wait for it to say it serves. No polling, no sleeps.

# start_server DIR LOG CMD...: runs CMD --ready_fd=3 in the background, with
# a FIFO made in DIR as its FD 3 and LOG as its stderr, and returns once it
# wrote "ready" there. Fails if it closed the FIFO without (it failed; LOG
# says why) or said nothing for 30 s. Sets SERVER_PID either way.
start_server() {
  local dir=$1 log=$2 fifo line=""
  shift 2
  fifo="$(mktemp -u "$dir/ready.XXXXXX")"
  mkfifo "$fifo"
  "$@" --ready_fd=3 3>"$fifo" 2>>"$log" &
  SERVER_PID=$!
  read -r -t 30 line <"$fifo" || true
  rm -f "$fifo"
  [[ "$line" == ready ]]
}
