"""
ser_ros: speech emotion recognition for robots.

The recognition core (``audio``, ``features``, ``model``, ``hmm``, ``vad``, ``recognizer``,
``bundle``) is plain Python and never imports rclpy; only ``node`` and the ROS tools adapt it
to ROS 2.
"""

__version__ = '0.1.0'
