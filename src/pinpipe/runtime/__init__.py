"""Running pinpipe: the supervised ``up`` process, the demo, and signal handling."""
