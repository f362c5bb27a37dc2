#!/usr/bin/env bash
# Prepares the real-kernel oracle: a stock Debian kernel + a small initramfs (busybox-static, the
# nlbridge agent, the XFRM/ESP/crypto modules, netdevsim built out of tree) for qemu (TCG).
#
# Everything comes from Debian packages through apt (`apt-get download` + `dpkg -x`; qemu, cpio and
# kmod through `apt-get install`), nothing from elsewhere. Idempotent and cached: a second run with
# the same kernel and the same guest sources does nothing.
#
#   XFRMKIT_ORACLE_CACHE   cache root (default /var/cache/xfrmkit/oracle)
#   XFRMKIT_ORACLE_KERNEL  kernel series (default 6.12): metapackage linux-image-$SERIES-amd64
#   XFRMKIT_ORACLE_KREL    pin an exact release (e.g. 6.12.117+deb12-amd64) instead of the metapackage's
#   XFRMKIT_ORACLE_NO_NETDEVSIM=1  skip the netdevsim build (saves the 153 MB linux-source download)
#
# Output: $CACHE/$KREL/{vmlinuz,initramfs.cpio.gz,manifest.json}, and $CACHE/$SERIES.json naming
# the release (what OracleVm reads). Needs root for apt-get install (skipped when the tools exist).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XFRMKIT_ORACLE_CACHE:-/var/cache/xfrmkit/oracle}
SERIES=${XFRMKIT_ORACLE_KERNEL:-6.12}
log() { printf 'oracle-prepare: %s\n' "$*" >&2; }
t0=$(date +%s)

# 1. host tools (Debian packages)
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v depmod >/dev/null 2>&1 || need+=(kmod)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. which kernel
if [ -n "${XFRMKIT_ORACLE_KREL:-}" ]; then
  KREL=$XFRMKIT_ORACLE_KREL
else
  # the series metapackage (bookworm: linux-image-6.12-amd64); bookworm's own series (6.1) has
  # none, its release is the one the distribution's linux-image-amd64 points at
  resolve() {
    local meta k
    for meta in "linux-image-$SERIES-amd64" linux-image-amd64; do
      k=$(apt-cache depends "$meta" 2>/dev/null |
        sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -1)
      case $k in "$SERIES".*) echo "$k"; return ;; esac
    done
  }
  KREL=$(resolve)
  if [ -z "$KREL" ]; then
    log "apt does not know a linux-image for $SERIES; running apt-get update"
    apt-get update -q >/dev/null
    KREL=$(resolve)
  fi
  [ -n "$KREL" ] || { log "cannot resolve a linux-image-$SERIES.*-amd64 (metapackages linux-image-$SERIES-amd64, linux-image-amd64)"; exit 1; }
fi
KVER=${KREL%-amd64} # 6.12.117+deb12
OUT=$CACHE/$KREL
mkdir -p "$OUT" "$CACHE/debs"

WANT_NSIM=1
[ "${XFRMKIT_ORACLE_NO_NETDEVSIM:-}" = 1 ] && WANT_NSIM=0
STAMP=$( (cat "$HERE/scripts/prepare.sh" "$HERE/guest/nlbridge.c" "$HERE/guest/init.sh" "$HERE/guest/modules.txt"
  echo "$KREL $WANT_NSIM") | sha256sum | cut -c1-16)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initramfs.cpio.gz" ]; then
  printf '{"series":"%s","krel":"%s"}\n' "$SERIES" "$KREL" >"$CACHE/$SERIES.json"
  log "up to date: $OUT ($(($(date +%s) - t0)) s)"
  exit 0
fi

# 3. packages (apt-get download into the cache; kept for the next run)
fetch() { # package[=version] ...
  local p
  for p in "$@"; do
    local name=${p%%=*}
    if ! ls "$CACHE/debs/${name}_"*.deb >/dev/null 2>&1; then
      log "apt-get download $p"
      (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$p" >/dev/null)
    fi
  done
}
deb() { ls "$CACHE/debs/${1}_"*.deb | head -1; }
fetch "linux-image-$KREL" busybox-static
IMGVER=$(dpkg-deb -f "$(deb "linux-image-$KREL")" Version)
if [ $WANT_NSIM = 1 ]; then
  MAJMIN=$(echo "$KVER" | cut -d. -f1-2)
  SRCPKG=linux-source-$MAJMIN
  # kbuild is per release for 6.12 (linux-kbuild-6.12.117+deb12), per series for 6.1 (linux-kbuild-6.1)
  KBUILD=linux-kbuild-$KVER
  if ! ls "$CACHE/debs/${KBUILD}_"*.deb >/dev/null 2>&1 && ! apt-cache show "$KBUILD" >/dev/null 2>&1; then
    KBUILD=linux-kbuild-$MAJMIN
  fi
  fetch "linux-headers-$KREL" "linux-headers-$KVER-common"
  if ! ls "$CACHE/debs/${KBUILD}_$IMGVER"_*.deb >/dev/null 2>&1; then
    log "apt-get download $KBUILD=$IMGVER"
    (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$KBUILD=$IMGVER" >/dev/null)
  fi
  if ! ls "$CACHE/debs/${SRCPKG}_$IMGVER"_*.deb >/dev/null 2>&1; then
    log "apt-get download $SRCPKG=$IMGVER"
    (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$SRCPKG=$IMGVER" >/dev/null)
  fi
fi

WORK=$(mktemp -d "$CACHE/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log "unpacking linux-image-$KREL ($IMGVER)"
dpkg -x "$(deb "linux-image-$KREL")" "$WORK/k"
MODDIR=$WORK/k/lib/modules/$KREL

# 4. netdevsim, out of tree (Debian does not build it): headers + kbuild + the driver's sources
NSIM_KO=
if [ $WANT_NSIM = 1 ]; then
  log "building netdevsim"
  H=$WORK/h
  for p in "linux-headers-$KREL" "linux-headers-$KVER-common"; do dpkg -x "$(deb "$p")" "$H"; done
  dpkg -x "$(ls "$CACHE/debs/${KBUILD}_$IMGVER"_*.deb | head -1)" "$H"
  HDIR=$H/usr/src/linux-headers-$KREL
  sed -i "s#^include /usr/src/#include $H/usr/src/#" "$HDIR/Makefile"
  # the kbuild scripts are symlinked to /usr/lib/linux-kbuild-*: point them into the unpacked tree
  for l in $(find "$H/usr/src" -maxdepth 2 -type l); do
    t=$(readlink "$l")
    case $t in /*) ln -sfn "$H$t" "$l" ;; esac
  done
  dpkg-deb --fsys-tarfile "$(ls "$CACHE/debs/${SRCPKG}_$IMGVER"_*.deb)" |
    tar -x -C "$WORK" --wildcards "./usr/src/$SRCPKG.tar.xz"
  tar -xJf "$WORK/usr/src/$SRCPKG.tar.xz" -C "$WORK" --wildcards '*/drivers/net/netdevsim/*'
  mkdir -p "$WORK/nsim"
  cp "$WORK/$SRCPKG/drivers/net/netdevsim/"* "$WORK/nsim/"
  if make -s -C "$HDIR" M="$WORK/nsim" CONFIG_NETDEVSIM=m CONFIG_DEBUG_INFO_BTF_MODULES= -j"$(nproc)" modules \
    >"$WORK/nsim-build.log" 2>&1; then
    strip --strip-debug -o "$WORK/netdevsim.ko" "$WORK/nsim/netdevsim.ko"
    NSIM_KO=$WORK/netdevsim.ko
  else
    tail -20 "$WORK/nsim-build.log" >&2
    log "WARNING: netdevsim did not build; the oracle runs without it"
  fi
  rm -rf "$WORK/usr" "$WORK/$SRCPKG" "$H"
fi
if [ -n "$NSIM_KO" ]; then
  mkdir -p "$MODDIR/extra"
  cp "$NSIM_KO" "$MODDIR/extra/netdevsim.ko"
fi

# 5. module closure (decompressed .ko) + depmod
log "collecting modules"
find "$MODDIR" -name '*.ko.xz' -exec xz -d {} +
find "$MODDIR" -name '*.ko.zst' -exec zstd -q --rm -d {} + 2>/dev/null || true
depmod -b "$WORK/k" "$KREL"
R=$WORK/root
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib/modules/$KREL}
cp "$MODDIR"/modules.builtin* "$MODDIR/modules.order" "$R/lib/modules/$KREL/"
: >"$R/etc/oracle-modules"
declare -A have=()
while read -r m; do
  case $m in '' | \#*) continue ;; esac
  f=$(modinfo -b "$WORK/k" -k "$KREL" -F filename "$m" 2>/dev/null || true)
  case $f in '' | '(builtin)') continue ;; esac
  echo "$m" >>"$R/etc/oracle-modules"
  for dep in "$f" $(grep "^${f#"$MODDIR"/}:" "$MODDIR/modules.dep" | cut -d: -f2); do
    rel=${dep#"$MODDIR"/}
    [ -n "${have[$rel]:-}" ] && continue
    have[$rel]=1
    mkdir -p "$R/lib/modules/$KREL/$(dirname "$rel")"
    cp "$MODDIR/$rel" "$R/lib/modules/$KREL/$rel"
  done
done <"$HERE/guest/modules.txt"
depmod -b "$R" "$KREL"

# 6. userland: busybox-static, the agent, /init
dpkg -x "$(deb busybox-static)" "$WORK/bb"
cp "$WORK/bb/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
  [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
gcc -static -O2 -Wall -o "$R/sbin/nlbridge" "$HERE/guest/nlbridge.c"
strip "$R/sbin/nlbridge"
install -m 0755 "$HERE/guest/init.sh" "$R/init"
ln -sf ../bin/busybox "$R/sbin/modprobe"

(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -6 >"$WORK/initramfs.cpio.gz")
cp "$WORK/k/boot/vmlinuz-$KREL" "$WORK/vmlinuz"
mv "$WORK/initramfs.cpio.gz" "$WORK/vmlinuz" "$OUT/"
NSIM=false
[ -n "$NSIM_KO" ] && NSIM=true
printf '{"series":"%s","krel":"%s","version":"%s","netdevsim":%s,"modules":"%s"}\n' \
  "$SERIES" "$KREL" "$IMGVER" "$NSIM" "$(tr '\n' ' ' <"$R/etc/oracle-modules" | sed 's/ $//')" >"$OUT/manifest.json"
echo "$STAMP" >"$OUT/stamp"
printf '{"series":"%s","krel":"%s"}\n' "$SERIES" "$KREL" >"$CACHE/$SERIES.json"
log "ready: $OUT ($(du -sh "$OUT/initramfs.cpio.gz" | cut -f1) initramfs, $(($(date +%s) - t0)) s)"
