"""pytest fixtures that relay's test doubles offer to any project that installs relay."""
