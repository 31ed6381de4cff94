"""Comment commands: parsing (pure), authorization (pure), and what each command means."""
