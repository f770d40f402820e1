"""relay's specialized agents (image, code, file) and their tools."""

# -- sandbox --

# -- workspace, downloads, images --
