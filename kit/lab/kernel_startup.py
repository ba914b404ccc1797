"""Run by every kernel that `make lab` starts (it sets PYTHONSTARTUP to this file).

Project cells write their file only once kit.lab.project_cells' input transformer is installed, which
kit.notebook does on import, in a notebook's first cell. After a kernel restart a learner often runs
just the cell they changed: this makes that cell write its file then too, instead of executing the
file's code in the kernel. Everything here stays out of the notebook's namespace.
"""


def _install_project_cell_writer():
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])  # the repository: this is kit/lab/kernel_startup.py
    if root not in sys.path:
        sys.path.append(root)
    try:
        from kit.lab.project_cells import install_cell_writer

        install_cell_writer()
    except Exception as exc:  # never stop a kernel from starting
        print(f"kit: project cells write their files once kit.notebook is imported ({exc})", file=sys.stderr)


_install_project_cell_writer()
del _install_project_cell_writer
