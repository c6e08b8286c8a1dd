#!/usr/bin/env bash
# The portable bundle's test: it runs with no Swift, MPI, OpenBLAS or zlib on the machine.
#
#   bash launch/test-bundle.sh      # root, or sudo for the chroot; builds with launch/bundle
#
# 1. Builds the bundle and its tarball with launch/bundle into a temporary folder.
# 2. Checks the size limit, and that ldd resolves every library of bin/disttrain inside the bundle
#    except glibc's and the GCC runtime's; the RUNPATHs ($ORIGIN/../lib on the binary, $ORIGIN on
#    the libraries).
# 3. Unpacks the tarball into an empty root holding nothing else but glibc's and the GCC runtime's
#    files from this machine (libc, libm, the dynamic loader, libstdc++, libgcc_s; libdl,
#    libpthread, librt where present): what every machine the bundle targets has. It runs
#    in it, through chroot: the loader's own list of what it loads, `disttrain --help`, and a
#    2-step SimCLR run on the synthetic dataset, which must exit 0 and leave metrics.jsonl with
#    2 step records and checkpoints/last.safetensors.
# 4. A control: with lib/libopenblas.so.0 moved away, `disttrain --help` in the root must fail
#    naming it, which shows that nothing of the host's is reachable from the root.
# 5. On this machine: two ranks of the bundled binary under Debian's mpirun (comm-check), and
#    LD_LIBRARY_PATH puts the host's libmpi.so.40 in place of the bundled one, as the bundle's
#    README tells cluster users to do.
# The temporary folder is removed when everything passed and kept (and named) otherwise.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

TRAIN_ARGS=(train --method simclr --dataset synthetic --width 0.125 --subset 64 --batch-size 32
    --epochs 1 --max-steps 2 --proj-hidden-dim 64 --proj-output-dim 32 --threads 1 --no-knn
    --run-dir /tmp/run)
# glibc's and the GCC runtime's libraries (is_system_library in common.sh), the only ones the root
# gets from this machine (the loader comes from the binary's PT_INTERP).
SYSTEM_LIBS=(libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libstdc++.so.6 libgcc_s.so.1)

fail() {
    echo "test-bundle: FAILED: $*" >&2
    exit 1
}

# chroot needs root; everything else runs as the caller (the build must not leave root's files).
as_root=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || fail "not root and no sudo: the chroot needs root."
    as_root=(sudo)
fi

work=$(mktemp -d /tmp/disttrain-test-bundle.XXXXXX)
root="$work/root"
cleanup() {
    local status=$?
    trap - EXIT
    # Never remove the folder while /proc is mounted inside it.
    if mountpoint -q "$root/proc" 2>/dev/null && ! "${as_root[@]}" umount "$root/proc"; then
        echo "test-bundle: could not unmount $root/proc; files kept in $work"
        exit 1
    fi
    if ((status == 0)); then
        "${as_root[@]}" rm -rf "$work"
        echo "test-bundle: PASSED in $(elapsed)"
    else
        echo "test-bundle: files kept in $work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bundle="$work/disttrain-bundle"
step "Building the bundle (launch/bundle --output $bundle --tar)"
bash launch/bundle --output "$bundle" --tar || fail "launch/bundle failed (its message is above)."
[[ -f "$bundle.tar.gz" ]] || fail "launch/bundle --tar left no $bundle.tar.gz."

# --- The bundle on this machine ------------------------------------------------------------------
step "Checking the bundle's size, RUNPATHs and what ldd resolves"
total=$(bundle_size "$bundle")
((total <= BUNDLE_LIMIT_BYTES)) || fail "the bundle is $total bytes, over $BUNDLE_LIMIT_BYTES (BUNDLE_LIMIT_BYTES in common.sh)."
echo "    ok  $total bytes <= $BUNDLE_LIMIT_BYTES"

[[ ":$(elf_runpath "$bundle/bin/disttrain"):" == *':$ORIGIN/../lib:'* ]] ||
    fail "bin/disttrain's RUNPATH is '$(elf_runpath "$bundle/bin/disttrain")', without \$ORIGIN/../lib."
for lib in "$bundle"/lib/*; do
    [[ "$(elf_runpath "$lib")" == '$ORIGIN' ]] || fail "lib/$(basename "$lib") has RUNPATH '$(elf_runpath "$lib")', expected \$ORIGIN."
done
echo "    ok  RUNPATH \$ORIGIN/../lib on bin/disttrain, \$ORIGIN on all $(ls "$bundle/lib" | wc -l) libraries"

listing=$(env -u LD_LIBRARY_PATH ldd "$bundle/bin/disttrain") || fail "ldd bin/disttrain failed: $listing"
if grep -q 'not found' <<<"$listing"; then fail "ldd finds no file for: $(grep 'not found' <<<"$listing" | tr -s ' \t' ' ')"; fi
lib_dir=$(readlink -f "$bundle/lib")
while read -r soname arrow path _; do
    [[ "$arrow" == "=>" ]] || continue
    if is_system_library "$soname"; then continue; fi
    [[ "$(dirname "$(readlink -f "$path")")" == "$lib_dir" ]] ||
        fail "$soname resolves to $path, outside the bundle's lib/."
done <<<"$listing"
echo "    ok  every library but glibc's and the GCC runtime's resolves in lib/:"
sed 's/^[[:space:]]*/        /' <<<"$listing"

# --- An empty root with glibc and libstdc++ only ------------------------------------------------
triple="$(uname -m)-linux-gnu"
step "Making a root with only glibc, libstdc++, libgcc_s and the unpacked tarball ($root)"
mkdir -p "$root/opt" "$root/lib/$triple" "$root/tmp" "$root/proc"
chmod 1777 "$root/tmp"
tar -xzf "$bundle.tar.gz" -C "$root/opt"
bin="/opt/$(basename "$bundle")/bin/disttrain"
[[ -x "$root$bin" ]] || fail "the tarball holds no $(basename "$bundle")/bin/disttrain."
interpreter=$(readelf -l "$bundle/bin/disttrain" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
[[ -n "$interpreter" ]] || fail "bin/disttrain names no program interpreter."
mkdir -p "$root$(dirname "$interpreter")"
cp -L "$interpreter" "$root$interpreter"
for name in "${SYSTEM_LIBS[@]}"; do
    for folder in "/lib/$triple" "/usr/lib/$triple" /lib64 /usr/lib64; do
        if [[ -f "$folder/$name" ]]; then
            cp -L "$folder/$name" "$root/lib/$triple/$name"
            break
        fi
    done
done
[[ -f "$root/lib/$triple/libc.so.6" ]] || fail "libc.so.6 not found on this machine."
(cd "$root" && find . -type f ! -path "./opt/*" -printf '    %P\n' | sort)
echo "    + $(find "$root/opt" -type f | wc -l) files of the bundle under /opt"
# /proc, as on every real machine: the dynamic loader reads /proc/self/exe to expand the binary's
# $ORIGIN (without it: "libopenblas.so.0: cannot open shared object file"). It holds no libraries.
"${as_root[@]}" mount -t proc proc "$root/proc" || fail "cannot mount proc on $root/proc."

# in_root COMMAND...: COMMAND inside the root, with an environment of nothing but PATH and HOME.
chroot_tool=$(PATH="$PATH:/usr/sbin:/sbin" command -v chroot) || fail "chroot not found (coreutils)."
in_root() {
    "${as_root[@]}" env -i PATH="$(dirname "$bin")" HOME=/tmp "$chroot_tool" "$root" "$@"
}

step "In the root: what the dynamic loader loads ($interpreter --list)"
loaded=$(in_root "$interpreter" --list "$bin" 2>&1) || fail "the loader cannot load bin/disttrain in the root:
$loaded"
sed 's/^[[:space:]]*/    /' <<<"$loaded"

step "In the root: disttrain --help"
help=$(in_root "$bin" --help 2>&1) || fail "disttrain --help failed in the root (exit $?):
$help"
grep -q '^Usage: disttrain <command>' <<<"$help" || fail "disttrain --help printed no usage line:
$help"
echo "    ok  $(grep -c . <<<"$help") lines of help"

step "In the root: disttrain ${TRAIN_ARGS[*]}"
status=0
in_root "$bin" "${TRAIN_ARGS[@]}" >"$work/train.out" 2>&1 || status=$?
sed 's/^/    | /' "$work/train.out" | tail -n 20
((status == 0)) || fail "the training run in the root exited with $status (output above, in $work/train.out)."
metrics="$root/tmp/run/metrics.jsonl"
[[ -s "$metrics" ]] || fail "the training run left no $metrics."
records=$(grep -c '"loss":' "$metrics" || true)
((records == 2)) || fail "metrics.jsonl holds $records step records, expected 2 (--max-steps 2)."
[[ -s "$root/tmp/run/checkpoints/last.safetensors" ]] || fail "the training run left no checkpoints/last.safetensors."
echo "    ok  exit 0; metrics.jsonl with 2 step records; checkpoints/last.safetensors ($(stat -c %s "$root/tmp/run/checkpoints/last.safetensors") bytes)"

step "Control: the root without lib/libopenblas.so.0 must fail"
openblas="$root$(dirname "$(dirname "$bin")")/lib/libopenblas.so.0"
mv "$openblas" "$openblas.away"
status=0
output=$(in_root "$bin" --help 2>&1) || status=$?
mv "$openblas.away" "$openblas"
((status != 0)) || fail "disttrain --help ran without the bundled OpenBLAS: the root is not isolated from the host."
grep -q 'libopenblas.so.0' <<<"$output" || fail "without OpenBLAS, --help failed (exit $status) but did not name libopenblas.so.0: $output"
echo "    ok  exit $status: $output"

# --- With this machine's Open MPI ----------------------------------------------------------------
step "On this machine: 2 ranks of the bundled binary under mpirun (comm-check)"
output=$(DISTTRAIN_BIN="$bundle/bin/disttrain" timeout 120 bash launch/mpirun.sh -n 2 comm-check 2>&1) ||
    fail "mpirun -n 2 comm-check with the bundled binary failed:
$output"
echo "    ok  $(grep -c . <<<"$output") lines, exit 0"

mpi_dir=$(dirname "$(readlink -f "$(ldconfig -p | awk '$1 == "libmpi.so.40" { print $NF; exit }')")")
resolved=$(LD_LIBRARY_PATH="$mpi_dir" ldd "$bundle/bin/disttrain" | awk '$1 == "libmpi.so.40" { print $3 }')
[[ "$(dirname "$(readlink -f "$resolved")")" == "$mpi_dir" ]] ||
    fail "with LD_LIBRARY_PATH=$mpi_dir, libmpi.so.40 still resolves to $resolved (the README's cluster instructions rely on it)."
echo "    ok  LD_LIBRARY_PATH=$mpi_dir: libmpi.so.40 => $resolved"
