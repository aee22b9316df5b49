"""The benchmark's scenarios, one module per family, each a function of the run's Bench
(scenarios.run) that bench.__main__ calls as a phase."""
