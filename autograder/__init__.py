"""rnnkit's trusted side: build, sandboxed grading, gradebook, command line."""
