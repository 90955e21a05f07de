#!/usr/bin/env bash
# make image: an OCI image of sluiced, built with no Docker daemon.
#
# The root filesystem holds the controller binary (stripped; libcurl and
# libmicrohttpd linked in, see scripts/build-libs), the shared libraries it
# loads (from the machine's Debian packages, found with ldd),
# /etc/passwd and /etc/group with the user nonroot (65532), the CA bundle for
# https Git sources, and an empty /tmp (1777): no shell, no package manager.
# umoci packs it as one layer into an OCI image layout, and that layout is
# tarred as an oci-archive (what skopeo and podman read). See docs/image.md.
#
#   IMAGE_BUILD    build folder of the plain (unsanitized) binary (build/default)
#   IMAGE_DIR      where the image goes (build/image)
#   IMAGE_NAME     the image's name, for the printed references (sluice)
#   IMAGE_KUBECTL  a kubectl binary to add as /usr/local/bin/kubectl, so that
#                  kustomize sources render (the variant; tagged *-kubectl)
#
# Out: $IMAGE_DIR/rootfs, $IMAGE_DIR/sluice-oci (tags dev and the VERSION),
# $IMAGE_DIR/sluice.tar, $IMAGE_DIR/sluiced.debug (the binary's debug symbols).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${IMAGE_BUILD:-build/default}
out=${IMAGE_DIR:-build/image}
name=${IMAGE_NAME:-sluice}
kubectl_bin=${IMAGE_KUBECTL:-}
version=$(cat VERSION)
suffix=${kubectl_bin:+-kubectl}
tags=("dev$suffix" "$version$suffix")
uid=65532

die() { echo "image: $*" >&2; exit "${2:-1}"; }

if ! command -v umoci >/dev/null; then
	if [ "$(id -u)" -ne 0 ]; then
		die "umoci is not installed; run scripts/deps.sh as root (or: sudo apt-get install umoci)" 2
	fi
	echo "image: installing umoci"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends umoci >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends umoci >/dev/null; } ||
		die "cannot install umoci with apt-get"
fi
if [ "$(id -u)" -ne 0 ]; then
	# files in the layer keep their owners: root's, and nonroot's home
	die "run as root: the image's files must belong to root (uid 0) and nonroot ($uid)" 2
fi

# 1. the binary: plain, -O2, never sanitized (a sanitizer's runtime is not in
#    the image), linked with the slim static libcurl and libmicrohttpd
#    (scripts/build-libs, built once into the cache when missing: they spare
#    the image about 30 libraries); the debug symbols stay outside, linked by name
scripts/build-libs >/dev/null || die "scripts/build-libs failed (the slim libcurl and libmicrohttpd)"
make --no-print-directory BUILD="$build" SANITIZER= OPT=-O2 "$build/bin/sluiced" >&2
case $build in /*) bin=$build/bin/sluiced ;; *) bin=$top/$build/bin/sluiced ;; esac
if ldd "$bin" | grep -q 'lib[atu]san\|libubsan'; then
	die "$build/bin/sluiced is a sanitized build; name a plain build folder in IMAGE_BUILD"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$out/rootfs
layout=$out/sluice-oci
rm -rf "$root" "$layout" "$out/sluice.tar"

# every file's time is the last commit's, so the same tree packs the same
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

mkdir -p "$root"/{etc/ssl/certs,tmp,proc,dev,sys,home/nonroot,var/cache/sluice,var/run}
objcopy --only-keep-debug "$bin" "$out/sluiced.debug"
objcopy --strip-all --add-gnu-debuglink="$out/sluiced.debug" "$bin" "$root/sluiced"
chmod 755 "$root/sluiced"

# 2. the libraries it loads: ldd's list, each copied as a file (symlinks
#    followed) under the name the loader looks for. glibc 2.34+ has the files
#    and dns NSS modules inside libc, so no libnss_* is needed for /etc/passwd.
copy_libs() { # copy_libs ELF: its libraries into the root
	local elf=$1 line path
	if ! ldd "$elf" >/dev/null 2>&1; then
		return 0 # statically linked (kubectl is)
	fi
	while read -r line; do
		case $line in
		*"=> not found"*) die "$elf needs ${line%% *}, which is not installed" ;;
		*"=> /"*) path=${line#*=> }; path=${path%% (*} ;;
		/*) path=${line%% (*} ;;
		*) continue ;; # linux-vdso.so.1: in the kernel
		esac
		[ -e "$root$path" ] && continue
		install -D -m 644 "$(readlink -f "$path")" "$root$path"
	done < <(ldd "$elf")
}
copy_libs "$bin"
interp=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[ -f "$root$interp" ] || die "the program interpreter $interp was not copied"
chmod 755 "$root$interp"
if [ -n "$kubectl_bin" ]; then
	[ -x "$kubectl_bin" ] || die "IMAGE_KUBECTL=$kubectl_bin is not an executable"
	install -D -m 755 "$(readlink -f "$kubectl_bin")" "$root/usr/local/bin/kubectl"
	copy_libs "$root/usr/local/bin/kubectl"
fi

# 3. the few files a process expects: who it is, where CAs are, a /tmp
cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:$uid:$uid:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
nonroot:x:$uid:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || die "$ca is missing (Debian's ca-certificates package)"
install -m 644 "$ca" "$root$ca"
chmod 1777 "$root/tmp"
chown "$uid:$uid" "$root/home/nonroot" "$root/var/cache/sluice"
find "$root" -exec touch -h -d "@$epoch" {} +

# 4. the OCI image: one layer, the configuration, two tags
umoci init --layout "$layout"
umoci new --image "$layout:${tags[0]}"
umoci insert --image "$layout:${tags[0]}" --history.created "$created" \
	--history.created_by "scripts/image.sh: the root filesystem" "$root" / >/dev/null
rev=$(git rev-parse HEAD 2>/dev/null || echo unknown)
umoci config --image "$layout:${tags[0]}" --created "$created" --history.created "$created" \
	--history.created_by "scripts/image.sh: the configuration" \
	--config.user "$uid:$uid" --config.entrypoint /sluiced --clear config.cmd \
	--config.env PATH=/usr/local/bin:/usr/bin:/bin --config.workingdir / \
	--config.exposedports 8080/tcp --config.stopsignal SIGTERM \
	--config.label org.opencontainers.image.title=sluiced \
	--config.label "org.opencontainers.image.description=sluice, a GitOps and canary controller for Kubernetes" \
	--config.label "org.opencontainers.image.version=$version" \
	--config.label "org.opencontainers.image.revision=$rev" \
	--config.label "org.opencontainers.image.created=$created" \
	--config.label org.opencontainers.image.licenses=Apache-2.0 \
	--manifest.annotation "org.opencontainers.image.version=$version" \
	--manifest.annotation "org.opencontainers.image.created=$created"
umoci tag --image "$layout:${tags[0]}" "${tags[1]}"
umoci gc --layout "$layout"
# an oci-archive is the layout in a tar; fixed owners and times, sorted names
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
	-C "$layout" -cf "$out/sluice.tar" .

# 5. what it weighs: the compressed layer (what a pull transfers) and the rest
python3 - "$layout" "$root" "$out/sluice.tar" "$name" "${tags[@]}" <<'PY'
import json, os, sys
layout, root, tar, name, tags = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
def blob(d):
    alg, hexd = d["digest"].split(":")
    return os.path.join(layout, "blobs", alg, hexd)
index = json.load(open(os.path.join(layout, "index.json")))
m = json.load(open(blob(index["manifests"][0])))
layers = sum(l["size"] for l in m["layers"])
total = layers + m["config"]["size"] + index["manifests"][0]["size"]
files = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(root) for f in fs)
mib = lambda n: n / (1 << 20)
print("image: %s (%s)" % (layout, index["manifests"][0]["digest"]))
print("image: tags %s; oci-archive %s (%.1f MiB)" % (", ".join("%s:%s" % (name, t) for t in tags), tar, mib(os.path.getsize(tar))))
print("image: layer %.1f MiB compressed, %.1f MiB unpacked; image %.1f MiB (target < 40 MB)"
      % (mib(layers), mib(files), mib(total)))
PY
