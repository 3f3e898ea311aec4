"""Running scenarios: replications, statistics, the report, its plots and the results folder."""
