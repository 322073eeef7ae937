#!/bin/sh
# SPDX-License-Identifier: MIT
# dom0-test.sh — runs in dom0: our backend serves a real domU's xen-netfront; ping, transfer, re-create.
#
# 1. start `phoenix serve --transport xen --tap phx0` (the kernel's xen-netback is not loaded)
#    and give phx0 10.99.0.1/24: dom0's own kernel answers on the TAP side;
# 2. ITERS times: `xl create` the domU, wait for its netfront to come up against our backend,
#    ping it from dom0, fetch its random blob over TCP (receiver.mjs: SHA-256 and rate), read what
#    its netfront negotiated (first round), then `xl destroy` and wait for the backend to drop the vif;
# 3. stop the backend (SIGTERM) and print its final counters.
# Results are "PHX-..." lines on the console; test/xen/run.ts times and checks them. Parameters
# come from the dom0 command line: phx_iters=N (default 3), phx_mb=N (blob size, default 8),
# phx_spin=N (the backend's --spin-us; default: serve's own), phx_baseline=kernel (reference
# figures: the kernel's xen-netback instead of our backend; not a test of ours).
P=/phoenix
arg() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" /proc/cmdline; }
ITERS=$(arg phx_iters); ITERS=${ITERS:-3}
MB=$(arg phx_mb); MB=${MB:-8}
SPIN=$(arg phx_spin) # --spin-us for the backend; empty: serve's default
BASELINE=$(sed -n 's/.*phx_baseline=\([a-z]*\).*/\1/p' /proc/cmdline) # "kernel": xen-netback instead of ours
t() { echo "PHX T+$(cut -d' ' -f1 /proc/uptime) [test] $*"; }
res() { echo "PHX-RESULT $*"; }
CONSOLE=/var/log/xen/console/guest-domU.log
# seqs FILE: "answered=N highest=M" over the echo replies' icmp_seq (a duplicate counts once).
# ping -w stops once it has its count of replies, and requests still in flight then show as
# "loss" in its summary; a request really lost leaves a gap below the highest: N < M.
seqs() { sed -n 's/.*bytes from.*icmp_seq=\([0-9]*\).*/\1/p' "$1" | sort -n | uniq | awk '{ n++; if ($1 > m) m = $1 } END { print "answered=" n + 0, "highest=" m + 0 }'; }
# wait_for SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds; non-zero on timeout
wait_for() {
  n=$(($1 * 5)); shift
  while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.2; n=$((n - 1)); done
  return 1
}

node $P/test/xen/states.mjs &
STATES=$!
export PHOENIX_LOG=info
if [ "$BASELINE" = kernel ]; then
  # Reference figures only: the kernel's xen-netback serves the vif; dom0 talks to it on vif<D>.0.
  t "BASELINE: loading the kernel's xen-netback instead of our backend"
  insmod /lib/modules/xen-netback.ko || t "insmod xen-netback FAILED"
  t "PHX-BACKEND-READY kernel"
else
  if grep -q '^xen_netback ' /proc/modules; then t "the kernel's xen-netback is loaded: it would answer the vifs"; res "backend ready=0"; exit 1; fi
  t "starting phoenix serve --transport xen --tap phx0"
  node $P/dist/src/cli/main.js serve --transport xen --xenstore /run/xenstored/socket --tap phx0 --stats-ms 5000 ${SPIN:+--spin-us $SPIN} \
    > /tmp/serve.out 2> /tmp/serve.log &
  SERVE=$!
  if ! wait_for 90 sh -c "grep -q '\"event\":\"ready\"' /tmp/serve.out || ! kill -0 $SERVE"  || ! grep -q '"event":"ready"' /tmp/serve.out; then
    t "backend did not become ready"; sed 's/^/PHX-SERVE /' /tmp/serve.out /tmp/serve.log
    res "backend ready=0"; kill $STATES; exit 1
  fi
  t "PHX-BACKEND-READY pid $SERVE (xen-netback not loaded: $(grep -c '^xen_netback ' /proc/modules) modules named xen_netback)"
  ip link set phx0 up && ip addr add 10.99.0.1/24 dev phx0 || t "cannot configure phx0"
  ip -o link show phx0
fi

i=1
while [ $i -le "$ITERS" ]; do
  : > $CONSOLE 2>/dev/null
  t "PHX-CREATE $i"
  xl create $P/test/xen/domU.cfg "extra=\"console=hvc0 rdinit=/init loglevel=4 phx_mb=$MB\"" > /tmp/xl.out 2>&1
  rc=$?
  D=$(xl domid domU 2>/dev/null)
  t "xl create rc=$rc domid=$D"
  [ $rc = 0 ] || cat /tmp/xl.out
  if [ "$BASELINE" = kernel ]; then # script=/bin/true: write what vif-bridge would, then address the vif
    xenstore-write /local/domain/0/backend/vif/$D/0/hotplug-status connected
    ip link set vif$D.0 up; ip addr add 10.99.0.1/24 dev vif$D.0
  fi
  FE=/local/domain/$D/device/vif/0
  BE=/local/domain/0/backend/vif/$D/0
  if wait_for 120 sh -c "[ \"\$(xenstore-read $BE/state 2>/dev/null)\" = 4 ] && [ \"\$(xenstore-read $FE/state 2>/dev/null)\" = 4 ]"; then
    connected=1
  else
    connected=0
    t "no connection: FE $(xenstore-read $FE/state 2>&1) BE $(xenstore-read $BE/state 2>&1)"
    xenstore-ls -f $BE; xenstore-ls -f $FE
  fi
  t "PHX-CONNECTED $i $connected"
  if [ $i = 1 ] && [ $connected = 1 ]; then
    xenstore-ls -f $FE | sed 's/^/PHX-FEKEY /'
    xenstore-ls -f $BE | sed 's/^/PHX-BEKEY /'
  fi
  ready=0
  wait_for 180 grep -q DOMU-READY $CONSOLE && ready=1
  grep DOMU- $CONSOLE | sed "s/^/PHX-GUEST $i /"
  ping_line=""; rtt_line=""; ping_seq=""; got=""
  if [ $ready = 1 ]; then
    # iputils ping with -w: it goes on until 20 replies came (or the deadline), so a slow reply
    # under emulation is waited for (busybox ping gives the last one ~2 RTTs and calls it lost).
    iping -c 20 -i 0.2 -w 60 10.99.0.2 > /tmp/ping.out 2>&1
    ping_line=$(grep 'packets transmitted' /tmp/ping.out)
    rtt_line=$(grep -E '^(rtt|round-trip)' /tmp/ping.out)
    ping_seq=$(seqs /tmp/ping.out)
    case $ping_line in *" 0% packet loss"*) ;; *) sed 's/^/PHX-PINGLOG /' /tmp/ping.out ;; esac
    node $P/test/xen/receiver.mjs 10.99.0.2 5002 120 > /tmp/recv.out 2>&1
    cat /tmp/recv.out
    got=$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' /tmp/recv.out)
    wait_for 10 grep -q DOMU-STATS $CONSOLE
    grep DOMU-STATS $CONSOLE | head -n 1 | sed "s/^/PHX-GUEST $i /"
    echo "PHX-DOM0STATS $i $(awk '/phx0:/ { print "phx0_rx_packets=" $3, "rx_drop=" $5, "tx_packets=" $11, "tx_drop=" $13 }' /proc/net/dev)"
  fi
  want=$(sed -n 's/.*DOMU-BLOB.*sha256=\([0-9a-f]*\).*/\1/p' $CONSOLE | head -n 1)
  intact=0; [ -n "$want" ] && [ "$want" = "$got" ] && intact=1
  td0=$(cut -d' ' -f1 /proc/uptime)
  t "PHX-DESTROY $i"
  xl destroy domU > /tmp/xl.out 2>&1
  drc=$?
  td1=$(cut -d' ' -f1 /proc/uptime)
  # libxl complains here if the backend did not answer Closing with Closed within its 10 s
  [ $drc = 0 ] && [ ! -s /tmp/xl.out ] || { t "xl destroy rc=$drc"; sed 's/^/PHX-XL /' /tmp/xl.out; }
  xl_msgs=$(grep -c . /tmp/xl.out)
  gone=0
  if [ "$BASELINE" = kernel ]; then
    wait_for 30 sh -c "! xenstore-exists $BE" && gone=1
  else
    wait_for 30 sh -c "! xenstore-exists $BE && grep -q '\"vif removed\"' /tmp/serve.log && [ \$(grep -c '\"vif removed\"' /tmp/serve.log) -ge $i ]" && gone=1
  fi
  td2=$(cut -d' ' -f1 /proc/uptime)
  res "iter=$i domid=$D connected=$connected guest_ready=$ready ping=\"$ping_line\" rtt=\"$rtt_line\" ping_seq=\"$ping_seq\" intact=$intact sha=$got destroy_s=$(echo "$td1 - $td0" | bc 2>/dev/null || echo "$td0 $td1") destroy_rc=$drc xl_msgs=$xl_msgs kernel_netback=$(grep -c '^xen_netback ' /proc/modules) vif_removed=$gone removed_s=$(echo "$td2 - $td0" | bc 2>/dev/null || echo "$td0 $td2")"
  i=$((i + 1))
done

if [ "$BASELINE" = kernel ]; then kill $STATES 2>/dev/null; exit 0; fi
t "stopping the backend"
kill -TERM $SERVE
wait_for 20 sh -c "! kill -0 $SERVE 2>/dev/null" || t "backend did not stop on SIGTERM"
grep '"event":"status"' /tmp/serve.out | cut -c1-1200 | sed 's/^/PHX-STATUS /'
tail -n 2 /tmp/serve.out | sed 's/^/PHX-FINAL /'
grep -E '"level":"(warn|error)"' /tmp/serve.log | sed 's/^/PHX-WARN /' | head -n 40
grep -E 'connected|probed|removed|disconnected' /tmp/serve.log | sed 's/^/PHX-LOG /' | head -n 60
kill $STATES 2>/dev/null
