// Workload generator.
