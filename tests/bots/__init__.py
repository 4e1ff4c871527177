"""Small stand-ins for Gopherbot that the supervisor tests run as the robot's child process."""
