# Source this to run ser_ros from the venv that scripts/setup_env.sh made:
#   source scripts/env.sh
# It puts the venv first on PATH and makes the ament index (share/ser_ros, the interfaces) findable.
_ser_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SER_ROS_VENV="${SER_ROS_VENV:-$_ser_root/.venv}"
export PATH="$SER_ROS_VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$SER_ROS_VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$_ser_root/.venv/ros_log}"
export MPLCONFIGDIR="${MPLCONFIGDIR:-$_ser_root/.venv/mplconfig}"
unset _ser_root
