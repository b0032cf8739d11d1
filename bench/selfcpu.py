"""Run a Python console script (ansible-playbook) and write its main process's own CPU time as JSON.

    python selfcpu.py OUT.json /path/to/ansible-playbook ARGS...

The workers Ansible forks leave with os._exit and do not write; only the main process (the strategy
loop: queuing tasks, variables, callbacks, forking) does. Used by bench/run --profile.
"""

import atexit
import json
import os
import resource
import runpy
import sys

OUT, SCRIPT = sys.argv[1], sys.argv[2]
MAIN = os.getpid()


@atexit.register
def _dump():
    if os.getpid() == MAIN:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(OUT, "w") as handle:
            json.dump({"main_user_s": round(usage.ru_utime, 2), "main_sys_s": round(usage.ru_stime, 2)}, handle)


sys.argv = [SCRIPT] + sys.argv[3:]
runpy.run_path(SCRIPT, run_name="__main__")
