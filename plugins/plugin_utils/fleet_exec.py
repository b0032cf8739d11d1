# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One action, many hosts: run a shell script on each inventory host from a thread pool.

Why: with a normal task Ansible forks a worker per host, templates the task per host and,
for delivery, decrypts the same system key once per LIM. A run_once action that builds each
system's material once and then talks to every node in parallel does the per-system work
once per system. It connects through the same connection and become plugins a normal task
would use for that host, with their options taken from the variables that task would see there
(inventory, group and host vars, play, role and task vars, -e; ansible_host, ansible_port,
ansible_user, ansible_ssh_common_args, ansible_become ...) and the command line (-u, -b,
--become-password-file), so inventories and ssh settings work unchanged, including ControlPersist
sockets shared with the rest of the run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures
import os
import threading

from ansible import constants as C
from ansible import context
from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.parsing.convert_bool import boolean


def run_sh(action, script, in_data=None):
    """``script`` through /bin/sh on the action's host, with become if set: {rc, stdout, stderr}."""
    return action._low_level_execute_command(script, in_data=in_data, sudoable=True, executable="/bin/sh")


def thread_count(hosts):
    """As many threads as hosts, up to the run's forks (the user's parallelism setting)."""
    forks = context.CLIARGS.get("forks") or C.DEFAULT_FORKS
    return max(1, min(len(hosts), int(forks)))


def host_variables(action, host, task_vars):
    """The variables this task would see if it ran on ``host``: what the strategy gives each host's task.

    ``hostvars[host]`` alone would miss play vars (``vars:``, ``import_playbook`` vars), role vars and
    defaults, and task vars: connection and become settings can live at any of those levels.
    """
    if host == task_vars.get("inventory_hostname"):
        return task_vars
    task = action._task
    manager = task.get_variable_manager()
    play = task.get_play()
    if manager is None or play is None:  # a task made outside a playbook run
        return task_vars["hostvars"][host]
    return manager.get_vars(play=play, host=manager._inventory.get_host(host), task=task,
                            _hosts=task_vars.get("ansible_play_hosts"),
                            _hosts_all=task_vars.get("ansible_play_hosts_all"))


class HostShell(object):
    """A shell on one inventory host, made the way the task executor makes a connection."""

    def __init__(self, action, host, task_vars):
        self.host = host
        self._action = None
        variables = host_variables(action, host, task_vars)
        # templated with this host's variables, as the task executor does (a become password may be a
        # per-host vault variable)
        templar = action._templar.copy_with_new_env(available_variables=variables)
        task = action._task
        play_context = action._play_context.set_task_and_variable_override(
            task=task, variables=variables, templar=templar)
        if variables.get("ansible_connection") is not None:
            conn_type = templar.template(variables["ansible_connection"])
        else:  # the play's or task's connection keyword
            conn_type = task.connection or play_context.connection
        if conn_type in (None, "smart"):
            conn_type = "ssh"
        play_context.connection = conn_type
        loader = action._shared_loader_obj
        connection = loader.connection_loader.get(conn_type, play_context, task_uuid=task._uuid,
                                                  ansible_playbook_pid=to_text(os.getppid()))
        if connection is None:
            raise AnsibleError("the connection plugin '%s' was not found (host %s)" % (conn_type, host))
        become = task.become
        if variables.get("ansible_become") is not None:
            become = boolean(templar.template(variables["ansible_become"]))
        become_plugin = None
        if become:
            method = templar.template(variables.get("ansible_become_method") or task.become_method or "sudo")
            become_plugin = loader.become_loader.get(method)
            if become_plugin is None:
                raise AnsibleError("the become plugin '%s' was not found (host %s)" % (method, host))
        connection.set_become_plugin(become_plugin)
        if become_plugin is not None:
            play_context.set_become_plugin(become_plugin.name)
        play_context.set_attributes_from_plugin(connection)
        task_keys = task.dump_attrs()
        task_keys["timeout"] = play_context.timeout
        task_keys.pop("retries", None)
        if play_context.password:
            task_keys["password"] = play_context.password
        connection.set_options(task_keys=task_keys, var_options=connection._resolve_option_variables(variables, templar))
        self._set_options(connection._shell, "shell", variables, templar, task_keys)
        if connection.become is not None:
            if play_context.become_pass:
                task_keys["become_pass"] = play_context.become_pass
            self._set_options(connection.become, "become", variables, templar, task_keys)
        self._connection = connection
        self._variables = variables
        # An action object bound to this host's connection: Ansible's own command wrapping (become, sh -c).
        self._action = loader.action_loader.get("ansible.builtin.raw", task=task, connection=connection,
                                                play_context=play_context, loader=action._loader, templar=templar,
                                                shared_loader_obj=loader)

    @staticmethod
    def _set_options(plugin, plugin_type, variables, templar, task_keys):
        options = {}
        for name in C.config.get_plugin_vars(plugin_type, plugin._load_name):
            if name in variables:
                options[name] = templar.template(variables[name])
        plugin.set_options(task_keys=task_keys, var_options=options)

    def run(self, script, in_data=None):
        """Run ``script`` with /bin/sh on the host; {rc, stdout, stderr}, or rc None and the connection error."""
        try:
            return run_sh(self._action, script, in_data)
        except AnsibleConnectionFailure as exc:  # down, refused, auth failure ...: this host only
            return dict(rc=None, stdout="", stderr="", unreachable=True, msg=to_native(exc))

    def execute_module(self, name, args):
        """Run module ``name`` with ``args`` on the host, as a task there would (used for the PKI host)."""
        try:
            return self._action._execute_module(module_name=name, module_args=args, task_vars=self._variables)
        except AnsibleConnectionFailure as exc:
            return dict(failed=True, unreachable=True, msg=to_native(exc))

    def close(self):
        try:
            self._connection.close()
        except Exception:  # closing is best effort; ControlPersist masters stay for the next task
            pass


# Connections are made one at a time, under this lock: plugin loading is not thread-safe (the activation
# makes connections from several threads, one per system reloading).
CONNECT_LOCK = threading.Lock()


def host_shell(action, host, task_vars):
    """A ``HostShell`` made under ``CONNECT_LOCK``: safe from any thread."""
    with CONNECT_LOCK:
        return HostShell(action, host, task_vars)


def run_on_hosts(action, task_vars, hosts, work):
    """``work(shell)`` for each host, in parallel; {host: work's result}. Exceptions become failures.

    Each thread makes its host's shell itself (under ``CONNECT_LOCK``, one at a time): the variables and
    plugin settings of a host take tens of milliseconds at a thousand hosts, so they are made while the
    earlier hosts' SSH round trips run, not all before the first one starts."""

    def one(host):
        try:
            shell = host_shell(action, host, task_vars)
        except Exception as exc:  # a bad connection setting for one host must not hide the others
            return dict(changed=False, unreachable=True, msg="cannot connect to %s: %s" % (host, to_native(exc)))
        try:
            return work(shell)
        except Exception as exc:  # one node's surprise is that node's failure, not the fleet's
            return dict(failed=True, changed=False, msg="%s: %s: %s" % (shell.host, type(exc).__name__,
                                                                        to_native(exc)))
        finally:
            shell.close()

    hosts = list(hosts)
    results = {}
    if hosts:
        with concurrent.futures.ThreadPoolExecutor(max_workers=thread_count(hosts)) as pool:
            for host, result in zip(hosts, pool.map(one, hosts)):
                results[host] = result
    return results
