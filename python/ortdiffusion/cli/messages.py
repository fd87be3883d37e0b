"""Lines the command prints in more than one place."""

INTERRUPTED = "ortdiffusion: interrupted; no partial output was kept"
