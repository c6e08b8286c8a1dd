#!/usr/bin/env bash
# Installs what disttrain needs on Debian 12 and checks the Swift toolchain.
#
#   bash launch/setup.sh
#
# Runs as root, or through sudo otherwise. Only missing packages are installed, and apt is not
# touched at all when nothing is missing, so a second run takes a second and works offline.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# What the build, the tests and the main job need:
#   libopenmpi-dev openmpi-bin  MPI headers/library (CMPI) and mpirun
#   libopenblas-dev             BLAS for the CPU backend (CBLAS)
#   zlib1g-dev                  gzip reader for the IDX datasets (CZlib)
#   pkg-config                  how SwiftPM finds the three libraries above
#   dataset-fashion-mnist       Fashion-MNIST in /usr/share/datasets/fashion-mnist
#   libxml2-utils               xmllint: the tests check that every SVG plot is well-formed XML
#   chromium                    headless browser: the tests render report.html and screenshot it
#                               (126 MB download, about 25 s to install; only the tests need it)
#   slurm-wlm munge             SLURM (slurmctld, slurmd, sbatch/srun) and its authentication
#                               daemon, for launch/slurm/ and the single-node SLURM test
#                               (launch/test-slurm.sh); nothing is started or enabled here
#   patchelf                    launch/bundle: gives the libraries it copies beside the binary the
#                               RUNPATH $ORIGIN, so they find each other there
# git and ca-certificates are not listed: there are no Swift package dependencies to fetch, and
# Debian's default mirrors are plain http.
PACKAGES=(libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev pkg-config dataset-fashion-mnist
          libxml2-utils chromium slurm-wlm munge patchelf)

# python3-venv: `python3 -m venv` for .venv-nvrtc below (NVRTC for the kernel tests; Debian's pip
# refuses to install into the system Python).
PACKAGES+=(python3-venv)

# is_installed PACKAGE: true when dpkg reports it fully installed.
is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

step "Checking Debian packages"
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "error: dpkg-query not found; this script expects Debian 12 (or a derivative with apt)." >&2
    exit 1
fi
missing=()
for package in "${PACKAGES[@]}"; do
    if is_installed "$package"; then
        echo "    ok       $package"
    else
        echo "    missing  $package"
        missing+=("$package")
    fi
done

if ((${#missing[@]} > 0)); then
    # Root runs apt directly; anyone else goes through sudo.
    if [[ $(id -u) -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "error: need root to install: ${missing[*]}" >&2
        echo "       run this script as root, or install sudo." >&2
        exit 1
    fi
    step "Installing ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
else
    echo "    all packages present; apt not needed"
fi

step "Checking the libraries SwiftPM will look for"
for module in ompi-c openblas zlib; do
    if ! pkg-config --exists "$module"; then
        echo "error: pkg-config cannot find '$module' although its package is installed." >&2
        exit 1
    fi
    echo "    ok       $module $(pkg-config --modversion "$module")"
done

step "Checking the Swift toolchain"
if ! command -v swift >/dev/null 2>&1; then
    cat >&2 <<'MESSAGE'
error: 'swift' is not on PATH.
       disttrain needs Swift 6 (our machines have it in /opt/swift/usr/bin). To install it, follow
       https://www.swift.org/install/linux/debian/12/ (swiftly, or the tarball), then make sure
       'swift --version' works in a new shell and run this script again.
MESSAGE
    exit 1
fi
# `swift --version` prints e.g. "Swift version 6.3.1 (swift-6.3.1-RELEASE)".
swift_version=$(swift --version 2>&1 | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -n 1)
if [[ -z "$swift_version" || "${swift_version%%.*}" -lt 6 ]]; then
    echo "error: disttrain needs Swift 6 or newer; $(command -v swift) reports '${swift_version:-unknown}'." >&2
    echo "       See https://www.swift.org/install/linux/debian/12/" >&2
    exit 1
fi
echo "    ok       swift $swift_version ($(command -v swift))"

# NVRTC, so the tests compile every CUDA kernel for sm_80 and sm_90 with no GPU and no driver: the
# nvidia-cuda-nvrtc wheel (58 MB: libnvrtc.so.13 + libnvrtc-builtins, in site-packages/nvidia/cu13/lib)
# in a venv inside the repository (gitignored). Skipped when it is already there, so reruns stay offline.
step "Checking NVRTC for the kernel tests ($NVRTC_VENV)"
if compgen -G "$NVRTC_VENV/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so.13" >/dev/null; then
    echo "    ok       nvidia-cuda-nvrtc already in $NVRTC_VENV"
else
    python3 -m venv "$NVRTC_VENV"
    "$NVRTC_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "nvidia-cuda-nvrtc==$NVRTC_VERSION"
    echo "    ok       nvidia-cuda-nvrtc $NVRTC_VERSION installed into $NVRTC_VENV"
fi

step "Setup done in $(elapsed)"
