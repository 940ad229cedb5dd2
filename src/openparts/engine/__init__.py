"""Training (supervised and, later, joint), checkpoint/resume, distributed helpers, prediction."""
