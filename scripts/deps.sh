#!/usr/bin/env bash
# Installs the Debian packages sluice needs to build and test, once.
# Idempotent: does nothing when everything is present. Needs root (apt-get)
# only when something is missing.
set -euo pipefail

pkgs=(
	build-essential pkg-config git
	libcurl4-openssl-dev libgit2-dev libyaml-dev libjansson-dev libmicrohttpd-dev
	libcmocka-dev
	dpkg-dev libssl-dev zlib1g-dev libnghttp2-dev # scripts/build-libs: the slim static libcurl
	clang libclang-rt-14-dev clang-format # libFuzzer targets and the format check
	python3 time                         # test tools (corpus checker, peak RSS)
	curl openssl etcd-server             # the test sandbox (tests/sandbox/build-kube adds Go)
	openssh-server openssh-client nginx fcgiwrap # Git servers for the tests (gitservers)
	prometheus                           # the analysis tests run their own, on loopback
	tmux                                 # the test of `sluice status --watch` reads its screen
	umoci                                # make image: packs the OCI image without a Docker daemon
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "sluice: missing Debian packages: ${missing[*]}" >&2
	echo "sluice: run this as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 2
fi
echo "sluice: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# no package may start its service (nginx, sshd, prometheus): the tests start
# their own, on free loopback ports
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ -n "$made_policy" ]; then rm -f "$policy"; fi
