"""relsim: agent-based simulation of relationship marketing on Mesa."""
