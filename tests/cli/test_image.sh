#!/usr/bin/env bash
# The OCI image (make image, scripts/image.sh): its size, that it holds only
# sluiced and the libraries it loads, its configuration, and the binary run
# from its root filesystem (chroot, as user 65532, with only /proc mounted as
# a container runtime would) against the sandbox: single-app mode with a
# kubeconfig, then Application mode with the in-cluster service account
# files, serving /healthz and /metrics, stopped by SIGTERM.
. "$(dirname "$0")/lib.sh"
if ! command -v umoci >/dev/null; then
	skip "the OCI image" "umoci not installed (scripts/deps.sh installs it)"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	skip "the OCI image" "needs root (file owners in the image, chroot)"
	exit 0
fi
tmp=$(mktemp -d)
img="$tmp/image"
R="$img/rootfs"
sbx="$tmp/sandbox"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
version=$(cat VERSION)
uid=65532

# 1. the image, from the plain build (the sanitizers' runtimes are not in it)
if IMAGE_BUILD=$PLAIN IMAGE_DIR=$img scripts/image.sh >"$tmp/build.log" 2>&1 &&
	[ -f "$img/sluice-oci/index.json" ] && [ -x "$R/sluiced" ] && tar -tf "$img/sluice.tar" | grep -q '^./index.json$'; then
	ok "make image packs an OCI layout and an oci-archive: $(sed -n 's/^image: //p' "$tmp/build.log" | grep '^layer')"
else
	not_ok "make image packs an OCI layout and an oci-archive" "$(tail -n 5 "$tmp/build.log")"
	exit 1
fi

# reads the layout: "compressed_bytes config_json layer_path" for the tag dev
python3 - "$img/sluice-oci" >"$tmp/layout" <<'PY'
import json, os, sys
layout = sys.argv[1]
blob = lambda d: os.path.join(layout, "blobs", *d["digest"].split(":"))
idx = json.load(open(os.path.join(layout, "index.json")))
refs = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in idx["manifests"]}
m = json.load(open(blob(refs["dev"])))
size = sum(l["size"] for l in m["layers"]) + m["config"]["size"] + refs["dev"]["size"]
cfg = json.load(open(blob(m["config"])))
print(size, " ".join(sorted(refs)))
print(json.dumps(cfg["config"], sort_keys=True))
print(blob(m["layers"][0]))
print(blob(refs["dev"]))
PY
read -r packed tags < <(sed -n 1p "$tmp/layout")
cfg=$(sed -n 2p "$tmp/layout")
layer=$(sed -n 3p "$tmp/layout")
unpacked=$(du -sb --apparent-size "$R" | cut -f1)
if [ "$packed" -lt 40000000 ] && [ "$unpacked" -lt 40000000 ]; then
	ok "the image weighs $((packed / 1000)) kB compressed, $((unpacked / 1000)) kB unpacked (target < 40 MB)"
else
	not_ok "the image is under 40 MB" "compressed $packed bytes, unpacked $unpacked bytes"
fi

# 2. only the binary, the libraries it loads and four files of /etc
need=$(ldd "$PWD/$PLAIN/bin/sluiced" | awk '$2 == "=>" { print $3 } $1 ~ /^\// { print $1 }' | sort)
have_libs=$(cd "$R" && find . -type f -name '*.so*' | sed 's/^\.//' | sort)
others=$(cd "$R" && find . ! -type d ! -name '*.so*' | sed 's/^\.//' | sort | tr '\n' ' ')
if [ "$need" = "$have_libs" ] &&
	[ "$others" = "/etc/group /etc/nsswitch.conf /etc/passwd /etc/ssl/certs/ca-certificates.crt /sluiced " ] &&
	[ "$(stat -c %a "$R/tmp")" = 1777 ]; then
	ok "the root filesystem holds sluiced, its $(wc -l <<<"$need") libraries, passwd, group, nsswitch.conf, the CA bundle and /tmp (1777): no shell, no package manager"
else
	not_ok "the root filesystem holds only sluiced and what it loads" "other files: $others" \
		"libraries not loaded: $(comm -13 <(echo "$need") <(echo "$have_libs") | tr '\n' ' ')" \
		"libraries missing: $(comm -23 <(echo "$need") <(echo "$have_libs") | tr '\n' ' ')"
fi
if python3 - "$cfg" "$version" "$layer" <<'PY' && [ "$tags" = "$version dev" ]; then
import json, sys, tarfile
c, v, layer = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
assert c["User"] == "65532:65532", c["User"]
assert c["Entrypoint"] == ["/sluiced"] and not c.get("Cmd"), c
assert "8080/tcp" in c["ExposedPorts"], c
assert c["Labels"]["org.opencontainers.image.version"] == v, c["Labels"]
assert c["Labels"]["org.opencontainers.image.title"] == "sluiced", c["Labels"]
with tarfile.open(layer) as t:
    f = {m.name.strip("/"): m for m in t.getmembers()}
want = {"sluiced": (0, 0o755), "tmp": (0, 0o1777), "home/nonroot": (65532, 0o755),
        "etc/passwd": (0, 0o644)}
for name, (uid, mode) in want.items():
    assert (f[name].uid, f[name].mode) == (uid, mode), "%s: uid %d mode %o" % (name, f[name].uid, f[name].mode)
PY
	ok "the configuration: user 65532:65532, entrypoint /sluiced, port 8080, OCI labels; tags dev and $version; the layer's files root's, /tmp 1777, the home nonroot's"
else
	not_ok "the image configuration and its layer" "$cfg" "tags: $tags"
fi

if command -v skopeo >/dev/null; then
	if [ "$(skopeo inspect --format '{{.Digest}}' "oci-archive:$img/sluice.tar:dev" 2>&1)" = "sha256:$(basename "$(sed -n 4p "$tmp/layout")")" ]; then
		ok "skopeo reads the oci-archive (the tag dev, the same manifest)"
	else
		not_ok "skopeo reads the oci-archive" "$(skopeo inspect "oci-archive:$img/sluice.tar:dev" 2>&1 | tail -n 3)"
	fi
else
	skip "skopeo reads the oci-archive" "skopeo not installed"
fi

# 3. the binary in the root filesystem. in_image ARGS...: sluiced run as a
#    runtime would (its own mount namespace with /proc, user 65532, a clean
#    environment); IMAGE_ENV adds variables
chroot=$(command -v chroot)
in_image=(unshare -m --propagation private sh -c 'root=$1 chroot=$2; shift 2
	mount -t proc proc "$root/proc" &&
		exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/nonroot $IMAGE_ENV \
		"$chroot" --userspec=65532:65532 "$root" /sluiced "$@"' in_image "$R" "$chroot")
in_image() { IMAGE_ENV=$IMAGE_ENV "${in_image[@]}" "$@"; }
IMAGE_ENV=
out=$(in_image --version 2>&1)
if [[ "$out" == "sluiced $version "* ]]; then
	ok "sluiced --version runs in the image: $out"
else
	not_ok "sluiced --version runs in the image" "$out"
fi

if ! command -v kubectl >/dev/null; then
	skip "sluiced from the image against the sandbox" "kubectl not installed"
	exit 0
fi
tests/sandbox/sandbox up "$sbx" >/dev/null || { not_ok "sandbox up"; exit 1; }
eval "$(tests/sandbox/sandbox env "$sbx")"
port=${SANDBOX_SERVER##*:}

# a repository inside the image's /tmp, where a pod's volume would be
G="git -c user.name=Dev -c user.email=dev@example.com -c init.defaultBranch=main"
$G init -q "$tmp/work"
mkdir -p "$tmp/work/apps" "$tmp/work/team"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: imaged\n' >"$tmp/work/apps/namespace.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {mode: blue}\n' >"$tmp/work/apps/config.yaml"
cat >"$tmp/work/apps/web.yaml" <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - {name: web, image: "web:1"}
Y
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: team-settings\ndata: {owner: team}\n' >"$tmp/work/team/config.yaml"
mkdir -p "$tmp/work/kust"
printf 'resources: [config.yaml]\nnamePrefix: k-\n' >"$tmp/work/kust/kustomization.yaml"
cp "$tmp/work/team/config.yaml" "$tmp/work/kust/config.yaml"
(cd "$tmp/work" && $G add -A && $G commit -q -m v1)
git clone -q --bare "$tmp/work" "$R/tmp/shop.git"
mkdir -p "$R/tmp/kube"
cp "$SANDBOX_CA" "$R/tmp/kube/ca.crt"
cp "$SANDBOX_ADMIN_TOKEN_FILE" "$R/tmp/kube/token"
sed -e "s|certificate-authority: .*|certificate-authority: /tmp/kube/ca.crt|" \
	-e "s|tokenFile: .*|tokenFile: /tmp/kube/token|" "$KUBECONFIG" >"$R/tmp/kube/config"
chown -R "$uid:$uid" "$R/tmp/shop.git" "$R/tmp/kube"
chmod 600 "$R/tmp/kube/token"

in_image --repo /tmp/shop.git --path apps --namespace imaged --app shop --once \
	--cache-dir /tmp/cache --kubeconfig /tmp/kube/config 2>"$tmp/once.log"
rc=$?
if [ $rc -eq 0 ] && [ "$(kubectl get deploy web -n imaged -o jsonpath='{.metadata.labels.sluice\.dev/app}')" = shop ] &&
	[ "$(kubectl get configmap settings -n imaged -o jsonpath='{.data.mode}')" = blue ] &&
	grep -q '"msg":"synced"' "$tmp/once.log"; then
	ok "sluiced from the image, single-app mode: the Git child (/proc/self/exe) fetches, the objects are applied over TLS"
else
	not_ok "sluiced from the image, single-app mode: objects applied" "rc=$rc" "$(tail -n 5 "$tmp/once.log")"
fi

# the default image has no kubectl: a kustomization is refused, and says why
in_image --repo /tmp/shop.git --path kust --namespace imaged --app kust --once \
	--cache-dir /tmp/cache --kubeconfig /tmp/kube/config 2>"$tmp/kust.log"
rc=$?
if [ $rc -ne 0 ] && grep -q 'kust/kustomization.yaml:1: rendering a kustomization needs kubectl' "$tmp/kust.log" &&
	! kubectl get configmap k-team-settings -n imaged >/dev/null 2>&1; then
	ok "a kustomization in the default image: refused, the message names kubectl (rc=$rc)"
else
	not_ok "a kustomization in the default image: refused, the message names kubectl" "rc=$rc" "$(tail -n 3 "$tmp/kust.log")"
fi

# Application mode as in a pod: the service account's files, the service's
# environment variables, no kubeconfig; /healthz and /metrics served
kubectl apply -f deploy/crds/application.yaml >/dev/null
kubectl wait --for condition=established crd/applications.sluice.dev --timeout=30s >/dev/null
kubectl create namespace team >/dev/null
cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata: {name: team, namespace: team}
spec:
  source: {repoURL: /tmp/shop.git, path: team}
  syncPolicy: {interval: 1m}
Y
sa="$R/var/run/secrets/kubernetes.io/serviceaccount"
mkdir -p "$sa"
cp "$SANDBOX_CA" "$sa/ca.crt"
cp "$SANDBOX_ADMIN_TOKEN_FILE" "$sa/token"
echo sluice-system >"$sa/namespace"
chown -R "$uid:$uid" "$sa"
# (not the function: $! must be sluiced, which unshare, sh, env and chroot exec)
IMAGE_ENV="KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$port" \
	"${in_image[@]}" --cache-dir /tmp/cache --http-addr 127.0.0.1:0 2>"$tmp/apps.log" &
pid=$!
for _ in $(seq 1 300); do
	[ "$(kubectl get configmap team-settings -n team -o jsonpath='{.data.owner}' 2>/dev/null)" = team ] && break
	sleep 0.2
done
hport=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("msg")=="http: listening": print(d["port"])' "$tmp/apps.log" 2>/dev/null)
health=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${hport:-1}/healthz")
metrics=$(curl -sf "http://127.0.0.1:${hport:-1}/metrics" | grep -c '^sluice_' || true)
if [ "$(kubectl get application team -n team -o jsonpath='{.status.sync.status}')" = Synced ] &&
	[ "$health" = 200 ] && [ "$metrics" -gt 0 ]; then
	ok "sluiced from the image, Application mode in-cluster: Synced, /healthz 200, /metrics ($metrics samples)"
else
	not_ok "sluiced from the image, Application mode in-cluster" "healthz=$health metrics=$metrics" \
		"$(kubectl get application team -n team -o jsonpath='{.status.sync}')" "$(tail -n 5 "$tmp/apps.log")"
fi
kill -TERM "$pid"
t0=$(date +%s%N)
wait "$pid"
rc=$?
pid=
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc -eq 0 ] && grep -q '"msg":"stopped"' "$tmp/apps.log" && [ $ms -lt 5000 ]; then
	ok "SIGTERM stops sluiced in the image cleanly (${ms} ms)"
else
	not_ok "SIGTERM stops sluiced in the image cleanly" "rc=$rc ms=$ms" "$(tail -n 3 "$tmp/apps.log")"
fi
