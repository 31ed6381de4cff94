"""The real collaborators behind `kpops_bot.workflows.ports`: git, renders, kpops and publishing. `services.py` wires
them into the workflows, which see only the protocols."""
