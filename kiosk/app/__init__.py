"""The application layer: the pure call state machine, its backoff, and the runner that wires
signaling, media, screen and controls to it."""
