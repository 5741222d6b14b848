"""The agent's pure core: its context, the shape of model output, the local interpreter."""
