"""QoS profiles shared by the node and the ROS tools."""

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

#: Latched topics (AudioInfo, LabelInfo): the last message reaches late subscribers, as
#: audio_capture's AudioInfo does.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
