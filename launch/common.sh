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
# launch/test-bundle.sh: 60 MB (the issue's limit, in SI units: 57.2 MiB).
BUNDLE_LIMIT_BYTES=60000000

# is_system_library SONAME: true for the libraries launch/bundle leaves to the machine the bundle
# runs on: glibc's own (the C library, libm, the dynamic loader, ...), which a program must take from
# its machine, and the GCC runtime (libstdc++, libgcc_s). Every system with the glibc the bundle
# needs (>= 2.36: Debian 12, Ubuntu 22.10+, Fedora 37+, RHEL 10) ships GCC >= 12's libstdc++,
# newer than the GLIBCXX_3.4.29 the static Swift runtime asks for, and a GPU machine has it anyway
# (the CUDA libraries are C++). Bundling them would cost 2.7 MB of the 60 MB.
is_system_library() {
    [[ "$1" =~ ^(libc|libm|libmvec|libdl|libpthread|librt|libutil|libresolv|libanl)\.so\.[0-9]+$ ||
        "$1" == ld-linux*.so.* || "$1" == libstdc++.so.6 || "$1" == libgcc_s.so.1 ]]
}

# bundle_size FOLDER: total bytes of the files in it (launch/bundle, launch/test-bundle.sh).
bundle_size() { find "$1" -type f -printf '%s\n' | awk '{ total += $1 } END { print total + 0 }'; }

# elf_runpath FILE: FILE's DT_RUNPATH as written ($ORIGIN unexpanded), empty when it has none.
elf_runpath() { readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]$/\1/p'; }

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
