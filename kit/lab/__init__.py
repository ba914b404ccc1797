"""Inside the notebooks' kernels: project cells that write their file (project_cells.py), the same after
a kernel restart (kernel_startup.py), a step not written yet said plainly (step_not_done.py)."""
