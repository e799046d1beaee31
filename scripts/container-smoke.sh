#!/usr/bin/env bash
# Builds the Dockerfile with buildah and checks the image for real: it runs as a non-root user, serves
# /healthz to the host, passes its own HEALTHCHECK (and fails it once the server is gone), runs an
# add(2,3) job from inside the container, and shuts down cleanly on SIGTERM.
# Needs root, buildah and a node:24-slim image; ../shared/container/README.md builds a local stand-in
# for the base image on machines without a Docker engine. Usage: scripts/container-smoke.sh
# Environment: SMOKE_PORT (default 18080), BASE_IMAGE_SCRIPT (builds node:24-slim when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
image=localhost/wasm-job-dispatcher:smoke
base=docker.io/library/node:24-slim
port=${SMOKE_PORT:-18080}
started=$SECONDS

step() { printf '== %s (at %ss)\n' "$1" "$((SECONDS - started))"; }
fail() {
  echo "container-smoke: FAIL: $*" >&2
  [ -s "${log:-}" ] && { echo "-- server log:" >&2; cat "$log" >&2; }
  exit 1
}
# Runs a snippet of JavaScript on the host's node (the image has no curl, and neither may the host).
js() { node --input-type=module -e "$1"; }

command -v buildah >/dev/null || fail "buildah is missing: apt-get install -y buildah debootstrap"
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  maker=${BASE_IMAGE_SCRIPT:-../shared/container/make-base-image.sh}
  [ -x "$maker" ] || fail "there is no $base image, and no $maker to build a local stand-in"
  step "building a local stand-in for $base"
  "$maker" "$base"
fi

step "building the image"
buildah bud --pull=never --format docker --quiet -t "$image" . >/dev/null
size=$(buildah images --format '{{.Size}}' "$image")
base_size=$(buildah images --format '{{.Size}}' "$base")
echo "image $image: $size (base $base: $base_size)"

log=$(mktemp)
ctr=""
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server" 2>/dev/null || true; fi
  if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -f "$log"
}
trap cleanup EXIT
ctr=$(buildah from "$image")
# buildah run starts neither CMD nor HEALTHCHECK: each check below runs the image's own command.
in_ctr() { buildah run --env PORT="$port" "$ctr" -- "$@"; }
config() { buildah inspect --type image "$image" | js "let s = ''; for await (const c of process.stdin) s += c; console.log(JSON.stringify(JSON.parse(s).Docker.config$1))"; }

step "the image runs as a non-root user"
user=$(config .User | tr -d '"')
uid=$(in_ctr id -u)
[ -n "$user" ] && [ "$user" != root ] && [ "$uid" != 0 ] || fail "the image runs as '$user' (uid $uid)"
echo "USER $user, uid $uid"

step "starting the image's CMD"
mapfile -t cmd < <(config .Cmd | js "for (const a of JSON.parse(await new Response(process.stdin).text())) console.log(a)")
echo "CMD ${cmd[*]}"
in_ctr "${cmd[@]}" >"$log" 2>&1 &
runner=$!
for _ in $(seq 1 120); do
  grep -q '"msg":"wasm-job-dispatcher ready"' "$log" && break
  sleep 0.25
done
server=$(js "for (const l of (await import('node:fs')).readFileSync('$log', 'utf8').split('\n')) if (l.includes('wasm-job-dispatcher ready')) console.log(JSON.parse(l).pid)")
[ -n "$server" ] || fail "the server did not start"
server_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$server/status")
[ "$server_uid" != 0 ] || fail "the server process runs as root"
echo "server pid $server, uid $server_uid, $(grep -o '"node":"[^"]*"' "$log")"

step "GET /healthz from the host"
js "const r = await fetch('http://127.0.0.1:$port/healthz'); const b = await r.text(); console.log(r.status, b);
    if (r.status !== 200 || JSON.parse(b).status !== 'ok') process.exit(1)" || fail "/healthz"

step "the HEALTHCHECK command passes"
mapfile -t check < <(config .Healthcheck.Test | js "for (const a of JSON.parse(await new Response(process.stdin).text()).slice(1)) console.log(a)")
[ "${check[0]:-}" = node ] || fail "the HEALTHCHECK does not use node: ${check[*]}"
in_ctr "${check[@]}" || fail "the HEALTHCHECK command failed on a healthy server"

step "an add(2,3) job, from inside the container"
in_ctr node --input-type=module -e "
  const base = 'http://127.0.0.1:$port';
  const res = await fetch(base + '/~wasm64@1.0/run', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'add(2,3)' }) });
  if (res.status !== 202) throw new Error('run answered ' + res.status + ' ' + await res.text());
  const location = res.headers.get('location');
  for (let i = 0; i < 200; i++) {
    const job = await (await fetch(base + location)).json();
    if (job.status === 'completed' && job.result === 5) { console.log('job', job.id, job.status, 'result', job.result); process.exit(0); }
    if (job.status !== 'queued' && job.status !== 'running') throw new Error('job ended ' + JSON.stringify(job));
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the job did not finish');
" || fail "add(2,3)"

step "SIGTERM: a clean stop"
kill -TERM "$server"
for _ in $(seq 1 120); do kill -0 "$server" 2>/dev/null || break; sleep 0.25; done
kill -0 "$server" 2>/dev/null && fail "the server did not stop within 30 s of SIGTERM"
wait "$runner" || fail "the server exited with a non-zero code"
grep -q '"msg":"stopped"' "$log" || fail "the log does not say the server stopped"
server=""

step "the HEALTHCHECK command fails once the server is gone"
if in_ctr "${check[@]}" 2>/dev/null; then fail "the HEALTHCHECK passed with no server"; fi

step "container smoke test passed in $((SECONDS - started)) s"
