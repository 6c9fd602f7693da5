"""Design-space exploration: sweeps of a space into a resumable store, on a local pool
or a Dask cluster; multi-objective search; Pareto fronts of energy, latency and area."""
