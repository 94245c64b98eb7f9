"""Network architectures of the course (they know nothing of losses or training loops)."""
