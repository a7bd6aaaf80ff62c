// The shell steps that hand the host's only GPU to a VM and give it back, and the two scripts
// that run them: the libvirt hook (libvirt 6.5+ runs every executable in
// /etc/libvirt/hooks/qemu.d/ with `<vm> <operation> <sub-operation>`, libvirt.org/hooks.html; a
// non-zero exit at prepare/begin stops the VM start) and the QEMU script's wrapper around the VM
// run. Hand-over: stop the display manager (bounded wait), unbind the VT consoles and the
// firmware framebuffers, move every function of the GPU's slot to vfio-pci and check it is
// there. Give-back, also run when any hand-over step fails: the reverse order, every step tried
// even when one fails, from a state file that records what the hand-over took. Pure: values
// in, text out.
import { paths } from '../host/paths.js';

export interface HookSpec {
  vm: string;
  /** Every function of the GPU's slot, function 0 first. */
  functions: string[];
  /** Host driver modules to load again at give-back. */
  modules: string[];
  /** The display manager's unit, or null when none was found. */
  displayManager: string | null;
}

export const HOOK_DIR = '/etc/libvirt/hooks/qemu.d';
export const hookPath = (vm: string) => `${HOOK_DIR}/gpuvirt-singlegpu-${vm}`;

/** What each value may be: each is written into the script single-quoted or as a bare word. */
export const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
const ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/;
const MODULE = /^[a-z0-9_-]{1,64}$/;
const UNIT = /^[A-Za-z0-9@._-]{1,128}\.service$/;

export function checkSpec(s: HookSpec): void {
  const bad = [
    !VM_NAME.test(s.vm) && `VM name ${JSON.stringify(s.vm)}`,
    ...s.functions.filter((a) => !ADDRESS.test(a)).map((a) => `address ${JSON.stringify(a)}`),
    ...s.modules.filter((m) => !MODULE.test(m)).map((m) => `module ${JSON.stringify(m)}`),
    s.displayManager !== null && !UNIT.test(s.displayManager) && `unit ${JSON.stringify(s.displayManager)}`,
    !s.functions.length && 'no function',
  ].filter(Boolean);
  if (bad.length) throw new Error(`cannot be written into the hook: ${bad.join(', ')}`);
}

const SYS = paths.pciDevices.slice(0, paths.pciDevices.indexOf('/bus/'));
const PCI = paths.pciDevices.slice(0, paths.pciDevices.lastIndexOf('/'));

/** The variables and shell functions both scripts share (`handover`, `giveback`, `log`); `op` is how the log names the caller. */
function handoverSteps(s: HookSpec, op: string): string {
  checkSpec(s);
  return `VM='${s.vm}'
FUNCS='${s.functions.join(' ')}'
MODULES='${s.modules.join(' ')}'
DM='${s.displayManager ?? ''}'
# GPUVIRT_HOOK_ROOT: a tree to act on instead of /; GPUVIRT_HOOK_TENTHS: every wait's bound
# (tests only; libvirt runs hooks without them).
R="\${GPUVIRT_HOOK_ROOT:-}"
PCI="$R${PCI}"
FB="$R${SYS}/bus/platform/drivers"
VT="$R${SYS}/class/vtconsole"
STATE="$R/run/gpuvirt-singlegpu-$VM.state"
OP=${op}

log() {
  echo "gpuvirt-singlegpu $VM $OP: $*" >&2
  logger -t gpuvirt-singlegpu -- "$VM $OP: $*" 2>/dev/null || :
}

# Polls a test up to $1 tenths of a second.
within() {
  n=\${GPUVIRT_HOOK_TENTHS:-$1}; shift
  while ! "$@"; do
    [ "$n" -gt 0 ] || return 1
    n=$((n - 1)); sleep 0.1
  done
}
dm_stopped() { ! systemctl is-active --quiet "$DM"; }
has_driver() { [ -e "$PCI/devices/$1/driver" ]; }
no_driver() { ! has_driver "$1"; }
off_vfio() { ! on_vfio "$1"; }
on_vfio() { case "$(readlink "$PCI/devices/$1/driver" 2>/dev/null)" in */vfio-pci) return 0;; esac; return 1; }

handover() {
  mkdir -p "$R/run" && : > "$STATE" || { log "cannot write $STATE"; return 1; }
  if [ -n "$DM" ] && systemctl is-active --quiet "$DM"; then
    echo dm >> "$STATE"
    log "stopping $DM"
    systemctl stop "$DM" || { log "systemctl stop $DM failed"; return 1; }
    within 150 dm_stopped || { log "$DM still active after 15 s"; return 1; }
  fi
  for v in "$VT"/vtcon*; do
    # Only fbcon ("frame buffer device") holds the GPU; the dummy console stays.
    [ -e "$v/bind" ] && [ "$(cat "$v/bind")" = 1 ] && grep -q 'frame buffer' "$v/name" || continue
    echo "vtcon \${v##*/}" >> "$STATE"
    echo 0 > "$v/bind" || { log "cannot unbind console \${v##*/}"; return 1; }
  done
  for d in efi-framebuffer vesa-framebuffer simple-framebuffer; do
    for dev in "$FB/$d"/*.0; do
      [ -e "$dev" ] || continue
      echo "fb $d \${dev##*/}" >> "$STATE"
      echo "\${dev##*/}" > "$FB/$d/unbind" || { log "cannot unbind \${dev##*/} from $d"; return 1; }
    done
  done
  modprobe vfio-pci || { log "modprobe vfio-pci failed"; return 1; }
  for a in $FUNCS; do
    echo "pci $a" >> "$STATE"
    if [ -e "$PCI/devices/$a/driver" ] && ! on_vfio "$a"; then
      log "unbinding $a from $(basename "$(readlink "$PCI/devices/$a/driver")")"
      echo "$a" > "$PCI/devices/$a/driver/unbind" || { log "cannot unbind $a"; return 1; }
      within 100 no_driver "$a" || { log "$a did not let go of its driver in 10 s"; return 1; }
    fi
    echo vfio-pci > "$PCI/devices/$a/driver_override" || { log "cannot set driver_override of $a"; return 1; }
    on_vfio "$a" || echo "$a" > "$PCI/drivers_probe" || { log "drivers_probe $a failed"; return 1; }
    within 50 on_vfio "$a" || { log "$a is not on vfio-pci"; return 1; }
  done
  log "the GPU is on vfio-pci"
}

# Every step is tried even when an earlier one failed; the status says whether all worked.
giveback() {
  status=0
  for a in $FUNCS; do
    if on_vfio "$a"; then
      echo "$a" > "$PCI/drivers/vfio-pci/unbind" || { log "cannot unbind $a from vfio-pci"; status=1; }
      within 50 off_vfio "$a" || { log "$a is still on vfio-pci"; status=1; }
    fi
    if [ -e "$PCI/devices/$a/driver_override" ]; then
      echo > "$PCI/devices/$a/driver_override" || { log "cannot clear driver_override of $a"; status=1; }
    fi
  done
  for m in $MODULES; do modprobe "$m" || { log "modprobe $m failed"; status=1; }; done
  for a in $FUNCS; do
    has_driver "$a" || echo "$a" > "$PCI/drivers_probe" || { log "drivers_probe $a failed"; status=1; }
    # Some drivers probe asynchronously: wait for the link, bounded.
    within 100 has_driver "$a" || { log "$a has no driver"; status=1; }
  done
  if [ -f "$STATE" ]; then
    # Read in this shell (not a pipe's subshell), so a failure reaches the status.
    while read -r k d n; do
      [ "$k" = fb ] || continue
      echo "$n" > "$FB/$d/bind" || { log "cannot bind $n to $d"; status=1; }
    done < "$STATE"
    while read -r k v; do
      [ "$k" = vtcon ] || continue
      echo 1 > "$VT/$v/bind" || { log "cannot bind console $v"; status=1; }
    done < "$STATE"
    if grep -q '^dm$' "$STATE"; then systemctl start "$DM" || { log "systemctl start $DM failed"; status=1; }; fi
    rm -f "$STATE"
  fi
  log "given back (status $status)"
  return $status
}`;
}

export function hookScript(s: HookSpec): string {
  return `#!/bin/sh
# Written by gpuvirt (\`gpuvirt singlegpu ${s.vm} ${s.functions[0]}\`; \`gpuvirt singlegpu ${s.vm} --undo\` removes it).
# Hands ${s.functions.join(' ')} to the libvirt VM '${s.vm}' at prepare/begin and gives it back to the host at release/end.
[ "$1" = '${s.vm}' ] || exit 0
${handoverSteps(s, '"$2/$3"')}

case "$OP" in
  prepare/begin)
    log "handing the GPU to the VM"
    handover && exit 0
    log "hand-over failed: giving the GPU back"
    giveback
    exit 1
    ;;
  release/end)
    giveback
    exit $?
    ;;
esac
exit 0
`;
}

/**
 * The QEMU script's tail with single-GPU: the hand-over, QEMU (`run`, one shell command line)
 * in the background so a signal reaches this shell at once, and the give-back on every exit:
 * QEMU's own, a failed hand-over, or INT/TERM/HUP (passed on to QEMU, then waited for).
 */
export function qemuHandover(s: HookSpec, run: string): string {
  return `# Single-GPU: the host's screen is handed to the VM for this run and given back at every exit.
set +e
${handoverSteps(s, 'qemu')}

QPID=
on_signal() {
  log "SIG$1: stopping QEMU"
  [ -n "$QPID" ] || exit 1
  kill -TERM "$QPID" 2>/dev/null
}
# The give-back runs to its end: a second Ctrl-C does not cut it short.
trap 'rc=$?; trap - EXIT; trap "" INT TERM HUP; giveback || [ "$rc" -ne 0 ] || rc=1; exit "$rc"' EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP
log "handing the GPU to the VM"
handover || { log "hand-over failed: giving the GPU back"; exit 1; }
# Without job control a background command's stdin is /dev/null: QEMU gets the script's.
exec 3<&0
${run} <&3 3<&- &
QPID=$!
wait "$QPID"
rc=$?
# A signal ends the wait early: wait again until QEMU has exited.
while kill -0 "$QPID" 2>/dev/null; do wait "$QPID"; rc=$?; done
exit "$rc"
`;
}
