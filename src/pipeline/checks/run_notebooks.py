# Runs a datalab's notebooks inside its image with nbclient, one after another, and prints one line
# per notebook: "LABFORGE-NOTEBOOK " followed by a JSON object (path, outcome, cell, error,
# traceback, seconds). labforge passes its settings as the one argument, a JSON object:
#   notebooks  the paths to run, relative to the working directory; null: every *.ipynb under it
#              outside hidden folders, in path order
#   limit      at most this many notebooks when they are discovered
#   timeout    seconds each notebook may take, kernel start included
# Each notebook runs in its own folder with the image's python3 kernel; the executed copy is never
# written back. Cells are numbered from 1 in notebook order, markdown cells included, as JupyterLab
# shows them.
import json
import pathlib
import re
import sys
import time

MARKER = "LABFORGE-NOTEBOOK "
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TRACEBACK_SHOWN = 4000


def report(**fields):
    print(MARKER + json.dumps(fields), flush=True)


def discover(root, limit):
    found = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.ipynb")
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    for path in found[limit:]:
        report(path=path, outcome="not_run", cell=None, seconds=0.0,
               error=f"not run: only the first {limit} notebooks are checked; list the ones to "
                     "check under testing.notebooks in metadata.yaml", traceback=None)
    return found[:limit]


def run(root, relative, timeout):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    started = time.monotonic()
    deadline = started + timeout
    path = root / relative
    current = {"cell": None}

    def finish(outcome, error=None, traceback=None):
        report(path=relative, outcome=outcome, cell=current["cell"],
               seconds=round(time.monotonic() - started, 2), error=error,
               traceback=traceback[-TRACEBACK_SHOWN:] if traceback else None)

    try:
        notebook = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        return finish("failed", error=f"{relative} is not in the image")
    except Exception as error:  # noqa: BLE001 - any unreadable notebook is reported as such
        return finish("failed", error=f"{relative} is not a notebook nbformat can read: {error}")

    def entered(cell, cell_index, **_):
        current["cell"] = cell_index + 1

    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        startup_timeout=max(1, int(timeout)),
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_execute=entered,
    )
    try:
        client.execute()
    except CellTimeoutError:
        return finish("timed_out", error=f"the notebook took more than its {timeout} s")
    except DeadKernelError as error:
        return finish("failed", error=f"the kernel died: {error}")
    except CellExecutionError as error:
        message = f"{error.ename}: {error.evalue}" if error.ename else str(error)
        return finish("failed", error=ANSI.sub("", message), traceback=ANSI.sub("", str(error)))
    except Exception as error:  # noqa: BLE001 - the kernel could not start, or nbclient failed
        if time.monotonic() >= deadline:
            return finish("timed_out", error=f"the notebook took more than its {timeout} s")
        return finish("failed", error=ANSI.sub("", f"{type(error).__name__}: {error}"))
    finish("passed")


def main():
    settings = json.loads(sys.argv[1])
    root = pathlib.Path.cwd()
    notebooks = settings["notebooks"]
    if notebooks is None:
        notebooks = discover(root, settings["limit"])
    for relative in notebooks:
        run(root, relative, settings["timeout"])


main()
