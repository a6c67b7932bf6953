"""Entry point of a local worker process: `python -m automm.execution.worker <read fd> <write fd> <parent pid>`."""
import sys
from multiprocessing.connection import Connection

from automm.execution.processes import worker_main

if __name__ == "__main__":
    try:
        worker_main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False),
                    int(sys.argv[3]) if len(sys.argv) > 3 else None)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        pass
