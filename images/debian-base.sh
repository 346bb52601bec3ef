# Sourced by images/build.sh and deploy/jupyterhub/build-image.sh: a Debian root file system
# made by debootstrap (--variant=minbase plus the packages asked for), cached as a tarball in
# $CACHE and imported as a docker image once.
#
#   debian_base NAME PACKAGES   prints the image's name: kafkalab/NAME:<suite>-<key>
# Needs $SUITE, $MIRROR, $CACHE, $work and log(); --force in $FORCE remakes the tarball.
debian_base() {
  local name=$1 packages=$2 key rootfs root image
  key=$(printf '%s\n' "$SUITE" "$packages" "$MIRROR" | sha256sum | cut -c1-12)
  rootfs="$CACHE/debian-$SUITE-minbase-${name#debian-}-$key.tar"
  if [ "${FORCE:-}" = "--force" ] || [ ! -s "$rootfs" ]; then
    if ! command -v debootstrap >/dev/null || [ "$(id -u)" != 0 ]; then
      echo "Building the image needs Debian's debootstrap, run as root (sudo apt-get" \
        "install debootstrap; then run this as root)." >&2
      return 1
    fi
    log "debootstrap $SUITE (minbase + $packages) from $MIRROR" >&2
    root="$work/rootfs-$name"
    debootstrap --variant=minbase --include="$packages" "$SUITE" "$root" "$MIRROR" \
      >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; return 1; }
    # What a container never needs: package caches and lists, documentation, translations.
    rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
      "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/*
    tar --numeric-owner -C "$root" -cf "$rootfs.part" .
    mv "$rootfs.part" "$rootfs"
    rm -rf "$root"
  else
    log "root file system from cache: $rootfs" >&2
  fi
  image="kafkalab/$name:$SUITE-$key"
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    log "docker import $image" >&2
    docker import "$rootfs" "$image" >/dev/null
  fi
  echo "$image"
}
