"""Runtime inside the robot image: bootstrap, restore, backup, supervision and fencing of a Gopherbot robot."""
