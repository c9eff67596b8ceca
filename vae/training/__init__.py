"""Training: the loop, one step in its forms (eager, AMP, compiled, CUDA graph, DDP), the processes of a
torchrun run, sweeps, and the gradient-estimator training comparison."""
