# shellcheck shell=bash
# The runner images of the tests and the demo, built here (these machines cannot download
# images) and cached inside the clone by a hash of their recipe, so a changed recipe is a new
# image and an unchanged one is never built twice. Sourced by scripts/lxd-setup.sh.
#
#   runner-test     busybox (1 MB, starts in ~0.3 s): sh, wget, tar and the rest the stub
#                   runner needs; no /opt, no users but root. It stands for a prepared image:
#                   an empty libicuuc.so.72 where .NET's loader (and so the stub) looks for
#                   ICU. The fast tests.
#   runner-bare     the same without ICU: the real runner, and so the stub, refuses to start.
#   runner-debian   runner-systemd without ICU (libicu72 purged): a bare Debian as LXD's
#                   `images:` remote has it, where the runner refuses to start until baked.
#   runner-systemd  Debian bookworm from Debian's archive with mmdebstrap: systemd as init,
#                   udev + systemd-networkd DHCP on every interface, an `ubuntu` user (uid 1000,
#                   passwordless sudo) as on Ubuntu cloud images, sudo, procps, ca-certificates,
#                   wget, curl, iproute2, nftables, docker.io and libicu72 (Ubuntu's cloud
#                   images have ICU too). The provisioning path, and the bake's base: its
#                   only apt source is the mirror test host (10.154.0.2), which serves what
#                   the bake installs, downloaded with the image into `<cache>/runner-systemd.mirror`.

IMAGE_CACHE=${LXD_IMAGE_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.cache/images}

# recipe_hash FUNCTION: the first 12 hex digits of the SHA-256 of the function's own text and
# of the recipes the derived ones build on (busybox → bare, systemd → debian).
recipe_hash() { { declare -f "$1" busybox_recipe systemd_recipe; echo "$BAKE_PACKAGES"; } | sha256sum | cut -c1-12; }

# metadata DIR DESCRIPTION HASH: an LXD metadata tarball that names the recipe.
write_metadata() {
  local dir=$1 description=$2 hash=$3
  mkdir -p "$dir/meta/templates"
  echo '{{ container.name }}' >"$dir/meta/templates/hostname.tpl"
  cat >"$dir/meta/metadata.yaml" <<META
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: $description
  os: $description
  release: "1"
  recipe: "$hash"
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
META
  tar -C "$dir/meta" -czf "$dir/meta.tar.gz" metadata.yaml templates
  rm -rf "$dir/meta"
}

busybox_recipe() {
  local r=$1
  mkdir -p "$r"/{bin,sbin,etc/init.d,proc,sys,dev,tmp,root,run,var/log,usr/bin,usr/sbin,usr/share/udhcpc}
  cp /bin/busybox "$r/bin/busybox"
  chroot "$r" /bin/busybox --install -s
  printf '::sysinit:/etc/init.d/rcS\n::shutdown:/bin/umount -a -r\n' >"$r/etc/inittab"
  cat >"$r/etc/init.d/rcS" <<'RCS'
#!/bin/sh
mount -t tmpfs tmpfs /tmp 2>/dev/null
hostname -F /etc/hostname 2>/dev/null
ip link set lo up
for nic in /sys/class/net/e*; do
  [ -e "$nic" ] && udhcpc -b -q -i "${nic##*/}" -s /usr/share/udhcpc/default.script >>/var/log/udhcpc.log 2>&1 &
done
RCS
  cat >"$r/usr/share/udhcpc/default.script" <<'DHCP'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via ${router%% *} dev "$interface"
    : > /etc/resolv.conf; for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done ;;
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
esac
DHCP
  chmod +x "$r/etc/init.d/rcS" "$r/usr/share/udhcpc/default.script"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
  printf 'root:x:0:\n' >"$r/etc/group"
  echo runner >"$r/etc/hostname"
  mkdir -p "$r/usr/lib" && : >"$r/usr/lib/libicuuc.so.72"
}

bare_recipe() {
  busybox_recipe "$1"
  rm "$1/usr/lib/libicuuc.so.72"
}

# What the charm's bake installs (src/bake/recipe.rs TOOLSET, the runner's libraries under
# Debian 12's names) and the bake tests' `image-packages` (zstd): downloaded into the mirror.
BAKE_PACKAGES="docker.io npm yarnpkg python3-pip shellcheck jq wget git curl unzip gh ca-certificates iptables \
libicu72 liblttng-ust1 libssl3 libkrb5-3 zlib1g zstd"
# The test host that serves the mirror (scripts/test-hosts.sh `ghr-mirror`).
MIRROR_URL=http://10.154.0.2/

systemd_recipe() {
  local out=$1 mirror=$2
  command -v mmdebstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
  }
  command -v apt-ftparchive >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apt-utils >/dev/null
  }
  # The packages a bake installs are downloaded in the image's own chroot (so exactly what its
  # apt would fetch) before apt's cache is cleaned, then served by the mirror test host: the
  # image's only apt source, trusted, so that a bake needs no internet.
  mkdir -p "$mirror"
  mmdebstrap --variant=minbase --quiet \
    --include=systemd-sysv,udev,dbus,iproute2,procps,sudo,ca-certificates,wget,curl,nftables,docker.io,libicu72 \
    --customize-hook='chroot "$1" useradd -m -u 1000 -s /bin/bash -G sudo ubuntu' \
    --customize-hook='echo "ubuntu ALL=(ALL) NOPASSWD:ALL" >"$1/etc/sudoers.d/90-ubuntu"; chmod 0440 "$1/etc/sudoers.d/90-ubuntu"' \
    --customize-hook='printf "[Match]\nName=e*\n\n[Network]\nDHCP=ipv4\n" >"$1/etc/systemd/network/80-dhcp.network"' \
    --customize-hook='chroot "$1" systemctl enable systemd-networkd' \
    --customize-hook='echo runner >"$1/etc/hostname"; : >"$1/etc/machine-id"' \
    --customize-hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only $BAKE_PACKAGES >/dev/null" \
    --customize-hook='chroot "$1" sh -c "cd /var/cache/apt/archives && apt-get download -q libicu72 >/dev/null 2>&1"' \
    --customize-hook="sync-out /var/cache/apt/archives \"$mirror\"" \
    --customize-hook="rm -f \"\$1\"/etc/apt/sources.list.d/*; echo 'deb [trusted=yes] $MIRROR_URL ./' >\"\$1/etc/apt/sources.list\"" \
    bookworm "$out"
  rm -rf "$mirror/partial" "$mirror/lock"
  (cd "$mirror" && apt-ftparchive packages . >Packages && apt-ftparchive release . >Release)
}

# runner-systemd's root file system with libicu72 purged (runner-systemd is built first).
debian_recipe() {
  local out=$1 src w
  src=$IMAGE_CACHE/runner-systemd-$(recipe_hash systemd_recipe)/rootfs.tar
  w=$(mktemp -d)
  tar --numeric-owner -C "$w" -xf "$src"
  chroot "$w" dpkg --purge libicu72 >/dev/null
  tar --numeric-owner -C "$w" -cf "$out" .
  rm -rf "$w"
}

# build_image ALIAS RECIPE DESCRIPTION: unless LXD has this recipe's image under ALIAS already,
# builds it (unless cached) and imports it; prints nothing on success.
build_image() {
  local alias=$1 recipe=$2 description=$3 hash dir t0 w
  hash=$(recipe_hash "$recipe")
  dir=$IMAGE_CACHE/$alias-$hash
  # LXD holds it already (a machine that ran the tests before), and its mirror is here if it
  # has one: nothing to build.
  if [ "$(lxc image get-property "$alias" recipe 2>/dev/null)" = "$hash" ] &&
    { [ "$recipe" != systemd_recipe ] || [ -s "$dir/mirror/Packages" ]; }; then
    [ "$recipe" != systemd_recipe ] || ln -sfn "$dir/mirror" "$IMAGE_CACHE/$alias.mirror"
    return
  fi
  if ! [ -s "$dir/rootfs.tar" ] || ! [ -s "$dir/meta.tar.gz" ] ||
    { [ "$recipe" = systemd_recipe ] && ! [ -s "$dir/mirror/Packages" ]; }; then
    t0=$(date +%s)
    log "building image $alias (recipe $hash)"
    rm -rf "$dir" && mkdir -p "$dir"
    if [ "$recipe" = busybox_recipe ] || [ "$recipe" = bare_recipe ]; then
      w=$(mktemp -d)
      "$recipe" "$w/rootfs"
      tar --numeric-owner -C "$w/rootfs" -cf "$dir/rootfs.tar" .
      rm -rf "$w"
    else
      "$recipe" "$dir/rootfs.partial.tar" "$dir/mirror" && mv "$dir/rootfs.partial.tar" "$dir/rootfs.tar"
    fi
    write_metadata "$dir" "$description" "$hash"
    log "built image $alias in $(($(date +%s) - t0)) s ($(du -sh "$dir/rootfs.tar" | cut -f1))"
  fi
  lxc image delete "$alias" >/dev/null 2>&1 || true
  log "importing image $alias"
  lxc image import "$dir/meta.tar.gz" "$dir/rootfs.tar" --alias "$alias" >/dev/null
  [ "$recipe" != systemd_recipe ] || ln -sfn "$dir/mirror" "$IMAGE_CACHE/$alias.mirror"
}
