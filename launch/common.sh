# Shared by the scripts in launch/: sourced, never run. Sets REPO_ROOT and SCRATCH, puts the
# preinstalled Swift toolchain on PATH when it is not there yet, and prints steps and timings.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# SwiftPM's build folder. `.build` is SwiftPM's own default; set DISTTRAIN_SCRATCH to keep several
# builds side by side (e.g. one per git worktree).
SCRATCH="${DISTTRAIN_SCRATCH:-.build}"

# The venv holding NVRTC (pip's nvidia-cuda-nvrtc wheel) that the kernel tests compile with; setup.sh
# makes it, test.sh requires it. Pinned so CI compiles with a known compiler.
NVRTC_VENV="$REPO_ROOT/.venv-nvrtc"
NVRTC_VERSION="13.5.37"

# The portable bundle's size limit (issue 6: "under 60 MB in all"), checked by launch/bundle and
# launch/test-bundle.sh: 60 MiB (62.9 MB in SI units).
BUNDLE_LIMIT_BYTES=$((60 * 1024 * 1024))

# is_glibc SONAME: true for glibc's own libraries (the C library, libm, the dynamic loader, ...),
# which launch/bundle leaves to the machine the bundle runs on.
is_glibc() {
    [[ "$1" =~ ^(libc|libm|libmvec|libdl|libpthread|librt|libutil|libresolv|libanl)\.so\.[0-9]+$ ||
        "$1" == ld-linux*.so.* ]]
}

# Our machines have the Swift 6 toolchain in /opt/swift; a fresh login shell may not have it on PATH.
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

# step "what happens now": a visible header line, and the time since the script started.
SCRIPT_START=$SECONDS
step() {
    printf '\n==> [%s] %s\n' "$(elapsed)" "$*"
}

# elapsed: time since the script started, as "1m05s".
elapsed() {
    local seconds=$((SECONDS - SCRIPT_START))
    printf '%dm%02ds' $((seconds / 60)) $((seconds % 60))
}
