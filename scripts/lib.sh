# Shared by scripts/install-and-run and scripts/test: apt packages and the project's venv.

# What the program needs from Debian at run time: the system libraries Qt's xcb platform loads.
RUNTIME_APT=(libgl1 libegl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3
    libglib2.0-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0
    libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1)
# What the tests need beyond that: a virtual screen, a system tray to dock in, and xdotool and
# ImageMagick to drive the real window and take its screenshot.
TEST_APT=(xvfb xauth trayer xdotool imagemagick)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_apt_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        missing+=(python3-venv)
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "Installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

ensure_venv() {
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
        .venv/bin/pip install --quiet --upgrade pip
    fi
}
