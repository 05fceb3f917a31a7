#!/usr/bin/env bash
# make fresh-check: the README's two commands on a machine that has never seen the
# project. A minimal Debian 12 root filesystem (mmdebstrap, minbase + make and
# ca-certificates only) gets a clean clone of HEAD with ../shared beside it, and
# `make main` then `make test` run inside it with chroot; everything else they need,
# they must install themselves. Run as root. Variables:
#   KEEP=1               keep the root filesystem (build/fresh-check/rootfs) afterwards
#   SHARE_CCACHE=1       bind-mount the host's ccache directory (${CCACHE_DIR:-~/.cache/ccache})
#                        into the chroot, so the C++ build reuses it (off: truly fresh)
#   FRESH_COMMANDS=...   the commands to run, ';'-separated (default "make main;make test")
#   FRESH_MIRROR=...     mmdebstrap mirror argument(s), space-separated (default: the
#                        host's apt sources files, so the chroot uses the same mirror)
#   DN_SHARED_DIR        the shared/ folder to copy beside the clone (default ../shared)
#   FRESH_HOST_TRUST=0   do not carry over the host's network trust (see below)
# The chroot gets the host's network set-up, as a fresh machine on the same network would
# have it: /etc/resolv.conf, the CA certificates the host trusts beyond Debian's bundle
# (an intercepting proxy's, say; installed with update-ca-certificates) and /etc/pip.conf.
# The full log is build/fresh-check/log.txt; each command's own log is beside it.

# shellcheck disable=SC2317  # functions run from traps and run_step look unreachable to it
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
repo=$(pwd -P)
head=$(git rev-parse HEAD)

if [ "$(id -u)" != 0 ]; then
  echo "fresh_check: must run as root (mmdebstrap and chroot)" >&2; exit 2
fi
# Every mount below lives in a private mount namespace of its own: none can reach the
# host's mount table, and the kernel drops them all when the last process in it ends.
if [ -z "${FRESH_CHECK_IN_NS:-}" ]; then
  FRESH_CHECK_IN_NS=1 exec unshare --mount --propagation private -- "$self" "$@"
fi

out=$repo/build/fresh-check
rootfs=$out/rootfs
log=$out/log.txt
keep=${KEEP:-0}
share_ccache=${SHARE_CCACHE:-0}
IFS=';' read -ra commands <<< "${FRESH_COMMANDS:-make main;make test}"
shared=$(realpath -m "${DN_SHARED_DIR:-$repo/../shared}")
[ -d "$shared" ] || { echo "fresh_check: no shared folder at $shared (set DN_SHARED_DIR)" >&2; exit 2; }

mkdir -p "$out"
rm -f "$out"/[0-9]*-*.log  # the previous run's step logs
: > "$log"
exec > >(tee -ia "$log") 2>&1  # -i: a Ctrl-C must not cut the log before the cleanup

steps=() durations=() results=() steplogs=()
running="" running_t0=0  # the step under way, for the summary of an interrupted run
mounted=()
t_start=$(date +%s)
note() { echo "== fresh-check: $*"; }
mounts_under() {  # mount points at or below the root filesystem, deepest first
  awk -v r="$rootfs" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
kill_chrooted() {  # processes left running inside the root filesystem (started by us)
  local sig=$1 p r found=1
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    if [ "$r" = "$rootfs" ] || [[ $r == "$rootfs"/* ]]; then
      kill "-$sig" "${p#/proc/}" 2>/dev/null && found=0
    fi
  done
  return "$found"
}
summary() {
  local i
  echo
  echo "== fresh-check summary (commit ${head:0:10}, rootfs $rootfs)"
  for i in "${!steps[@]}"; do
    printf '  %-28s %6ss  %s\n' "${steps[$i]}" "${durations[$i]}" "${results[$i]}"
  done
  for i in "${!steplogs[@]}"; do
    [ -f "${steplogs[$i]}" ] || continue
    # The closing lines of ctest, pytest (with the compat cluster) and the seed, and errors.
    grep -aE '^== compat suite|^[0-9]+% tests passed|tests failed out of|^Total Test time|^(=+ )?[0-9]+ (passed|failed|error)|^FAILED |^x\.sum\(\) = |^make(\[[0-9]+\])?: \*\*\*|^E: |No such file or directory|Could not find' \
      "${steplogs[$i]}" | tail -n 25 | awk -v p="${commands[$i]}" '{ print "  [" p "] " $0 }' || true
  done
  echo "  total $(( $(date +%s) - t_start ))s; full log: $log"
}
cleanup() {
  local rc=$? m _
  trap - EXIT INT TERM
  set +e
  if [ -n "$running" ]; then
    steps+=("$running"); durations+=("$(( $(date +%s) - running_t0 ))"); results+=("INTERRUPTED")
  fi
  if kill_chrooted TERM; then
    note "stopping what still runs in the chroot"
    for _ in 1 2 3 4 5 6 7 8 9 10; do sleep 1; kill_chrooted 0 || break; done
    kill_chrooted KILL && sleep 1
  fi
  for ((m = ${#mounted[@]} - 1; m >= 0; m--)); do
    umount "${mounted[$m]}" 2>/dev/null || umount --lazy "${mounted[$m]}"
  done
  for m in $(mounts_under); do umount --lazy "$m"; done  # anything a step left behind
  if [ -n "$(mounts_under)" ]; then
    echo "fresh_check: mounts remain under $rootfs; not deleting it:" >&2; mounts_under >&2
  elif [ "$keep" = 1 ]; then
    note "kept $rootfs (KEEP=1)"
  elif [ -d "$rootfs" ]; then
    # --one-file-system: never descend into anything still mounted in there.
    rm -rf --one-file-system "$rootfs"
  fi
  ((${#steps[@]})) && summary
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_step() {  # name, command...: time it and record the exit code, without stopping
  local name=$1 t0 rc; shift
  note "$name"
  t0=$(date +%s)
  running=$name running_t0=$t0
  set +e; "$@"; rc=$?; set -e
  running=""
  steps+=("$name"); durations+=("$(( $(date +%s) - t0 ))")
  if ((rc)); then results+=("FAILED (exit $rc)"); else results+=("ok"); fi
  note "$name: exit $rc after ${durations[-1]}s"
  return "$rc"
}
mount_in() {  # mount args..., target last: mount it and remember it for the cleanup
  mount "$@"
  mounted+=("${*: -1}")
}

# --- the root filesystem -----------------------------------------------------------
command -v mmdebstrap >/dev/null ||
  apt-get -o DPkg::Lock::Timeout=900 install -y -qq mmdebstrap
if [ -e "$rootfs" ]; then
  [ -z "$(mounts_under)" ] || { echo "fresh_check: $rootfs has mounts; unmount them first" >&2; exit 2; }
  rm -rf --one-file-system "$rootfs"
fi
if [ -n "${FRESH_MIRROR:-}" ]; then
  read -ra mirrors <<< "$FRESH_MIRROR"
else
  mirrors=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -qE '^[[:space:]]*[^#[:space:]]' "$f" && mirrors+=("$f")
  done
  ((${#mirrors[@]})) || { echo "fresh_check: no apt sources on the host; set FRESH_MIRROR" >&2; exit 2; }
fi
note "mirrors: ${mirrors[*]}"
run_step "mmdebstrap (minbase)" mmdebstrap --mode=root --variant=minbase \
  --include=ca-certificates,make bookworm "$rootfs" "${mirrors[@]}"

# --- a clean clone of HEAD, shared/ beside it --------------------------------------
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  note "the work tree has uncommitted changes; they are not part of this check (HEAD only)"
clone() {
  git clone --quiet --no-hardlinks "$repo" "$rootfs/src/dask-native" &&
    git -C "$rootfs/src/dask-native" checkout --quiet --detach "$head" &&
    cp -a "$shared" "$rootfs/src/shared"
}
run_step "clone ${head:0:10} + shared" clone

# --- the chroot ---------------------------------------------------------------------
cp --remove-destination /etc/resolv.conf "$rootfs/etc/resolv.conf"
if [ "${FRESH_HOST_TRUST:-1}" = 1 ]; then
  pem_lines() {  # one line per certificate of a PEM bundle
    awk '/-----BEGIN CERTIFICATE-----/ { c = ""; on = 1 } on { c = c $0 "|" }
         /-----END CERTIFICATE-----/ { print c; on = 0 }' "$1"
  }
  bundle=etc/ssl/certs/ca-certificates.crt
  n=0
  if [ -f "/$bundle" ] && [ -f "$rootfs/$bundle" ]; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    while read -r cert; do
      n=$((n + 1))
      tr '|' '\n' <<< "$cert" > "$rootfs/usr/local/share/ca-certificates/host-$n.crt"
    done < <(pem_lines "/$bundle" | grep -vxF -f <(pem_lines "$rootfs/$bundle") || true)
  fi
  if ((n)); then
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
    note "trusting $n CA certificate(s) that the host trusts and the fresh system does not"
  fi
  for f in /etc/pip.conf /etc/xdg/pip/pip.conf; do
    if [ -f "$f" ]; then
      mkdir -p "$rootfs${f%/*}"; cp "$f" "$rootfs$f"; note "copied the host's $f"
    fi
  done
fi
# A fresh machine resolves localhost; minbase may lack /etc/hosts.
[ -s "$rootfs/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$rootfs/etc/hosts"
# The root filesystem a mount point of its own, as / is on a real machine (unshare
# --propagation, as the install test uses, fails on a / that is not one).
mount_in --bind "$rootfs" "$rootfs"
mount_in -t proc proc "$rootfs/proc"
mount_in -t sysfs sysfs "$rootfs/sys"
mount_in --bind /dev "$rootfs/dev"
mount_in --bind /dev/pts "$rootfs/dev/pts"
mount_in -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$rootfs/dev/shm"
if [ "$share_ccache" = 1 ]; then
  host_ccache=${CCACHE_DIR:-$HOME/.cache/ccache}
  mkdir -p "$host_ccache" "$rootfs/root/.cache/ccache"
  mount_in --bind "$host_ccache" "$rootfs/root/.cache/ccache"
  note "sharing the host's ccache $host_ccache (SHARE_CCACHE=1)"
fi

in_chroot() {  # a login-like clean environment: nothing of the host's
  chroot "$rootfs" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /src/dask-native && $1"
}
note "Debian $(cat "$rootfs/etc/debian_version") minbase, $(in_chroot 'dpkg-query -W | wc -l') packages before the project's own commands"
# In the background and waited for, so that INT/TERM reach the trap (and the cleanup,
# which stops whatever still runs in the chroot) at once rather than after the step.
run_with_log() { in_chroot "$1" 2>&1 | tee "$2" & wait "$!"; }
failed=0
for i in "${!commands[@]}"; do
  read -r c <<< "${commands[$i]}"  # trimmed
  name=${c//[^A-Za-z0-9._-]/-}
  steplog=$out/$((i + 1))-${name:0:40}.log
  steplogs+=("$steplog")
  run_step "$c" run_with_log "$c" "$steplog" || failed=1
done
note "$(in_chroot 'dpkg-query -W | wc -l') packages after them"
exit "$failed"
