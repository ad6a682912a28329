"""DreamerV3 (Hafner et al., Nature 2025)."""
